package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
)

// run executes backupctl with args and returns what it printed on stdout.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// unsetenv unsets k for the test and restores it afterwards.
func unsetenv(t *testing.T, k string) {
	t.Helper()
	t.Setenv(k, "")
	require.NoError(t, os.Unsetenv(k))
}

func TestInitBackupSnapshots(t *testing.T) {
	dir := t.TempDir()
	store := "file://" + filepath.ToSlash(filepath.Join(dir, "store"))
	src := filepath.Join(dir, "src")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "m1"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "m1", "a.txt"), []byte("alpha"), 0o644))
	t.Setenv("MY_PW", "correct horse")
	unsetenv(t, "STEWARD_PASSPHRASE")

	out, err := run(t, "--store", store, "init", "--tenant", "acme", "--encrypt", "--password-env", "MY_PW")
	require.NoError(t, err)
	require.Equal(t, "created encrypted repository of \"acme\"\n", out)

	out, err = run(t, "--store", store, "backup", "--tenant", "acme", "--source", src, "--encrypt", "--password-env", "MY_PW", "--json")
	require.NoError(t, err)
	var snap backup.Snapshot
	require.NoError(t, json.Unmarshal([]byte(out), &snap), "backup --json printed %q", out)
	require.NotEmpty(t, snap.ID)
	require.True(t, snap.Metadata.Encrypted, "the snapshot of a scope made by init --encrypt is not encrypted")

	for _, cmd := range []string{"snapshots", "catalog"} {
		out, err = run(t, "--store", store, cmd, "--tenant", "acme", "--json", "--password-env", "MY_PW")
		require.NoError(t, err, cmd)
		var cat []backup.Snapshot
		require.NoError(t, json.Unmarshal([]byte(out), &cat), "%s --json printed %q", cmd, out)
		require.Len(t, cat, 1, "%s --json: got %d snapshots, want 1", cmd, len(cat))
		require.Equal(t, snap.ID, cat[0].ID)
	}
	out, err = run(t, "--store", store, "snapshots", "--tenant", "acme", "--password-env", "MY_PW")
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(out, "\n"), "snapshots printed %q, want one line", out)
	require.True(t, strings.HasPrefix(out, snap.ID), "snapshots printed %q, want the line of %s", out, snap.ID)

	// The passphrase really is the one read from MY_PW.
	t.Setenv("OTHER_PW", "wrong")
	_, err = run(t, "--store", store, "snapshots", "--tenant", "acme", "--password-env", "OTHER_PW")
	require.ErrorIs(t, err, backup.ErrWrongKey)
	_, err = run(t, "--store", store, "snapshots", "--tenant", "acme")
	require.ErrorIs(t, err, backup.ErrWrongKey)
	require.ErrorContains(t, err, "STEWARD_PASSPHRASE is empty or unset", "reading an encrypted scope without a passphrase does not name the variable")

	// A second init changes nothing and says why.
	for _, args := range [][]string{
		{"init", "--tenant", "acme"},
		{"init", "--tenant", "acme", "--encrypt", "--password-env", "MY_PW"},
	} {
		_, err = run(t, append([]string{"--store", store}, args...)...)
		require.ErrorIs(t, err, backup.ErrExists, "%v", args)
		require.NotContains(t, err.Error(), "\n")
	}
	out, err = run(t, "--store", store, "snapshots", "--tenant", "acme", "--json", "--password-env", "MY_PW")
	require.NoError(t, err)
	var cat []backup.Snapshot
	require.NoError(t, json.Unmarshal([]byte(out), &cat))
	require.Len(t, cat, 1)
	require.Equal(t, snap.ID, cat[0].ID, "a refused init changed the scope")
}

func TestEncryptWithoutPassphraseFailsBeforeTheStore(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "m1"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "m1", "a.txt"), []byte("alpha"), 0o644))
	unsetenv(t, "STEWARD_PASSPHRASE")
	unsetenv(t, "NO_SUCH_PW")
	t.Setenv("EMPTY_PW", "")

	for _, tc := range []struct {
		name string
		args []string
		want string // in the error
	}{
		{"backup, named variable unset", []string{"backup", "--tenant", "acme", "--source", src, "--encrypt", "--password-env", "NO_SUCH_PW"}, "NO_SUCH_PW"},
		{"backup, named variable empty", []string{"backup", "--tenant", "acme", "--source", src, "--encrypt", "--password-env", "EMPTY_PW"}, "EMPTY_PW"},
		{"backup, default variable unset", []string{"backup", "--tenant", "acme", "--source", src, "--encrypt"}, "STEWARD_PASSPHRASE"},
		{"init, named variable unset", []string{"init", "--tenant", "acme", "--encrypt", "--password-env", "NO_SUCH_PW"}, "NO_SUCH_PW"},
		{"init, no variable named", []string{"init", "--tenant", "acme", "--encrypt", "--password-env", ""}, "--password-env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storeDir := filepath.Join(t.TempDir(), "store")
			_, err := run(t, append([]string{"--store", "file://" + filepath.ToSlash(storeDir)}, tc.args...)...)
			require.Error(t, err)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "\n", "the error is not one line")
			_, statErr := os.Stat(storeDir)
			require.ErrorIs(t, statErr, os.ErrNotExist, "the store was touched before the passphrase was checked")
		})
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			if sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(newRoot(), nil)
	paths = append(paths, []string{"snapshots"})
	for _, want := range []string{"init", "backup", "catalog", "snapshots"} {
		require.Contains(t, paths, []string{want})
	}
	for _, p := range paths {
		t.Run(strings.Join(append([]string{"backupctl"}, p...), " "), func(t *testing.T) {
			out, err := run(t, append(p, "--help")...)
			require.NoError(t, err)
			require.Contains(t, out, "Usage:")
			require.Contains(t, out, "--password-env", "the persistent --password-env flag is not in the help")
		})
	}
}

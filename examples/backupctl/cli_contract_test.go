package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/storage"
)

// fixture is a store with tenant acme holding one backup of src.
type fixture struct {
	dir, storeDir, store, src string
	snap                      backup.Snapshot
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	unsetenv(t, "STEWARD_PASSPHRASE")
	unsetenv(t, "STEWARD_SINGLE_WRITER")
	dir := t.TempDir()
	f := &fixture{dir: dir, storeDir: filepath.Join(dir, "store"), src: filepath.Join(dir, "src")}
	f.store = "file://" + filepath.ToSlash(f.storeDir)
	require.NoError(t, os.MkdirAll(filepath.Join(f.src, "m1"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(f.src, "m1", "a.txt"), []byte("alpha"), 0o644))
	f.snap = f.backup(t)
	return f
}

func (f *fixture) backup(t *testing.T) backup.Snapshot {
	t.Helper()
	out, err := run(t, "--store", f.store, "backup", "--tenant", "acme", "--source", f.src, "--json")
	require.NoError(t, err)
	var s backup.Snapshot
	require.NoError(t, json.Unmarshal([]byte(out), &s), "backup --json printed %q", out)
	return s
}

// tree lists every file under dir with its size and content, to compare
// a store before and after a command.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		m[p] = string(b)
		return err
	}))
	return m
}

// Item 1 and 5: the command tree is exactly the commands that exist, each
// in its own file, and help lists nothing else (there is no `flags check`).
func TestCommandTree(t *testing.T) {
	var got []string
	var walk func(c *cobra.Command, path string)
	walk = func(c *cobra.Command, path string) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			p := strings.TrimSpace(path + " " + sub.Name())
			got = append(got, p)
			walk(sub, p)
		}
	}
	walk(newRoot(), "")
	sort.Strings(got)
	want := []string{"audit", "audit export", "audit verify", "backup", "catalog", "check", "dashboard", "drill", "files", "flags", "flags delete",
		"flags get", "flags list", "flags set", "fleet", "fleet run", "fleet status", "forget", "health", "init", "key", "key change", "key destroy", "policy", "prune", "release", "release create",
		"release deploy", "release list", "release resign", "release rollback", "repair", "repair index", "restore", "snapshot", "tenants", "unlock", "validate"}
	require.Equal(t, want, got)
	for _, top := range []string{"backup", "restore", "snapshot", "files", "forget", "check", "validate", "drill", "dashboard", "flags", "release", "audit", "key", "prune", "tenants", "init", "policy", "repair", "unlock", "health", "fleet"} {
		require.FileExists(t, "cmd_"+top+".go", "command %s has no file of its own", top)
	}
	out, err := run(t, "flags", "--help")
	require.NoError(t, err)
	require.NotContains(t, out, "check", "flags help lists a check command: %s", out)
}

// Item 2: read-only commands against a missing store fail and create
// nothing; against a store, they change nothing; an unknown tenant is an
// error naming the tenants there.
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	f := newFixture(t)
	readOnly := [][]string{
		{"snapshots", "--tenant", "acme"}, {"snapshot", "--tenant", "acme"}, {"files", "--tenant", "acme"}, {"tenants"},
		{"check", "--tenant", "acme"}, {"validate", "--tenant", "acme"}, {"drill"}, {"audit", "export"}, {"audit", "verify"},
		{"dashboard"}, {"flags", "get", "x"}, {"flags", "list"}, {"release", "list"}, {"policy", "--tenant", "acme"},
	}
	missing := filepath.Join(f.dir, "mistyped")
	for _, args := range readOnly {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, err := run(t, append([]string{"--store", "file://" + filepath.ToSlash(missing)}, args...)...)
			require.ErrorIs(t, err, storage.ErrNotFound, "%v against a missing store", args)
			require.ErrorContains(t, err, missing, "the error does not name the directory")
			require.NoDirExists(t, missing, "%v created the store", args)

			before := tree(t, f.storeDir)
			_, _ = run(t, append([]string{"--store", f.store}, args...)...)
			require.Equal(t, before, tree(t, f.storeDir), "%v changed the store", args)
		})
	}
	for _, cmd := range []string{"snapshots", "check", "files", "snapshot", "validate"} {
		out, err := run(t, "--store", f.store, cmd, "--tenant", "ghost", "--json")
		require.ErrorIs(t, err, backup.ErrNotFound, "%s --tenant ghost", cmd)
		require.ErrorContains(t, err, `"ghost"`)
		require.ErrorContains(t, err, "acme", "the error does not name the tenants there")
		require.Empty(t, out, "%s --tenant ghost printed %q", cmd, out)
	}
}

// Item 3: against a store that ignores conditional create, writing
// commands fail naming --single-writer, and succeed with it or with
// STEWARD_SINGLE_WRITER=1 (the flag reaches the audit, backup, flags and
// release configs). --allow-plaintext reaches backup.Config.AllowPlaintext.
func TestSingleWriterAndAllowPlaintext(t *testing.T) {
	f := newFixture(t)
	orig := wrapStore
	wrapStore = func(s storage.Store) storage.Store { return faultstore.IgnoringConditional(s) }
	t.Cleanup(func() { wrapStore = orig })
	release := filepath.Join(f.dir, "rel")
	require.NoError(t, os.MkdirAll(release, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(release, "app.txt"), []byte("v1"), 0o644))
	cmds := [][]string{
		{"backup", "--tenant", "acme", "--source", f.src},
		{"flags", "set", "beta", "--percentage", "10"},
		{"release", "create", "--version", "1.0.0", "--dir", release},
		{"prune", "--tenant", "acme"},
	}
	for _, args := range cmds {
		_, err := run(t, append([]string{"--store", f.store}, args...)...)
		require.ErrorIs(t, err, storage.ErrNoConditionalCreate, "%v", args)
		require.ErrorContains(t, err, "--single-writer", "%v: the error does not name the flag", args)
		require.NotContains(t, err.Error(), "set SingleWriter", "%v: the error names the Go field", args)
	}
	for i, args := range cmds {
		if i%2 == 0 {
			args = append([]string{"--single-writer"}, args...)
			unsetenv(t, "STEWARD_SINGLE_WRITER")
		} else {
			t.Setenv("STEWARD_SINGLE_WRITER", "1")
		}
		_, err := run(t, append([]string{"--store", f.store}, args...)...)
		require.NoError(t, err, "%v", args)
	}

	t.Setenv("STEWARD_PASSPHRASE", "pw")
	_, err := run(t, "--store", f.store, "snapshots", "--tenant", "acme")
	require.ErrorIs(t, err, backup.ErrPlaintextScope)
	require.ErrorContains(t, err, "--allow-plaintext")
	require.NotContains(t, err.Error(), "Config.AllowPlaintext")
	_, err = run(t, "--store", f.store, "--allow-plaintext", "snapshots", "--tenant", "acme")
	require.NoError(t, err)
}

// Item 4: --snapshot (and its alias --id) take a unique prefix; an
// ambiguous or unknown one is an error naming the candidates or the
// tenant; forget says what it forgot.
func TestSnapshotPrefix(t *testing.T) {
	f := newFixture(t)
	second := f.backup(t)
	ids := []string{f.snap.ID, second.ID}
	n := 0
	for n < len(ids[0]) && n < len(ids[1]) && ids[0][n] == ids[1][n] {
		n++
	}
	unique := ids[0][:n+1]
	for _, flag := range []string{"--snapshot", "--id"} {
		out, err := run(t, "--store", f.store, "snapshot", "--tenant", "acme", flag, unique, "--json")
		require.NoError(t, err, "%s %s", flag, unique)
		var s backup.Snapshot
		require.NoError(t, json.Unmarshal([]byte(out), &s))
		require.Equal(t, f.snap.ID, s.ID, "prefix %s resolved to %s", unique, s.ID)
	}
	out, err := run(t, "--store", f.store, "files", "--tenant", "acme", "--snapshot", unique)
	require.NoError(t, err)
	require.Contains(t, out, "m1/a.txt")
	if n > 0 {
		_, err = run(t, "--store", f.store, "snapshot", "--tenant", "acme", "--snapshot", ids[0][:n])
		require.ErrorContains(t, err, "ambiguous")
		require.ErrorContains(t, err, ids[0])
		require.ErrorContains(t, err, ids[1])
	}
	_, err = run(t, "--store", f.store, "restore", "--tenant", "acme", "--snapshot", "zzzz", "--target", filepath.Join(f.dir, "out"))
	require.ErrorIs(t, err, backup.ErrNotFound)
	require.ErrorContains(t, err, `tenant "acme" has no snapshot "zzzz"`)

	out, err = run(t, "--store", f.store, "forget", "--tenant", "acme", "--snapshot", unique, "--dry-run")
	require.NoError(t, err)
	require.Equal(t, "would forget 1 snapshots of \"acme\": "+f.snap.ID+" (prune deletes their data)\n", out)
	out, err = run(t, "--store", f.store, "forget", "--tenant", "acme", "--snapshot", unique, "--json")
	require.NoError(t, err)
	var res struct {
		Tenant    string   `json:"tenant"`
		DryRun    bool     `json:"dry_run"`
		Forgotten []string `json:"forgotten"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), "forget --json printed %q", out)
	require.Equal(t, []string{f.snap.ID}, res.Forgotten)
	out, err = run(t, "--store", f.store, "snapshots", "--tenant", "acme")
	require.NoError(t, err)
	require.NotContains(t, out, f.snap.ID, "the forgotten snapshot is still listed")
}

var snakeCase = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`)

// keys fails on any key of v (decoded JSON) that is not snake_case.
func requireSnakeCase(t *testing.T, what string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			require.Regexp(t, snakeCase, k, "%s: key %q is not snake_case", what, k)
			requireSnakeCase(t, what, e)
		}
	case []any:
		for _, e := range v {
			requireSnakeCase(t, what, e)
		}
	}
}

// Item 5: every printing command honours --json with snake_case keys and
// [] for empty lists; dashboard prints text without it; an error is
// printed once (by main), never also as a log line on stderr.
func TestJSONOutput(t *testing.T) {
	f := newFixture(t)
	_, err := run(t, "--store", f.store, "flags", "set", "beta", "--percentage", "10")
	require.NoError(t, err)
	for _, tc := range []struct {
		args  []string
		empty string // a list field (or "." for the value) that must print []
	}{
		{[]string{"snapshots", "--tenant", "acme"}, ""},
		{[]string{"snapshot", "--tenant", "acme"}, ""},
		{[]string{"files", "--tenant", "acme"}, ""},
		{[]string{"tenants"}, ""},
		{[]string{"check", "--tenant", "acme"}, "problems"},
		{[]string{"prune", "--tenant", "acme", "--dry-run"}, ""},
		{[]string{"validate", "--tenant", "acme"}, ""},
		{[]string{"drill"}, ""},
		{[]string{"flags", "get", "beta"}, ""},
		{[]string{"flags", "get", "beta", "acme"}, ""},
		{[]string{"flags", "list"}, ""},
		{[]string{"release", "list"}, "releases"},
		{[]string{"audit", "verify"}, ""},
		{[]string{"dashboard"}, ""},
		{[]string{"forget", "--tenant", "acme", "--dry-run"}, ""},
	} {
		out, err := run(t, append([]string{"--store", f.store, "--json"}, tc.args...)...)
		require.NoError(t, err, "%v", tc.args)
		var v any
		require.NoError(t, json.Unmarshal([]byte(out), &v), "%v --json printed %q", tc.args, out)
		requireSnakeCase(t, strings.Join(tc.args, " "), v)
		if tc.empty != "" {
			require.Contains(t, out, `"`+tc.empty+`": []`, "%v: an empty list is not []", tc.args)
		}
	}
	empty := "file://" + filepath.ToSlash(filepath.Join(f.dir, "empty"))
	_, err = run(t, "--store", empty, "init", "--general")
	require.NoError(t, err)
	for _, args := range [][]string{{"tenants"}, {"flags", "list"}} {
		out, err := run(t, append([]string{"--store", empty, "--json"}, args...)...)
		require.NoError(t, err)
		require.Equal(t, "[]\n", out, "%v on an empty store", args)
	}
	out, err := run(t, "--store", f.store, "dashboard")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(out, "as of "), "dashboard without --json printed %q", out)

	// A failure the library audits (a second init) is returned, not also
	// logged on stderr.
	var stdout, stderr bytes.Buffer
	err = runTo(t, &stdout, &stderr, "--store", f.store, "init", "--tenant", "acme")
	require.ErrorIs(t, err, backup.ErrExists)
	require.Empty(t, stderr.String(), "the error was also printed on stderr")
}

// Item 6: no INFO line on every command (the engine's store capabilities
// are logged at debug level).
func TestNoInfoLine(t *testing.T) {
	var logged bytes.Buffer
	orig := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelInfo})))
	t.Cleanup(func() { slog.SetDefault(orig) })
	f := newFixture(t)
	_, err := run(t, "--store", f.store, "prune", "--tenant", "acme")
	require.NoError(t, err)
	require.Empty(t, logged.String(), "a command logged at info level")
}

// Item 7: errors name CLI flags: release create without --dir, and a
// corrupt snapshot forgotten without --force.
func TestErrorsNameFlags(t *testing.T) {
	f := newFixture(t)
	_, err := run(t, "--store", f.store, "release", "create", "--version", "1.0.0")
	require.ErrorContains(t, err, "--dir")
	require.NotContains(t, err.Error(), "DirFS")

	manifest := filepath.Join(f.storeDir, "tenants", "acme", "snapshots", f.snap.ID)
	b, err := os.ReadFile(manifest)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	require.NoError(t, os.WriteFile(manifest, b, 0o644))
	_, err = run(t, "--store", f.store, "forget", "--tenant", "acme", "--snapshot", f.snap.ID)
	require.ErrorIs(t, err, backup.ErrCorrupt)
	require.ErrorContains(t, err, "with --force")
	require.NotContains(t, err.Error(), "with Force")
}

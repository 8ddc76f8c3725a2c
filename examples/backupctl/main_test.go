package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
)

// run executes backupctl with args and returns what it printed on stdout.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runTo(t, &out, &errOut, args...)
	return out.String(), err
}

// runTo executes backupctl with args, its stdout going to out and its
// stderr to errOut.
func runTo(t *testing.T, out, errOut io.Writer, args ...string) error {
	t.Helper()
	root := newRoot()
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetArgs(args)
	return root.ExecuteContext(context.Background())
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

// drawEveryUpdate makes bars draw every update for the test, so that a
// command too quick for redrawEvery still draws.
func drawEveryUpdate(t *testing.T) {
	t.Helper()
	orig := redrawEvery
	redrawEvery = 0
	t.Cleanup(func() { redrawEvery = orig })
}

// forceTerminal makes every writer count as a terminal for the test, and
// bars draw every update.
func forceTerminal(t *testing.T) {
	t.Helper()
	drawEveryUpdate(t)
	orig := isTerminal
	isTerminal = func(io.Writer) bool { return true }
	t.Cleanup(func() { isTerminal = orig })
}

// clearing is how a bar's line is erased: back to the margin, spaces over
// the bar, back to the margin.
var clearing = regexp.MustCompile("\r +\r")

// afterBar fails unless output has a bar drawn and then its line cleared,
// and returns what was written after the last clearing.
func afterBar(t *testing.T, output string) string {
	t.Helper()
	all := clearing.FindAllStringIndex(output, -1)
	require.NotEmpty(t, all, "output %q: no bar's line was cleared", output)
	last := all[len(all)-1]
	require.Contains(t, output[:last[0]], "%", "output %q: no bar was drawn before the clearing", output)
	return output[last[1]:]
}

func TestProgressBarOnlyOnATerminal(t *testing.T) {
	dir := t.TempDir()
	store := "file://" + filepath.ToSlash(filepath.Join(dir, "store"))
	src := filepath.Join(dir, "src")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "m1"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(src, "m2"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "m1", "a.txt"), bytes.Repeat([]byte("a"), 1500), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "m2", "b.txt"), bytes.Repeat([]byte("b"), 2500), 0o644))
	const total = "4.0 kB" // 4000 bytes, as the bar writes them
	unsetenv(t, "STEWARD_PASSPHRASE")
	_, err := run(t, "--store", store, "backup", "--tenant", "acme", "--source", src, "--full")
	require.NoError(t, err)

	for _, tc := range []struct {
		name     string
		terminal bool
		flags    []string
		bar      bool
	}{
		{"not a terminal", false, nil, false},
		{"terminal", true, nil, true},
		{"terminal, --json", true, []string{"--json"}, false},
		{"terminal, --no-progress", true, []string{"--no-progress"}, false},
	} {
		for _, c := range []struct {
			name   string
			args   func() []string // a restore goes into a new directory each time
			result string          // how the text result line starts
		}{
			{"backup", func() []string { return []string{"backup", "--tenant", "acme", "--source", src, "--full"} }, "snapshot "},
			{"restore", func() []string {
				return []string{"restore", "--tenant", "acme", "--target", filepath.Join(t.TempDir(), "out")}
			}, "restored "},
		} {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				drawEveryUpdate(t) // quiet for no other reason than the case's
				if tc.terminal {
					forceTerminal(t)
				}
				args := func() []string { return append(append([]string{"--store", store}, c.args()...), tc.flags...) }
				var out, errOut bytes.Buffer
				require.NoError(t, runTo(t, &out, &errOut, args()...))
				require.NotEmpty(t, out.String())
				if !tc.bar {
					require.Empty(t, errOut.String(), "%s drew on stderr, want nothing", c.name)
					return
				}
				require.Contains(t, errOut.String(), c.name, "stderr %q does not name the command", errOut.String())
				require.Contains(t, errOut.String(), total, "stderr %q does not show the byte total", errOut.String())

				// stdout and stderr on one terminal: the bar is gone before the result.
				var both bytes.Buffer
				require.NoError(t, runTo(t, &both, &both, args()...))
				rest := afterBar(t, both.String())
				require.True(t, strings.HasPrefix(rest, c.result), "after the bar came %q, want the result line %q...", rest, c.result)
				require.Equal(t, 1, strings.Count(rest, "\n"), "after the bar came %q, want only the result line", rest)
			})
		}
	}
}

func TestProgressBarClearedOnError(t *testing.T) {
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	store := "file://" + filepath.ToSlash(storeDir)
	src := filepath.Join(dir, "src")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "m1"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(src, "m2"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "m1", "a.txt"), bytes.Repeat([]byte("a"), 1500), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "m2", "b.txt"), bytes.Repeat([]byte("b"), 2500), 0o644))
	unsetenv(t, "STEWARD_PASSPHRASE")
	_, err := run(t, "--store", store, "backup", "--tenant", "acme", "--source", src, "--no-compress")
	require.NoError(t, err)

	// Corrupt m2/b.txt's chunk (stored in clear: unencrypted, uncompressed),
	// so a restore of one file at a time draws m1/a.txt and fails on it.
	packs, err := filepath.Glob(filepath.Join(storeDir, "tenants", "acme", "packs", "*", "*"))
	require.NoError(t, err)
	corrupted := false
	for _, p := range packs {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		if i := bytes.Index(b, bytes.Repeat([]byte("b"), 2500)); i >= 0 {
			b[i+1000] = 'c'
			require.NoError(t, os.WriteFile(p, b, 0o644))
			corrupted = true
		}
	}
	require.True(t, corrupted, "no pack among %v holds m2/b.txt's content in clear", packs)

	forceTerminal(t)
	var out, errOut bytes.Buffer
	err = runTo(t, &out, &errOut, "--store", store, "restore", "--tenant", "acme", "--target", filepath.Join(dir, "out"), "--parallel", "1")
	require.ErrorIs(t, err, backup.ErrCorrupt)
	require.Contains(t, errOut.String(), "1.5/4.0 kB", "stderr %q: the bar did not show m1/a.txt restored", errOut.String())
	require.Empty(t, afterBar(t, errOut.String()), "stderr %q: the short bar was not cleared last", errOut.String())
	require.NotContains(t, errOut.String(), "100%", "stderr %q: the bar of a failed restore was drawn full", errOut.String())
}

func TestProgressAdapter(t *testing.T) {
	// Drawn at most every redrawEvery: the sleeps let each update draw. A
	// longer interval than the default keeps "an update right after a
	// drawing is not drawn" true on a loaded machine.
	defer func(d time.Duration) { redrawEvery = d }(redrawEvery)
	redrawEvery = 400 * time.Millisecond
	var buf bytes.Buffer
	p := newProgress(&buf, "backup")
	f := p.callback()
	require.NotNil(t, f)
	time.Sleep(redrawEvery + 50*time.Millisecond)
	f(backup.Progress{FilesDone: 1, FilesTotal: 4, BytesDone: 1_000_000, BytesTotal: 4_000_000, Path: "m1/a"})
	require.Contains(t, buf.String(), "backup", "the bar %q does not name the command", buf.String())
	require.Contains(t, buf.String(), "/4.0 MB", "the bar %q does not show the byte total", buf.String())
	time.Sleep(redrawEvery + 50*time.Millisecond)
	f(backup.Progress{FilesDone: 2, FilesTotal: 4, BytesDone: 2_500_000, BytesTotal: 4_000_000, Path: "m1/b"})
	drawn := buf.String()
	require.Contains(t, drawn, "2.5/4.0 MB", "the bar %q does not show the bytes done out of the total", drawn)
	require.Contains(t, drawn, "MB/s", "the bar %q does not show the throughput", drawn)
	require.NotContains(t, drawn, "\n", "the bar %q takes more than one line", drawn)
	// An update right after a drawing is not drawn.
	f(backup.Progress{FilesDone: 3, FilesTotal: 4, BytesDone: 3_000_000, BytesTotal: 4_000_000, Path: "m1/c"})
	require.Equal(t, drawn, buf.String(), "an update within %s of the last drawing was drawn", redrawEvery)

	// A short bar (the command failed) is cleared, not drawn full.
	p.finish()
	cleared := strings.TrimPrefix(buf.String(), drawn)
	require.NotEmpty(t, cleared, "finish wrote nothing")
	require.Empty(t, strings.Trim(cleared, " \r"), "finish wrote %q, want the line cleared", cleared)
	require.NotContains(t, cleared, "4.0 MB")

	// A file that grew while it was read raises the total.
	var grown bytes.Buffer
	g := newProgress(&grown, "backup")
	g.update(backup.Progress{BytesDone: 100, BytesTotal: 1000})
	time.Sleep(redrawEvery + 50*time.Millisecond)
	g.update(backup.Progress{BytesDone: 2000, BytesTotal: 1000})
	require.Contains(t, grown.String(), "2.0 kB", "the bar %q does not grow with the bytes done", grown.String())
	g.finish()

	// Nothing to draw: zero bytes, or a quiet command's nil progress.
	var empty bytes.Buffer
	z := newProgress(&empty, "restore")
	z.update(backup.Progress{FilesDone: 1, FilesTotal: 1})
	z.finish()
	require.Empty(t, empty.String())
	var quiet *progress
	require.Nil(t, quiet.callback(), "a quiet command sets a Progress callback (the engine would count totals for nothing)")
	quiet.finish()
}

// A line logged on stderr (an audit failure) clears the bar first; the next
// update draws it again.
func TestStderrLogClearsTheBar(t *testing.T) {
	var logged bytes.Buffer
	a := &app{}
	a.bar = newProgress(&logged, "restore")
	a.bar.update(backup.Progress{BytesDone: 100, BytesTotal: 1000})
	time.Sleep(redrawEvery + 50*time.Millisecond)
	a.bar.update(backup.Progress{BytesDone: 200, BytesTotal: 1000})
	_, err := stderrLog{a}.Write(nil)
	require.NoError(t, err)
	require.Empty(t, afterBar(t, logged.String()), "stderr %q: the bar was not cleared before the log line", logged.String())
	time.Sleep(redrawEvery + 50*time.Millisecond)
	a.bar.update(backup.Progress{BytesDone: 300, BytesTotal: 1000})
	require.Contains(t, afterBar(t, logged.String()), "300 B/1.0 kB", "the bar was not drawn again after the log line")
	a.bar.finish()
}

// TestKDFMemory checks that --kdf-memory-mib reaches the stored key's
// argon2id parameters, and that values outside the bounds are refused
// before the store is touched.
func TestKDFMemory(t *testing.T) {
	dir := t.TempDir()
	store := "file://" + filepath.ToSlash(filepath.Join(dir, "store"))
	t.Setenv("MY_PW", "correct horse")
	for _, bad := range []string{"4", "512"} {
		_, err := run(t, "--store", store, "--kdf-memory-mib", bad, "init", "--tenant", "acme", "--encrypt", "--password-env", "MY_PW")
		require.ErrorContains(t, err, "--kdf-memory-mib "+bad)
		require.NoDirExists(t, filepath.Join(dir, "store"))
	}
	for tenant, c := range map[string]struct{ flag, mib, passes int }{"small": {16, 16, 12}, "large": {64, 64, 3}, "default": {0, 32, 6}} {
		args := []string{"--store", store, "init", "--tenant", tenant, "--encrypt", "--password-env", "MY_PW"}
		if c.flag != 0 {
			args = append([]string{"--kdf-memory-mib", strconv.Itoa(c.flag)}, args...)
		}
		_, err := run(t, args...)
		require.NoError(t, err)
		raw, err := os.ReadFile(filepath.Join(dir, "store", "tenants", tenant, "key"))
		require.NoError(t, err)
		var key struct{ Wrapped []byte }
		require.NoError(t, json.Unmarshal(raw, &key))
		var params struct{ M, T uint32 }
		require.NoError(t, json.Unmarshal(key.Wrapped, &params))
		require.Equal(t, uint32(c.mib)<<10, params.M, tenant)
		require.Equal(t, uint32(c.passes), params.T, "%s: passes chosen so memory × passes reaches 64 MiB × 3", tenant)
		// Opening the scope later does not need the flag: the parameters
		// are stored beside the key.
		out, err := run(t, "--store", store, "snapshots", "--tenant", tenant, "--password-env", "MY_PW")
		require.NoError(t, err)
		require.Empty(t, out)
	}
}

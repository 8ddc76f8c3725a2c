//go:build unix

package backup_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// entriesOf lists a snapshot's entries by path.
func entriesOf(t *testing.T, e *backup.Engine, tenant, id string) map[string]backup.File {
	t.Helper()
	out := map[string]backup.File{}
	for f, err := range e.Files(master(), tenant, id) {
		require.NoError(t, err)
		out[f.Path] = f
	}
	return out
}

// TestBackupStoresLinksNamesAndCountsSpecials: a DirSource tree with
// links of every kind, an empty directory, a name that is not UTF-8 and a
// named pipe. The snapshot holds each link with its target verbatim (none
// followed: nothing of the outside file is stored), the empty directory
// with its mode and mtime, the odd name byte for byte; the pipe is not
// stored but counted. A later incremental backup stores a link's new
// target.
func TestBackupStoresLinksNamesAndCountsSpecials(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	writeTree(t, dir, map[string][]byte{"m/file.txt": []byte("hello")})
	writeTree(t, outside, map[string][]byte{"secret.txt": marker})
	odd := "m/caf\xe9.txt" // Latin-1: not valid UTF-8
	require.NoError(t, os.WriteFile(filepath.Join(dir, odd), []byte("latin"), 0o600))
	links := map[string]string{
		"m/rel":      "file.txt",
		"m/abs":      filepath.Join(outside, "secret.txt"),
		"m/dangling": "no/such/file",
		"m/out":      "../../" + filepath.Base(outside) + "/secret.txt",
		"m/oddlink":  "caf\xe9.txt",
	}
	for p, target := range links {
		require.NoError(t, os.Symlink(target, filepath.Join(dir, p)))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "m", "empty"), 0o750))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "m", "pipe"), 0o644))

	store := storage.NewMemory()
	e, err := backup.New(store, nil)
	require.NoError(t, err)
	snap, err := e.Backup(master(), "acme", backup.DirSource(dir), nil)
	require.NoError(t, err)
	require.EqualValues(t, 1, snap.Metadata.SpecialSkipped, "the pipe is counted")
	require.EqualValues(t, 2, snap.Metadata.FileCount, "regular files only")

	got := entriesOf(t, e, "acme", snap.ID)
	for p, target := range links {
		f, ok := got[p]
		require.True(t, ok, "link %q stored", p)
		require.NotZero(t, f.Mode&fs.ModeSymlink, "%q: got mode %v, want a link", p, f.Mode)
		require.Equal(t, target, f.LinkTarget, "%q keeps its target verbatim", p)
		require.Zero(t, f.Size)
		require.Empty(t, f.Chunks, "%q: nothing read through the link", p)
	}
	require.NotContains(t, got, "m/pipe", "the pipe is not stored")
	empty, ok := got["m/empty"]
	require.True(t, ok, "the empty directory is stored")
	require.True(t, empty.Mode.IsDir())
	require.Equal(t, fs.FileMode(0o750), empty.Mode.Perm())
	fi, err := os.Lstat(filepath.Join(dir, "m", "empty"))
	require.NoError(t, err)
	require.True(t, fi.ModTime().Equal(empty.ModTime), "directory mtime: got %v, want %v", empty.ModTime, fi.ModTime())
	require.Contains(t, got, odd, "the non-UTF-8 name is stored byte for byte")
	require.Equal(t, "latin", string(readBack(t, e, "acme", snap.ID)[odd]))
	_, found := holdsMarker(t, store)
	require.False(t, found)

	// Change a link's target: the incremental backup stores the new one.
	require.NoError(t, os.Remove(filepath.Join(dir, "m", "rel")))
	require.NoError(t, os.Symlink("empty", filepath.Join(dir, "m", "rel")))
	snap2, err := e.Backup(master(), "acme", backup.DirSource(dir), &backup.Options{Type: backup.Incremental})
	require.NoError(t, err)
	require.Equal(t, backup.Incremental, snap2.Type)
	require.Equal(t, "empty", entriesOf(t, e, "acme", snap2.ID)["m/rel"].LinkTarget)
	require.Equal(t, "file.txt", entriesOf(t, e, "acme", snap.ID)["m/rel"].LinkTarget, "the first snapshot keeps the old target")
}

// TestFSSourceYieldsLinks: an fs.FS that reads links (fstest.MapFS does)
// gives them with their targets.
func TestFSSourceYieldsLinks(t *testing.T) {
	fsys := fstest.MapFS{
		"m/a":    {Data: []byte("a"), Mode: 0o644},
		"m/link": {Data: []byte("a"), Mode: fs.ModeSymlink | 0o777},
	}
	var got []backup.Entry
	require.NoError(t, backup.FSSource(fsys).Walk(master(), func(e backup.Entry) error {
		got = append(got, e)
		return nil
	}))
	require.Len(t, got, 3)
	require.Equal(t, "m/link", got[2].Path)
	require.Equal(t, "a", got[2].LinkTarget)
	require.Zero(t, got[2].Size)
}

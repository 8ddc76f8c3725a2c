//go:build unix

package restore_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
)

// hardLinkTree writes under dir m/a.txt linked at m/b.txt, m/sub/c.txt
// and n/d.txt (another module), and n/own.txt with one link.
func hardLinkTree(t *testing.T, dir string) {
	t.Helper()
	writeFiles(t, dir, map[string]file{"m/a.txt": {"shared", t0}, "m/sub/x.txt": {"x", t0}, "n/own.txt": {"own", t1}})
	for _, p := range []string{"m/b.txt", "m/sub/c.txt", "n/d.txt"} {
		require.NoError(t, os.Link(filepath.Join(dir, "m", "a.txt"), filepath.Join(dir, filepath.FromSlash(p))))
	}
}

// backUp backs up dir (a DirSource) into a new engine.
func backUp(t *testing.T, dir string) (*backup.Engine, *backup.Snapshot) {
	t.Helper()
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	snap, err := e.Backup(master(), "acme", backup.DirSource(dir), nil)
	require.NoError(t, err)
	return e, snap
}

// fileAt returns the Lstat of root/p and its bytes.
func fileAt(t *testing.T, root, p string) (os.FileInfo, string) {
	t.Helper()
	full := filepath.Join(root, filepath.FromSlash(p))
	fi, err := os.Lstat(full)
	require.NoError(t, err)
	require.True(t, fi.Mode().IsRegular(), "%q: got mode %v, want a regular file", p, fi.Mode())
	b, err := os.ReadFile(full)
	require.NoError(t, err)
	return fi, string(b)
}

func nlink(fi os.FileInfo) uint64 { return uint64(fi.Sys().(*syscall.Stat_t).Nlink) }

// TestHardLinksRoundTrip: a file linked at four paths (three
// directories, two modules) comes back from a full restore as one file
// at the four paths, its bytes and mtime as stored; a restore of both
// modules selectively does too. A file with one link stays one.
func TestHardLinksRoundTrip(t *testing.T) {
	src := t.TempDir()
	hardLinkTree(t, src)
	e, snap := backUp(t, src)
	r := restore.New(e, nil)
	for name, o := range map[string]*restore.Options{
		"full":      {Mode: restore.Full, Validate: true},
		"selective": {Mode: restore.Selective, Modules: []string{"m", "n"}},
	} {
		t.Run(name, func(t *testing.T) {
			dst := t.TempDir()
			rep, err := r.Restore(master(), "acme", snap.ID, restore.DirTarget(dst), o)
			require.NoError(t, err)
			require.Equal(t, 6, rep.FilesRestored, "every path counts as restored")
			first, data := fileAt(t, dst, "m/a.txt")
			require.Equal(t, "shared", data)
			require.True(t, first.ModTime().Equal(t0), "mtime: got %v, want %v", first.ModTime(), t0)
			require.EqualValues(t, 4, nlink(first), "links of m/a.txt")
			for _, p := range []string{"m/b.txt", "m/sub/c.txt", "n/d.txt"} {
				fi, data := fileAt(t, dst, p)
				require.True(t, os.SameFile(first, fi), "%q is a link to m/a.txt, not a copy", p)
				require.Equal(t, "shared", data, "%q", p)
			}
			own, data := fileAt(t, dst, "n/own.txt")
			require.Equal(t, "own", data)
			require.EqualValues(t, 1, nlink(own))
		})
	}
}

// TestHardLinkWithoutItsFirstPathIsACopy: a selective restore of the
// module holding only a later path of a linked file restores a regular
// file with its bytes; so does a merge that leaves the first path in
// place and restores the later one; a restore into a MemoryTarget gives
// every path its bytes.
func TestHardLinkWithoutItsFirstPathIsACopy(t *testing.T) {
	src := t.TempDir()
	hardLinkTree(t, src)
	e, snap := backUp(t, src)
	r := restore.New(e, nil)

	dst := t.TempDir()
	_, err := r.Restore(master(), "acme", snap.ID, restore.DirTarget(dst), &restore.Options{Mode: restore.Selective, Modules: []string{"n"}})
	require.NoError(t, err)
	fi, data := fileAt(t, dst, "n/d.txt")
	require.Equal(t, "shared", data)
	require.EqualValues(t, 1, nlink(fi), "a copy of its own")
	_, err = os.Lstat(filepath.Join(dst, "m"))
	require.ErrorIs(t, err, os.ErrNotExist, "module m is not restored")

	dst = t.TempDir()
	_, err = r.Restore(master(), "acme", snap.ID, restore.DirTarget(dst), nil)
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(dst, "m", "b.txt")))
	_, err = r.Restore(master(), "acme", snap.ID, restore.DirTarget(dst), &restore.Options{Mode: restore.Merge})
	require.NoError(t, err)
	first, _ := fileAt(t, dst, "m/a.txt")
	fi, data = fileAt(t, dst, "m/b.txt")
	require.Equal(t, "shared", data)
	require.False(t, os.SameFile(first, fi), "the first path was left in place: the later one is a copy")

	mem := restore.MemoryTarget()
	_, err = r.Restore(master(), "acme", snap.ID, mem, nil)
	require.NoError(t, err)
	for _, p := range []string{"m/a.txt", "m/b.txt", "m/sub/c.txt", "n/d.txt"} {
		require.Equal(t, "shared", readTarget(t, mem, p), "%q in memory", p)
	}
}

// TestBrokenHardLinkRestoresTwoFiles: after one path of a linked file is
// replaced by a new file, an incremental backup restores it as a file of
// its own, the other paths still linked.
func TestBrokenHardLinkRestoresTwoFiles(t *testing.T) {
	src := t.TempDir()
	hardLinkTree(t, src)
	e, _ := backUp(t, src)
	require.NoError(t, os.Remove(filepath.Join(src, "m", "b.txt")))
	require.NoError(t, os.WriteFile(filepath.Join(src, "m", "b.txt"), []byte("rewritten"), 0o644))
	snap, err := e.Backup(master(), "acme", backup.DirSource(src), &backup.Options{Type: backup.Incremental})
	require.NoError(t, err)
	require.Equal(t, backup.Incremental, snap.Type)

	dst := t.TempDir()
	_, err = restore.New(e, nil).Restore(master(), "acme", snap.ID, restore.DirTarget(dst), &restore.Options{Validate: true})
	require.NoError(t, err)
	first, data := fileAt(t, dst, "m/a.txt")
	require.Equal(t, "shared", data)
	b, data := fileAt(t, dst, "m/b.txt")
	require.Equal(t, "rewritten", data)
	require.False(t, os.SameFile(first, b), "the rewritten path is a file of its own")
	require.EqualValues(t, 1, nlink(b))
	c, _ := fileAt(t, dst, "m/sub/c.txt")
	require.True(t, os.SameFile(first, c), "m/sub/c.txt is still linked")
	require.EqualValues(t, 3, nlink(first))
}

// linkingSource yields src's entries with HardLinkTo set as links says.
type linkingSource struct {
	backup.Source
	links map[string]string
}

func (s linkingSource) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	return s.Source.Walk(ctx, func(e backup.Entry) error {
		e.HardLinkTo = s.links[e.Path]
		return fn(e)
	})
}

// TestHardLinkToOtherContentIsACopy: an entry naming a first path whose
// stored content or mtime differs (the file changed during the backup)
// is restored from its own content, not linked.
func TestHardLinkToOtherContentIsACopy(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string]file{"m/a": {"first", t0}, "m/b": {"other", t0}, "m/c": {"first", t1}})
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	snap, err := e.Backup(master(), "acme", linkingSource{backup.DirSource(src), map[string]string{"m/b": "m/a", "m/c": "m/a"}}, nil)
	require.NoError(t, err)
	dst := t.TempDir()
	_, err = restore.New(e, nil).Restore(master(), "acme", snap.ID, restore.DirTarget(dst), nil)
	require.NoError(t, err)
	a, _ := fileAt(t, dst, "m/a")
	for p, want := range map[string]string{"m/b": "other", "m/c": "first"} {
		fi, data := fileAt(t, dst, p)
		require.Equal(t, want, data, "%q", p)
		require.False(t, os.SameFile(a, fi), "%q differs from m/a in the snapshot: a copy", p)
	}
}

// readTarget reads the file p of tg.
func readTarget(t *testing.T, tg restore.Target, p string) string {
	t.Helper()
	rc, err := tg.Open(master(), p)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return string(b)
}

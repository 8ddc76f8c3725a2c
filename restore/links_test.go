//go:build unix

package restore_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
)

// node is what lstatTree compares of one entry.
type node struct {
	typ    fs.FileMode // type bits
	perm   fs.FileMode // not for links (always 0777 on Linux)
	size   int64       // regular files
	mtime  time.Time   // not for links (a link's own mtime is not restored)
	target string      // links
	data   string      // regular files
	nlink  uint64      // regular files: how many paths the file has
}

// lstatTree reads the tree at root with Lstat (no link followed): each
// entry's type, link target, mode, size, mtime, bytes and (for a regular
// file) link count, by slash path.
// The restore marker directory is left out.
func lstatTree(t *testing.T, root string) map[string]node {
	t.Helper()
	out := map[string]node{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		rel, err := filepath.Rel(root, p)
		require.NoError(t, err)
		if rel == "." {
			return nil
		}
		if rel == restore.MarkerDir {
			return filepath.SkipDir
		}
		fi, err := os.Lstat(p)
		require.NoError(t, err)
		n := node{typ: fi.Mode().Type()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			n.target, err = os.Readlink(p)
			require.NoError(t, err)
		case fi.IsDir():
			n.perm, n.mtime = fi.Mode().Perm(), fi.ModTime().UTC()
		default:
			n.perm, n.mtime, n.size = fi.Mode().Perm(), fi.ModTime().UTC(), fi.Size()
			if fi.Mode().IsRegular() {
				b, err := os.ReadFile(p)
				require.NoError(t, err)
				n.data = string(b)
				n.nlink = uint64(fi.Sys().(*syscall.Stat_t).Nlink)
			}
		}
		out[filepath.ToSlash(rel)] = n
		return nil
	}))
	return out
}

// unlockDirs gives every directory under root its owner's write bit back
// at cleanup, so that t.TempDir can remove read-only directories.
func unlockDirs(t *testing.T, root string) {
	t.Cleanup(func() {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
	})
}

// linkTree writes the round trip's source under base/src: links of every
// kind, an empty and a read-only directory, a hard link, a name that is
// not UTF-8 and a named pipe; directories get their own mtimes last.
// base/outside holds a file the outward links point at.
func linkTree(t *testing.T, base string) (src, outside string) {
	src, outside = filepath.Join(base, "src"), filepath.Join(base, "outside")
	writeFiles(t, outside, map[string]file{"secret.txt": {"outside", t0}})
	writeFiles(t, src, map[string]file{
		"m/file.txt":       {"hello", t0},
		"m/sub/deep.txt":   {"deep", t1},
		"m/ro/locked.txt":  {"locked", t1},
		"m/caf\xe9.txt":    {"latin-1 name", t2},
		"n/other/file.txt": {"other", t2},
	})
	unlockDirs(t, src)
	require.NoError(t, os.Chmod(filepath.Join(src, "m", "file.txt"), 0o640))
	links := map[string]string{
		"m/rel":      "file.txt",
		"m/reldir":   "sub",
		"m/abs":      filepath.Join(outside, "secret.txt"),
		"m/dangling": "no/such/file",
		"m/out":      "../../outside/secret.txt",
		"m/outdir":   "../../outside",
		"m/odd":      "caf\xe9.txt",
	}
	for p, target := range links {
		require.NoError(t, os.Symlink(target, filepath.Join(src, filepath.FromSlash(p))))
	}
	require.NoError(t, os.Link(filepath.Join(src, "m", "file.txt"), filepath.Join(src, "m", "hard.txt")))
	require.NoError(t, os.Mkdir(filepath.Join(src, "m", "empty"), 0o750))
	require.NoError(t, syscall.Mkfifo(filepath.Join(src, "m", "pipe"), 0o644))
	// Directory modes and mtimes last, deepest first.
	dirs := []struct {
		p     string
		perm  fs.FileMode
		mtime time.Time
	}{
		{"m/sub", 0o700, t0.Add(time.Hour)},
		{"m/ro", 0o555, t0.Add(2 * time.Hour)},
		{"m/empty", 0o750, t0.Add(3 * time.Hour)},
		{"n/other", 0o755, t0.Add(4 * time.Hour)},
		{"n", 0o711, t0.Add(5 * time.Hour)},
		{"m", 0o755, t0.Add(6 * time.Hour)},
	}
	for _, d := range dirs {
		full := filepath.Join(src, filepath.FromSlash(d.p))
		require.NoError(t, os.Chmod(full, d.perm))
		require.NoError(t, os.Chtimes(full, d.mtime, d.mtime))
	}
	return src, outside
}

// TestLinksAndMetadataRoundTrip: the tree linkTree writes, backed up with
// DirSource and restored with DirTarget, comes back equal by type, link
// target, mode, size, mtime and bytes, except for the named pipe, which
// the snapshot counts instead of storing; the hard link comes back as a
// link (the same file at both paths, so the link counts compare equal
// too), not a copy. Nothing is written outside the target through the
// links that point there. A second restore over the result changes
// nothing.
func TestLinksAndMetadataRoundTrip(t *testing.T) {
	base := t.TempDir()
	src, outside := linkTree(t, base)
	dst := filepath.Join(base, "dst")
	unlockDirs(t, dst)
	outsideBefore := lstatTree(t, outside)

	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	snap, err := e.Backup(master(), "acme", backup.DirSource(src), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	require.EqualValues(t, 1, snap.Metadata.SpecialSkipped, "the named pipe is counted")

	r := restore.New(e, nil)
	_, err = r.Restore(master(), "acme", snap.ID, restore.DirTarget(dst), &restore.Options{Mode: restore.Full, Validate: true})
	require.NoError(t, err)

	want := lstatTree(t, src)
	require.Equal(t, fs.ModeNamedPipe, want["m/pipe"].typ)
	delete(want, "m/pipe") // the one expected difference
	require.Equal(t, want, lstatTree(t, dst), "restored tree equals the source (got, want)")
	require.Equal(t, outsideBefore, lstatTree(t, outside), "nothing written outside the target")
	requireSameFile(t, dst, "m/file.txt", "m/hard.txt")

	// Again, over the restored tree: links are recreated in place, and
	// directory modes and mtimes end up as stored.
	_, err = r.Restore(master(), "acme", snap.ID, restore.DirTarget(dst), &restore.Options{Mode: restore.Full})
	require.NoError(t, err)
	require.Equal(t, want, lstatTree(t, dst), "a second restore keeps the tree equal")
	require.Equal(t, outsideBefore, lstatTree(t, outside))
	requireSameFile(t, dst, "m/file.txt", "m/hard.txt")

	v, err := r.Validate(master(), "acme", snap.ID)
	require.NoError(t, err)
	require.Equal(t, restore.StatusPassed, v.Status, "validation of a snapshot with links: %s", v.Report)
}

// requireSameFile checks that root/a and root/b are one file (hard links).
func requireSameFile(t *testing.T, root, a, b string) {
	t.Helper()
	fa, err := os.Lstat(filepath.Join(root, filepath.FromSlash(a)))
	require.NoError(t, err)
	fb, err := os.Lstat(filepath.Join(root, filepath.FromSlash(b)))
	require.NoError(t, err)
	require.True(t, os.SameFile(fa, fb), "%q and %q: got two files, want one file linked at both", a, b)
}

// TestDirTargetWritesNothingThroughLinks: once a link is in the target
// (restored, or there before), creating an entry below it fails, whether
// the link leaves the target or leads elsewhere inside it; nothing is
// written where it points.
func TestDirTargetWritesNothingThroughLinks(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "m", "real"), 0o755))
	require.NoError(t, os.MkdirAll(outside, 0o755))
	tg := restore.DirTarget(root)
	ctx := master()
	for p, target := range map[string]string{"m/out": "../../outside", "m/in": "real", "m/abs": outside} {
		w, err := tg.Create(ctx, backup.Entry{Path: p, Mode: fs.ModeSymlink | 0o777, LinkTarget: target})
		require.NoError(t, err)
		require.NoError(t, w.Close())
		got, err := os.Readlink(filepath.Join(root, filepath.FromSlash(p)))
		require.NoError(t, err)
		require.Equal(t, target, got)
	}
	for _, p := range []string{"m/out/pwned", "m/in/pwned", "m/abs/pwned", "m/in/sub/pwned"} {
		w, err := tg.Create(ctx, backup.Entry{Path: p, Mode: 0o644})
		if err == nil {
			_, _ = w.Write([]byte("x"))
			err = w.Close()
		}
		require.Error(t, err, "create %q below a link", p)
		_, err = tg.Create(ctx, backup.Entry{Path: p, Mode: fs.ModeDir | 0o755})
		require.Error(t, err, "directory %q below a link", p)
	}
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing written outside the target")
	entries, err = os.ReadDir(filepath.Join(root, "m", "real"))
	require.NoError(t, err)
	require.Empty(t, entries, "nothing written through the link inside the target")

	// Walk reports the links as links, with their targets.
	got := map[string]string{}
	require.NoError(t, tg.Walk(ctx, func(e backup.Entry) error {
		if e.Mode&fs.ModeSymlink != 0 {
			got[e.Path] = e.LinkTarget
		}
		return nil
	}))
	require.Equal(t, map[string]string{"m/out": "../../outside", "m/in": "real", "m/abs": outside}, got)
}

// TestMemoryTargetKeepsLinks: a restore into a MemoryTarget keeps links as
// entries with their targets.
func TestMemoryTargetKeepsLinks(t *testing.T) {
	base := t.TempDir()
	src, _ := linkTree(t, base)
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	snap, err := e.Backup(master(), "acme", backup.DirSource(src), nil)
	require.NoError(t, err)
	dst := restore.MemoryTarget()
	_, err = restore.New(e, nil).Restore(master(), "acme", snap.ID, dst, nil)
	require.NoError(t, err)
	got := map[string]string{}
	require.NoError(t, dst.Walk(master(), func(en backup.Entry) error {
		if en.Mode&fs.ModeSymlink != 0 {
			got[en.Path] = en.LinkTarget
		}
		return nil
	}))
	require.Len(t, got, 7)
	require.Equal(t, "file.txt", got["m/rel"])
	require.Equal(t, "caf\xe9.txt", got["m/odd"])
	require.True(t, bytes.Equal([]byte("../../outside"), []byte(got["m/outdir"])))
}

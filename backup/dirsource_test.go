package backup_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// marker is the content of files outside the backed-up root (or put in
// by a swap): it must never reach what a backup reads or stores.
var marker = []byte("OUTSIDE-SECRET-7f3a9c")

// swapFixture is a root to back up ("a.txt", "victim.txt" and
// "d/victim.txt" holding as many bytes as marker, "d/x.txt") and, beside
// it, an outside directory
// ("secret.txt", holding marker) a swap points into.
type swapFixture struct {
	root, outside string
}

func newSwapFixture(t *testing.T) swapFixture {
	t.Helper()
	f := swapFixture{root: t.TempDir(), outside: t.TempDir()}
	writeTree(t, f.root, map[string][]byte{
		"a.txt":        []byte("tenant data"),
		"victim.txt":   bytes.Repeat([]byte("v"), len(marker)),
		"d/x.txt":      []byte("in d"),
		"d/victim.txt": bytes.Repeat([]byte("w"), len(marker)),
	})
	writeTree(t, f.outside, map[string][]byte{"secret.txt": marker, "dir/secret.txt": marker})
	return f
}

// replace puts a new object at rel in the root atomically (rename over),
// as a local user racing the backup would; make creates it at a path.
func (f swapFixture) replace(t *testing.T, rel string, make func(path string) error) {
	t.Helper()
	tmp := filepath.Join(f.outside, "swap.tmp")
	require.NoError(t, make(tmp))
	dst := filepath.Join(f.root, filepath.FromSlash(rel))
	if fi, err := os.Lstat(dst); err == nil && fi.IsDir() {
		require.NoError(t, os.Rename(dst, filepath.Join(f.outside, "moved-away")))
	}
	require.NoError(t, os.Rename(tmp, dst))
}

// The swaps, each applied to one entry between the walk seeing it and
// the backup opening or entering it.
func linkTo(target string) func(string) error {
	return func(p string) error { return os.Symlink(target, p) }
}

func regularFile(p string) error { return os.WriteFile(p, marker, 0o644) }

func (f swapFixture) outsideDir(p string) error {
	return os.Rename(filepath.Join(f.outside, "dir"), p)
}

// holdsMarker reports whether any object of store holds marker, naming
// the first.
func holdsMarker(t *testing.T, store storage.Store) (string, bool) {
	t.Helper()
	ctx := context.Background()
	for oi, err := range store.List(ctx, "") {
		require.NoError(t, err)
		rc, err := store.Get(ctx, oi.Key)
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		if bytes.Contains(b, marker) {
			return oi.Key, true
		}
	}
	return "", false
}

// TestBackupRefusesSwappedEntry performs the attack of a local user who
// can change the tenant's tree during a backup: an entry is swapped,
// after the walk reported it, for a link out of the root or for another
// file or directory. The backup fails with ErrSourceChanged naming the
// entry, and no stored object holds the swapped-in bytes (the backup is
// plain and uncompressed, so read bytes would appear as they are).
func TestBackupRefusesSwappedEntry(t *testing.T) {
	cases := []struct {
		name, at string
		swap     func(f swapFixture) func(string) error
		modules  bool
	}{
		{"file to a link outside", "victim.txt", func(f swapFixture) func(string) error { return linkTo(filepath.Join(f.outside, "secret.txt")) }, false},
		{"file to a link outside, under Modules", "victim.txt", func(f swapFixture) func(string) error { return linkTo(filepath.Join(f.outside, "secret.txt")) }, true},
		{"file to a relative link out", "victim.txt", func(f swapFixture) func(string) error {
			return linkTo("../" + filepath.Base(f.outside) + "/secret.txt")
		}, false},
		{"file to a link inside the root", "victim.txt", func(swapFixture) func(string) error { return linkTo("a.txt") }, false},
		{"file renamed over by another file", "victim.txt", func(swapFixture) func(string) error { return regularFile }, false},
		{"file in a directory to a link outside", "d/victim.txt", func(f swapFixture) func(string) error { return linkTo(filepath.Join(f.outside, "secret.txt")) }, false},
		{"file in a directory renamed over by another file", "d/victim.txt", func(swapFixture) func(string) error { return regularFile }, false},
		{"directory to a link outside", "d", func(f swapFixture) func(string) error { return linkTo(filepath.Join(f.outside, "dir")) }, false},
		{"directory to a link outside, under Modules", "d", func(f swapFixture) func(string) error { return linkTo(filepath.Join(f.outside, "dir")) }, true},
		{"directory renamed over by another directory", "d", func(f swapFixture) func(string) error { return f.outsideDir }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newSwapFixture(t)
			swapped := false
			src := backup.WalkHook(backup.DirSource(f.root), func(e backup.Entry) {
				if e.Path == tc.at {
					f.replace(t, tc.at, tc.swap(f))
					swapped = true
				}
			})
			if tc.modules {
				src = backup.Modules(map[string]backup.Source{"m": src})
			}
			store := storage.NewMemory()
			e, err := backup.New(store, nil)
			require.NoError(t, err)
			// FailFast: by default the swapped entry is skipped (a partial
			// snapshot); either way its swapped-in bytes are never read.
			_, err = e.Backup(master(), "acme", src, &backup.Options{Type: backup.Full, FailFast: true})
			require.True(t, swapped, "the walk never reported %q", tc.at)
			require.ErrorIs(t, err, backup.ErrSourceChanged, "got %v", err)
			require.ErrorContains(t, err, tc.at)
			snaps, err := e.Catalog(master(), "acme")
			require.NoError(t, err)
			require.Empty(t, snaps, "a failed backup left a snapshot")
			key, found := holdsMarker(t, store)
			require.False(t, found, "object %s holds the swapped-in bytes; want them never read", key)
		})
	}
}

// TestBackupStoresMarkerWhenInside is holdsMarker's control: the same
// marker in a file that belongs to the tree is found in the store.
func TestBackupStoresMarkerWhenInside(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string][]byte{"in.txt": marker})
	store := storage.NewMemory()
	e, err := backup.New(store, nil)
	require.NoError(t, err)
	_, err = e.Backup(master(), "acme", backup.DirSource(root), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	_, found := holdsMarker(t, store)
	require.True(t, found, "marker not found in a plain backup that holds it; the store check would prove nothing")
}

// walkAll collects the entries src's walk reports, calling hook on each
// first.
func walkAll(src backup.Source, hook func(backup.Entry)) ([]backup.Entry, error) {
	var out []backup.Entry
	err := src.Walk(context.Background(), func(e backup.Entry) error {
		hook(e)
		out = append(out, e)
		return nil
	})
	return out, err
}

func entryAt(t *testing.T, es []backup.Entry, p string) backup.Entry {
	t.Helper()
	for _, e := range es {
		if e.Path == p {
			return e
		}
	}
	t.Fatalf("the walk did not report %q", p)
	return backup.Entry{}
}

// TestDirSourceOpenRefusesSwappedFile drives DirSource directly: the walk
// completes, then "victim.txt" is swapped, then the entry is opened as the
// pipeline opens it. Open fails with ErrSourceChanged and returns nothing
// to read. Opening the path without the walk's record (Source.Open) also
// refuses a link, though it cannot tell one regular file from another.
func TestDirSourceOpenRefusesSwappedFile(t *testing.T) {
	cases := []struct {
		name   string
		swap   func(f swapFixture) func(string) error
		isLink bool
	}{
		{"link outside", func(f swapFixture) func(string) error { return linkTo(filepath.Join(f.outside, "secret.txt")) }, true},
		{"link inside the root", func(swapFixture) func(string) error { return linkTo("d/x.txt") }, true},
		{"another regular file", func(swapFixture) func(string) error { return regularFile }, false},
	}
	// "victim.txt" opens through the root's handle, "d/victim.txt" through
	// the root by its whole path, the walk having closed d's handle.
	for _, p := range []string{"victim.txt", "d/victim.txt"} {
		for _, tc := range cases {
			t.Run(p+"/"+tc.name, func(t *testing.T) {
				f := newSwapFixture(t)
				src := backup.DirSource(f.root)
				es, err := walkAll(src, func(backup.Entry) {})
				require.NoError(t, err)
				e := entryAt(t, es, p)
				f.replace(t, p, tc.swap(f))
				rc, err := backup.OpenEntry(context.Background(), src, e)
				require.ErrorIs(t, err, backup.ErrSourceChanged, "got %v", err)
				require.ErrorContains(t, err, p)
				require.True(t, rc == nil, "got a reader for a swapped file")
				if tc.isLink {
					rc, err = src.Open(context.Background(), p)
					require.ErrorIs(t, err, backup.ErrSourceChanged, "Source.Open of a link: got %v", err)
					require.True(t, rc == nil, "got a reader for a link")
				}
			})
		}
	}
}

// TestDirSourceWalkRefusesSwappedDirectory swaps directory "d" for a link
// to an outside directory when the walk reports "d", before the walk lists
// it: the walk fails with ErrSourceChanged and reports nothing of the
// outside directory.
func TestDirSourceWalkRefusesSwappedDirectory(t *testing.T) {
	f := newSwapFixture(t)
	src := backup.DirSource(f.root)
	es, err := walkAll(src, func(e backup.Entry) {
		if e.Path == "d" {
			f.replace(t, "d", linkTo(filepath.Join(f.outside, "dir")))
		}
	})
	require.ErrorIs(t, err, backup.ErrSourceChanged, "got %v", err)
	require.ErrorContains(t, err, `d"`)
	for _, e := range es {
		require.NotContains(t, e.Path, "secret", "the walk listed %q from the outside directory", e.Path)
	}
}

// TestDirSourceOpenEntry opens every file of an unchanged tree as the
// pipeline does, during the walk (through the directory's handle) and
// after it (through the root): each yields its content.
func TestDirSourceOpenEntry(t *testing.T) {
	tree := map[string][]byte{"a.txt": []byte("a"), "d/b.txt": []byte("bb"), "d/e/c.txt": []byte("ccc")}
	root := t.TempDir()
	writeTree(t, root, tree)
	src := backup.DirSource(root)
	read := func(e backup.Entry) {
		rc, err := backup.OpenEntry(context.Background(), src, e)
		require.NoError(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.Equal(t, tree[e.Path], b, "content of %s", e.Path)
	}
	var during int
	es, err := walkAll(src, func(e backup.Entry) {
		if e.Mode.IsRegular() {
			read(e)
			during++
		}
	})
	require.NoError(t, err)
	require.Equal(t, len(tree), during, "files read during the walk")
	for _, e := range es {
		if e.Mode.IsRegular() {
			read(e)
		}
	}
}

package backup_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// growOnRead appends to the file at path each time it is opened, after
// the first Read: a file someone writes to while the backup reads it.
type growOnRead struct {
	backup.Source
	root, path string
}

func (g growOnRead) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	rc, err := g.Source.Open(ctx, p)
	if err != nil || p != g.path {
		return rc, err
	}
	return &growingReader{ReadCloser: rc, file: filepath.Join(g.root, p)}, nil
}

type growingReader struct {
	io.ReadCloser
	file  string
	grown bool
}

func (r *growingReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	if !r.grown {
		r.grown = true
		f, ferr := os.OpenFile(r.file, os.O_APPEND|os.O_WRONLY, 0)
		if ferr != nil {
			return n, ferr
		}
		_, _ = f.WriteString("appended while read\n")
		f.Close()
	}
	return n, err
}

// partialTree writes a tree with files that stay readable, and returns
// its root and their contents by path.
func partialTree(t *testing.T) (string, map[string][]byte) {
	root := t.TempDir()
	files := map[string][]byte{
		"m/keep1.txt":      []byte("kept one"),
		"m/keep2.bin":      randBytes(7, 300<<10),
		"m/locked.txt":     []byte("no one may read me"),
		"m/vanishes.txt":   []byte("gone before it is read"),
		"m/grows.log":      []byte("line 1\n"),
		"m/sub/keep3.txt":  []byte("kept three"),
		"n/failopen.txt":   []byte("the source fails to open me"),
		"n/keep4.txt":      []byte("kept four"),
		"n/sealed/x.txt":   []byte("in a directory no one may list"),
		"n/sealed/y/z.txt": []byte("deeper"),
	}
	for p, b := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, b, 0o644))
	}
	return root, files
}

// TestPartialSnapshot: an unreadable file (a Source failing one Open, and
// a chmod 000 file and directory where the test is not root), a file
// deleted after the walk saw it and a file appended to while it is read
// are skipped; the snapshot commits partial naming exactly those paths
// with reasons, Backup's error matches ErrPartial, and every other file
// reads back byte for byte. With FailFast the same backup fails and
// leaves no snapshot.
func TestPartialSnapshot(t *testing.T) {
	root, files := partialTree(t)
	want := []string{"m/grows.log", "m/vanishes.txt", "n/failopen.txt"}
	skippedFiles := map[string]bool{"m/grows.log": true, "m/vanishes.txt": true, "n/failopen.txt": true, "n/sealed/x.txt": true, "n/sealed/y/z.txt": true}
	if os.Geteuid() == 0 {
		t.Log("running as root: chmod 000 does not stop root from reading, so the locked file and directory are not part of this run")
		delete(files, "m/locked.txt")
		require.NoError(t, os.Remove(filepath.Join(root, "m/locked.txt")))
		for _, p := range []string{"n/sealed/x.txt", "n/sealed/y/z.txt"} {
			delete(files, p)
			delete(skippedFiles, p)
		}
		require.NoError(t, os.RemoveAll(filepath.Join(root, "n/sealed")))
	} else {
		want = append(want, "m/locked.txt", "n/sealed")
		skippedFiles["m/locked.txt"] = true
		require.NoError(t, os.Chmod(filepath.Join(root, "m/locked.txt"), 0))
		require.NoError(t, os.Chmod(filepath.Join(root, "n/sealed"), 0))
		t.Cleanup(func() { _ = os.Chmod(filepath.Join(root, "n/sealed"), 0o755) })
	}
	source := func() backup.Source {
		var src backup.Source = failOpen{growOnRead{backup.DirSource(root), root, "m/grows.log"}, "n/failopen.txt"}
		return backup.WalkHook(src, func(en backup.Entry) {
			if en.Path == "m/vanishes.txt" {
				_ = os.Remove(filepath.Join(root, "m/vanishes.txt"))
			}
		})
	}
	store := storage.NewMemory()
	e, err := backup.New(store, nil)
	require.NoError(t, err)

	_, err = e.Backup(master(), "acme", source(), &backup.Options{Type: backup.Full, FailFast: true})
	require.Error(t, err, "a fail-fast backup of an unreadable tree")
	require.NotErrorIs(t, err, backup.ErrPartial)
	cat, err := e.Catalog(master(), "acme")
	require.NoError(t, err)
	require.Empty(t, cat, "a fail-fast backup that failed left a snapshot")

	require.NoError(t, os.WriteFile(filepath.Join(root, "m/vanishes.txt"), files["m/vanishes.txt"], 0o644))
	snap, err := e.Backup(master(), "acme", source(), &backup.Options{Type: backup.Full})
	require.ErrorIs(t, err, backup.ErrPartial)
	require.NotNil(t, snap, "a partial backup returns its snapshot")
	require.ErrorContains(t, err, snap.ID)
	require.True(t, snap.Metadata.Partial)
	var got []string
	for _, s := range snap.Skipped {
		got = append(got, s.Path)
		require.NotEmpty(t, s.Reason, "skipped %q without a reason", s.Path)
	}
	require.ElementsMatch(t, want, got, "skipped paths")
	reasons := map[string]string{}
	for _, s := range snap.Skipped {
		reasons[s.Path] = s.Reason
	}
	require.Contains(t, reasons["n/failopen.txt"], "disk on fire")
	require.Contains(t, reasons["m/grows.log"], "changed while it was read")
	require.Contains(t, reasons["m/vanishes.txt"], "no such file")

	// The catalog (a fresh engine reading the manifest) says the same.
	e2, err := backup.New(store, nil)
	require.NoError(t, err)
	stored, err := e2.Snapshot(master(), "acme", snap.ID)
	require.NoError(t, err)
	require.Equal(t, snap.Skipped, stored.Skipped)
	require.True(t, stored.Metadata.Partial)

	read := map[string][]byte{}
	for f, err := range e2.Files(master(), "acme", snap.ID) {
		require.NoError(t, err)
		if !f.Mode.IsRegular() {
			continue
		}
		rc, err := e2.OpenFile(master(), "acme", f, nil)
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		read[f.Path] = b
	}
	for p, b := range files {
		if skippedFiles[p] {
			require.NotContains(t, read, p, "skipped file %q is in the snapshot", p)
			continue
		}
		require.Equal(t, b, read[p], "file %q read back", p)
	}
	require.Len(t, read, len(files)-len(skippedFiles), "files in the snapshot")
	require.EqualValues(t, len(read), snap.Metadata.FileCount)
}

// TestCompleteSnapshotIsNotPartial: a backup that reads everything
// returns no error and no skipped list.
func TestCompleteSnapshotIsNotPartial(t *testing.T) {
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	snap, err := e.Backup(master(), "acme", backup.FSSource(fstest.MapFS{"m/a": {Data: []byte("a")}}), nil)
	require.NoError(t, err)
	require.False(t, snap.Metadata.Partial)
	require.Nil(t, snap.Skipped)
}

// TestFSSourceSkipsUnreadableDirectory: FSSource over an fs.FS whose
// directory cannot be listed skips its subtree in a partial snapshot.
func TestFSSourceSkipsUnreadableDirectory(t *testing.T) {
	fsys := brokenDirFS{fstest.MapFS{"m/a": {Data: []byte("a")}, "m/bad/b": {Data: []byte("b")}}, "m/bad"}
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	snap, err := e.Backup(master(), "acme", backup.FSSource(fsys), nil)
	require.ErrorIs(t, err, backup.ErrPartial)
	require.Len(t, snap.Skipped, 1)
	require.Equal(t, "m/bad", snap.Skipped[0].Path)
	require.EqualValues(t, 1, snap.Metadata.FileCount)
}

type brokenDirFS struct {
	fstest.MapFS
	bad string
}

func (b brokenDirFS) ReadDir(name string) ([]os.DirEntry, error) {
	if name == b.bad {
		return nil, errors.New("input/output error")
	}
	return b.MapFS.ReadDir(name)
}

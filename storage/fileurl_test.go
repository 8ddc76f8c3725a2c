package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// TestFileURLForms: every documented form of a directory store resolves
// against the working directory or is absolute, and no form reaches the
// file-system root by accident (file://./x, file://relative/st and the
// CLI's old default used to write to /x, /st and /steward-data).
func TestFileURLForms(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	wd, _ = os.Getwd()
	for in, want := range map[string]string{
		"file:///srv/steward":          "/srv/steward",
		"file://localhost/srv/steward": "/srv/steward",
		"file://./steward-data":        filepath.Join(wd, "steward-data"),
		"file://../up":                 filepath.Join(filepath.Dir(wd), "up"),
		"file:rel/path":                filepath.Join(wd, "rel/path"),
		"file://./a%20b":               filepath.Join(wd, "a b"),
	} {
		got, err := storage.FileURLDir(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"file://relative/st", "file://mydata", "file:///", "file://", "file://localhost/", "s3://bucket"} {
		_, err := storage.FileURLDir(bad)
		require.Error(t, err, bad)
	}
	_, err := storage.FileURLDir("file://relative/st")
	require.ErrorContains(t, err, "file://./relative/path")
}

// TestOpenRelativeStores writes through a relative file URL and a plain
// path and finds the objects under the working directory, nowhere else.
func TestOpenRelativeStores(t *testing.T) {
	ctx := context.Background()
	wd := t.TempDir()
	t.Chdir(wd)
	for _, c := range []struct{ url, dir string }{
		{"file://./dot", "dot"}, {"file:opaque", "opaque"}, {"plain/dir", "plain/dir"}, {"./dotted", "dotted"},
	} {
		s, err := storage.Open(ctx, c.url)
		require.NoError(t, err, c.url)
		require.NoError(t, storage.PutBytes(ctx, s, "k", []byte("v"), nil))
		require.NoError(t, s.Close())
		b, err := os.ReadFile(filepath.Join(wd, filepath.FromSlash(c.dir), "k"))
		require.NoError(t, err, "%s: the object is not under the working directory", c.url)
		require.Equal(t, "v", string(b))
	}
	_, err := storage.Open(ctx, "file://relative/st")
	require.ErrorContains(t, err, `names host "relative"`)
	_, err = storage.Open(ctx, "")
	require.ErrorContains(t, err, "empty")
}

// TestOpenExistingCreatesNothing: a read-only open of a missing directory
// is ErrNotFound and leaves no directory behind; of an existing one, reads
// work and writes are refused.
func TestOpenExistingCreatesNothing(t *testing.T) {
	ctx := context.Background()
	wd := t.TempDir()
	t.Chdir(wd)
	for _, u := range []string{"file://./missing", "missing", "file://" + filepath.ToSlash(filepath.Join(wd, "missing"))} {
		_, err := storage.OpenExisting(ctx, u)
		require.ErrorIs(t, err, storage.ErrNotFound, u)
		require.ErrorContains(t, err, "missing")
		require.NoDirExists(t, filepath.Join(wd, "missing"))
	}
	rw, err := storage.Open(ctx, "file://./there")
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(ctx, rw, "k", []byte("v"), nil))
	ro, err := storage.OpenExisting(ctx, "file://./there")
	require.NoError(t, err)
	b, err := storage.ReadAll(ctx, ro, "k")
	require.NoError(t, err)
	require.Equal(t, "v", string(b))
	require.ErrorIs(t, storage.PutBytes(ctx, ro, "k2", []byte("v"), nil), storage.ErrPermission)
	mem, err := storage.OpenExisting(ctx, "mem://")
	require.NoError(t, err)
	require.ErrorIs(t, mem.Delete(ctx, "k"), storage.ErrPermission)
}

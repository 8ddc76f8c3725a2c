package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// stage writes b into a staged file for key.
func stage(t *testing.T, s storage.Store, key string, b []byte) *os.File {
	t.Helper()
	f, err := storage.Stage(s, key)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	return f
}

// namesIn lists the directory entries of dir (hidden ones too).
func namesIn(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// A directory store on Linux takes a staged file as an object: the bytes
// written are the object's, the directory holds the object's name alone,
// a conditional put over an existing object is ErrExists and changes
// nothing, a plain one replaces it, and a staged file never put leaves
// nothing behind. Through WithRetry too.
func TestDirectoryStoreTakesStagedFiles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("unnamed files (O_TMPFILE) are Linux's")
	}
	ctx := context.Background()
	root := t.TempDir()
	dir, err := storage.OpenDir(root)
	require.NoError(t, err)
	s := storage.WithRetry(dir, nil)
	key := "packs/ab/abcdef"
	f, err := storage.Stage(s, key)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("the temporary directory's file system has no unnamed files")
	}
	require.NoError(t, err)
	f.Close()
	require.Empty(t, namesIn(t, filepath.Join(root, "packs", "ab")), "a staged file never put leaves nothing")

	require.NoError(t, s.(storage.Stager).PutStaged(ctx, key, stage(t, s, key, []byte("first")), nil))
	got, err := storage.ReadAll(ctx, s, key)
	require.NoError(t, err)
	require.Equal(t, "first", string(got))
	require.Equal(t, []string{"abcdef"}, namesIn(t, filepath.Join(root, "packs", "ab")))

	err = s.(storage.Stager).PutStaged(ctx, key, stage(t, s, key, []byte("second")), &storage.PutOptions{IfNotExist: true})
	require.ErrorIs(t, err, storage.ErrExists)
	got, _ = storage.ReadAll(ctx, s, key)
	require.Equal(t, "first", string(got), "a refused create changes nothing")

	require.NoError(t, s.(storage.Stager).PutStaged(ctx, key, stage(t, s, key, []byte("third")), nil))
	got, _ = storage.ReadAll(ctx, s, key)
	require.Equal(t, "third", string(got), "a plain put replaces")
	require.Equal(t, []string{"abcdef"}, namesIn(t, filepath.Join(root, "packs", "ab")), "no temporary name is left")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	err = s.(storage.Stager).PutStaged(cancelled, "packs/ab/other", stage(t, s, "packs/ab/other", []byte("x")), nil)
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.Stat(ctx, "packs/ab/other")
	require.ErrorIs(t, err, storage.ErrNotFound)

	_, err = storage.Stage(s, "../escape")
	require.ErrorIs(t, err, storage.ErrInvalidKey)
	_, err = os.Stat(filepath.Join(filepath.Dir(root), "escape"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// Stores that are not on a local file system stage nothing.
func TestStageUnsupportedElsewhere(t *testing.T) {
	for _, s := range []storage.Store{storage.NewMemory(), storage.WithRetry(storage.NewMemory(), nil)} {
		_, err := storage.Stage(s, "packs/ab/abcdef")
		require.ErrorIs(t, err, errors.ErrUnsupported)
	}
}

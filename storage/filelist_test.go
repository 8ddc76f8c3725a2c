package storage_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// listKeys lists prefix with List and checks that ListKeys, on s and
// through WithRetry, yields the same keys.
func listKeys(t testing.TB, s storage.Store, prefix string) []string {
	t.Helper()
	var keys []string
	for oi, err := range s.List(context.Background(), prefix) {
		require.NoError(t, err)
		keys = append(keys, oi.Key)
	}
	require.Equal(t, keys, keysOnly(t, s, prefix), "ListKeys of %q", prefix)
	require.Equal(t, keys, keysOnly(t, storage.WithRetry(s, nil), prefix), "ListKeys through WithRetry of %q", prefix)
	return keys
}

func keysOnly(t testing.TB, s storage.Store, prefixes ...string) []string {
	t.Helper()
	var keys []string
	for key, err := range storage.ListKeys(context.Background(), s, prefixes...) {
		require.NoError(t, err)
		keys = append(keys, key)
	}
	return keys
}

// TestFileListByPrefix: a prefix ending inside a name lists the matching
// files and everything under matching directories, in walk order (names
// lexically, a directory's contents at its place), with their sizes; a
// prefix under a file or a missing directory lists nothing.
func TestFileListByPrefix(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := storage.OpenDir(dir)
	require.NoError(t, err)
	for _, k := range []string{"snap/0192-a", "snap/0193-b", "snap/0193-a", "snap/0193/x", "snap/0193/y/z", "snap/0194", "snap/01930", "other/0193", "config"} {
		require.NoError(t, storage.PutBytes(ctx, s, k, []byte(k), nil))
	}
	require.Equal(t, []string{"snap/0193/x", "snap/0193/y/z", "snap/0193-a", "snap/0193-b", "snap/01930"}, listKeys(t, s, "snap/0193"))
	require.Equal(t, []string{"snap/0193/x", "snap/0193/y/z"}, listKeys(t, s, "snap/0193/"))
	require.Equal(t, []string{"snap/0192-a", "snap/0193/x", "snap/0193/y/z", "snap/0193-a", "snap/0193-b", "snap/01930", "snap/0194"}, listKeys(t, s, "snap/"))
	require.Len(t, listKeys(t, s, ""), 9)
	require.Empty(t, listKeys(t, s, "config/x"))
	require.Empty(t, listKeys(t, s, "missing/dir/"))
	require.Empty(t, listKeys(t, s, "snap/02"))

	// A symbolic link is listed as an object (as List always did); a
	// temporary file and an attribute file are not.
	require.NoError(t, os.Symlink("0194", filepath.Join(dir, "snap", "0195")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "snap", ".steward-tmp-0196"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "snap", "0197.attrs"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "snap", "0193", ".steward-tmp-1"), nil, 0o644))
	require.Equal(t, []string{"snap/0192-a", "snap/0193/x", "snap/0193/y/z", "snap/0193-a", "snap/0193-b", "snap/01930", "snap/0194", "snap/0195"}, listKeys(t, s, "snap/"))
	require.Equal(t, []string{"snap/0193/x", "snap/0193/y/z"}, listKeys(t, s, "snap/0193/"))
	for oi, err := range s.List(ctx, "snap/0194") {
		require.NoError(t, err)
		require.EqualValues(t, len("snap/0194"), oi.Size)
	}
}

// ListKeys of several prefixes yields what List yields for each in turn,
// on a directory store (prefixes in one directory or in several), in
// memory (through List) and through WithRetry.
func TestListKeysOfSeveralPrefixes(t *testing.T) {
	ctx := context.Background()
	keys := []string{"snap/0192-a", "snap/0193-b", "snap/0193-a", "snap/0193/x", "snap/0194", "snap/0195", "snap/01930", "other/0193", "other/x/y", "config"}
	dir, err := storage.OpenDir(t.TempDir())
	require.NoError(t, err)
	for _, s := range []storage.Store{dir, storage.NewMemory()} {
		for _, k := range keys {
			require.NoError(t, storage.PutBytes(ctx, s, k, []byte(k), nil))
		}
		for _, prefixes := range [][]string{
			{"snap/0192", "snap/0194"},
			{"snap/0193-", "snap/0193/", "snap/0195"},
			{"config", "other/", "snap/0194"},
			{"other/x/", "snap/"},
			{"missing/", "snap/0199"},
			{},
		} {
			var want []string
			for _, p := range prefixes {
				want = append(want, listKeys(t, s, p)...)
			}
			require.Equal(t, want, keysOnly(t, s, prefixes...), "%v", prefixes)
			require.Equal(t, want, keysOnly(t, storage.WithRetry(s, nil), prefixes...), "%v through WithRetry", prefixes)
		}
	}
}

// BenchmarkFileListPrefix lists the keys of one time prefix in a
// directory of 10,000 snapshot keys, as a catalog compaction at 10,000
// snapshots does.
func BenchmarkFileListPrefix(b *testing.B) {
	dir := b.TempDir()
	sub := filepath.Join(dir, "snapshots")
	require.NoError(b, os.MkdirAll(sub, 0o755))
	for i := range 10000 {
		require.NoError(b, os.WriteFile(filepath.Join(sub, fmt.Sprintf("%08x-%04x", 0x01930000+i, i)), []byte("m"), 0o644))
	}
	s, err := storage.OpenDir(dir)
	require.NoError(b, err)
	b.Run("List", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for _, err := range s.List(context.Background(), "snapshots/0193270") {
				require.NoError(b, err)
				n++
			}
			if n != 16 {
				b.Fatalf("%d keys", n)
			}
		}
	})
	b.Run("ListKeys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if n := len(keysOnly(b, s, "snapshots/0193270")); n != 16 {
				b.Fatalf("%d keys", n)
			}
		}
	})
}

// A directory store reads objects itself: a key naming a directory or
// lying under a file is ErrNotFound, a small range and a large one (past
// smallRead, streamed from the file) read back exactly, and a cancelled
// context stops a stream.
func TestDirectoryStoreReads(t *testing.T) {
	ctx := context.Background()
	s, err := storage.OpenDir(t.TempDir())
	require.NoError(t, err)
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	require.NoError(t, storage.PutBytes(ctx, s, "dir/big", big, nil))
	require.NoError(t, storage.PutBytes(ctx, s, "file", []byte("small"), nil))
	for _, key := range []string{"dir", "file/x", "missing", "dir/missing"} {
		_, err := s.Get(ctx, key)
		require.ErrorIs(t, err, storage.ErrNotFound, key)
	}
	for _, c := range []struct{ off, n int64 }{{0, -1}, {1, 10}, {1 << 20, 2 << 20}, {3<<20 - 5, 100}, {4 << 20, 10}} {
		rc, err := s.GetRange(ctx, "dir/big", c.off, c.n)
		require.NoError(t, err)
		got, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		end := int64(len(big))
		if c.n >= 0 {
			end = min(end, c.off+c.n)
		}
		require.Equal(t, big[min(c.off, end):end], got, "off %d n %d", c.off, c.n)
	}
	cctx, cancel := context.WithCancel(ctx)
	rc, err := s.Get(cctx, "dir/big")
	require.NoError(t, err)
	defer rc.Close()
	_, err = io.ReadFull(rc, make([]byte, 1000))
	require.NoError(t, err)
	cancel()
	_, err = io.ReadAll(rc)
	require.ErrorIs(t, err, context.Canceled)
}

// Package targettest is the conformance suite for restore.Target
// implementations: restore.DirTarget and restore.MemoryTarget pass it, and a
// host's own Target should too.
package targettest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
)

// Run runs the suite; newTarget returns a fresh, empty Target.
func Run(t *testing.T, newTarget func(t *testing.T) restore.Target) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, func(*testing.T) restore.Target)
	}{
		{"WriteReadBack", testWriteReadBack},
		{"WalkOrder", testWalkOrder},
		{"Overwrite", testOverwrite},
		{"AbortLeavesNothing", testAbortLeavesNothing},
		{"Remove", testRemove},
		{"RecreateAfterRemove", testRecreateAfterRemove},
		{"FileReplacesDirectory", testFileReplacesDirectory},
		{"UnsafePaths", testUnsafePaths},
		{"Cancelled", testCancelled},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newTarget) })
	}
}

func testWriteReadBack(t *testing.T, newTarget func(*testing.T) restore.Target) {
	tg := newTarget(t)
	write(t, tg, "users/a.json", []byte("alpha"))
	write(t, tg, "users/deep/b.json", []byte("beta"))
	require.Equal(t, "alpha", read(t, tg, "users/a.json"))
	var files []string
	for _, e := range entries(t, tg) {
		if e.Mode.IsRegular() {
			files = append(files, e.Path)
			require.True(t, e.ModTime.Equal(mtime), "%s mtime %v", e.Path, e.ModTime)
			require.Equal(t, fs.FileMode(0o640), e.Mode.Perm())
		}
	}
	require.Equal(t, []string{"users/a.json", "users/deep/b.json"}, files)
}

func testWalkOrder(t *testing.T, newTarget func(*testing.T) restore.Target) {
	tg := newTarget(t)
	for _, p := range []string{"b/x", "a-b", "a/z", "a/b/c"} {
		write(t, tg, p, []byte(p))
	}
	require.Equal(t, []string{"a-b", "a", "a/b", "a/b/c", "a/z", "b", "b/x"}, paths(t, tg), "directories sort as path + '/'")
}

func testOverwrite(t *testing.T, newTarget func(*testing.T) restore.Target) {
	tg := newTarget(t)
	write(t, tg, "m/f", []byte("first"))
	write(t, tg, "m/f", []byte("second"))
	require.Equal(t, "second", read(t, tg, "m/f"))
}

func testAbortLeavesNothing(t *testing.T, newTarget func(*testing.T) restore.Target) {
	ctx := context.Background()
	tg := newTarget(t)
	write(t, tg, "m/keep", []byte("old"))
	w, err := tg.Create(ctx, backup.Entry{Path: "m/keep", Mode: 0o644, ModTime: mtime})
	require.NoError(t, err)
	_, _ = w.Write(bytes.Repeat([]byte("x"), 1000))
	a, ok := w.(restore.Aborter)
	require.True(t, ok, "writers implement Aborter")
	require.NoError(t, a.Abort())
	require.Equal(t, "old", read(t, tg, "m/keep"), "an aborted write leaves the old file")
	require.Len(t, entries(t, tg), 2, "no temporary file is visible")
}

func testRemove(t *testing.T, newTarget func(*testing.T) restore.Target) {
	ctx := context.Background()
	tg := newTarget(t)
	write(t, tg, "m/a/1", []byte("1"))
	write(t, tg, "m/b", []byte("2"))
	require.NoError(t, tg.Remove(ctx, "m/a"))
	require.Equal(t, []string{"m", "m/b"}, paths(t, tg))
}

func testRecreateAfterRemove(t *testing.T, newTarget func(*testing.T) restore.Target) {
	ctx := context.Background()
	// A directory removed after files were written in it is made
	// again for the next file; nothing is lost.
	tg := newTarget(t)
	write(t, tg, "m/d/1", []byte("1"))
	require.NoError(t, tg.Remove(ctx, "m"))
	write(t, tg, "m/d/2", []byte("2"))
	require.Equal(t, "2", read(t, tg, "m/d/2"))
	require.Equal(t, []string{"m", "m/d", "m/d/2"}, paths(t, tg))
}

func testFileReplacesDirectory(t *testing.T, newTarget func(*testing.T) restore.Target) {
	// Closing a file whose name is held by a directory replaces it.
	tg := newTarget(t)
	write(t, tg, "m/x/inner", []byte("inner"))
	write(t, tg, "m/x", []byte("now a file"))
	require.Equal(t, "now a file", read(t, tg, "m/x"))
	require.Equal(t, []string{"m", "m/x"}, paths(t, tg))
}

func testUnsafePaths(t *testing.T, newTarget func(*testing.T) restore.Target) {
	ctx := context.Background()
	tg := newTarget(t)
	for _, p := range []string{"../evil", "/abs", "a/../../b", "a//b", `a\b`, ""} {
		_, err := tg.Create(ctx, backup.Entry{Path: p, Mode: 0o644})
		require.Error(t, err, "path %q", p)
		require.Error(t, tg.Remove(ctx, p), "path %q", p)
	}
	require.Empty(t, entries(t, tg))
}

func testCancelled(t *testing.T, newTarget func(*testing.T) restore.Target) {
	ctx := context.Background()
	tg := newTarget(t)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err := tg.Create(cctx, backup.Entry{Path: "a", Mode: 0o644})
	require.True(t, errors.Is(err, context.Canceled))
}

// mtime is the modification time of the files the suite writes.
var mtime = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// write creates p in tg with data.
func write(t *testing.T, tg restore.Target, p string, data []byte) {
	w, err := tg.Create(context.Background(), backup.Entry{Path: p, Size: int64(len(data)), Mode: 0o640, ModTime: mtime})
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
}

// entries returns what tg's Walk yields.
func entries(t *testing.T, tg restore.Target) []backup.Entry {
	var out []backup.Entry
	require.NoError(t, tg.Walk(context.Background(), func(e backup.Entry) error { out = append(out, e); return nil }))
	return out
}

// paths returns the paths tg's Walk yields.
func paths(t *testing.T, tg restore.Target) []string {
	var out []string
	for _, e := range entries(t, tg) {
		out = append(out, e.Path)
	}
	return out
}

// read returns the content of p in tg.
func read(t *testing.T, tg restore.Target, p string) string {
	rc, err := tg.Open(context.Background(), p)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return string(b)
}

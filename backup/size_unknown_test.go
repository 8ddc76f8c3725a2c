package backup_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// streamSource yields its files with backup.SizeUnknown, as a database
// streaming a table does, and counts opens.
type streamSource struct {
	files map[string][]byte
	opens atomic.Int64
}

func (s *streamSource) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range s.files {
			if !yield(p) {
				return
			}
		}
	}) {
		if err := fn(backup.Entry{Path: p, Size: backup.SizeUnknown, Mode: 0o644, ModTime: mtime}); err != nil {
			return err
		}
	}
	return nil
}

func (s *streamSource) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	s.opens.Add(1)
	b, ok := s.files[p]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// TestSizeUnknownIsReadEveryTime backs up entries of unknown size twice:
// each backup reads every one (the parent cannot vouch for content it
// cannot compare), records the size read, and stores what it read.
func TestSizeUnknownIsReadEveryTime(t *testing.T) {
	ctx := master()
	src := &streamSource{files: map[string][]byte{
		"orders/rows": randBytes(7, 3<<20+5), // more than one chunker buffer of a small file
		"users/rows":  []byte("ana\nbo\n"),
		"empty/rows":  {},
	}}
	e, err := backup.New(storage.NewMemory(), &backup.Config{})
	require.NoError(t, err)
	var last backup.Progress
	first, err := e.Backup(ctx, "acme", src, &backup.Options{Type: backup.Full, Progress: func(p backup.Progress) { last = p }})
	require.NoError(t, err)
	require.Equal(t, int64(3), src.opens.Load())
	require.Equal(t, int64(3<<20+5+7), first.Metadata.SizeBytes)
	require.GreaterOrEqual(t, last.BytesTotal, int64(0))

	src.files["users/rows"] = []byte("ana\nbo\ncy\n")
	second, err := e.Backup(ctx, "acme", src, &backup.Options{Type: backup.Incremental})
	require.NoError(t, err)
	require.Equal(t, first.ID, second.Parent)
	require.Equal(t, int64(6), src.opens.Load(), "every entry of unknown size is read again")
	require.Equal(t, src.files, readBack(t, e, "acme", second.ID))
	for f, err := range e.Files(ctx, "acme", second.ID) {
		require.NoError(t, err)
		if f.Mode.IsRegular() {
			require.Equal(t, int64(len(src.files[f.Path])), f.Size, f.Path)
		}
	}
}

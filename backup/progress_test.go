package backup_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// gatedSource serves big.bin up to gateAt bytes, then waits for release.
type gatedSource struct {
	backup.Source
	gateAt  int
	release chan struct{}
}

func (g *gatedSource) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	rc, err := g.Source.Open(ctx, p)
	if err != nil || p != "data/big.bin" {
		return rc, err
	}
	return &gatedReader{ReadCloser: rc, left: g.gateAt, release: g.release}, nil
}

type gatedReader struct {
	io.ReadCloser
	left    int
	release chan struct{}
}

func (r *gatedReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		<-r.release
		return r.ReadCloser.Read(p)
	}
	n, err := r.ReadCloser.Read(p[:min(len(p), r.left)])
	r.left -= n
	return n, err
}

// progressLog records Progress calls; the backup or restore calls it from
// one goroutine at a time, the test reads it from another.
type progressLog struct {
	mu  sync.Mutex
	all []backup.Progress
}

func (l *progressLog) add(p backup.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, p)
}

func (l *progressLog) snapshot() []backup.Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]backup.Progress(nil), l.all...)
}

// TestProgressWithinAFile checks that a large file moves BytesDone while it
// is read, not only once it is done, and that the counts end exact.
func TestProgressWithinAFile(t *testing.T) {
	ctx := master()
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	big := randBytes(21, 24<<20)
	fsys := fstest.MapFS{
		"data/big.bin":   {Data: big, Mode: 0o644},
		"data/small.txt": {Data: []byte("small"), Mode: 0o644},
	}
	total := int64(len(big) + len("small"))
	src := &gatedSource{Source: backup.FSSource(fsys), gateAt: 16 << 20, release: make(chan struct{})}
	var log progressLog
	done := make(chan error, 1)
	go func() {
		_, err := e.Backup(ctx, "acme", src, &backup.Options{Type: backup.Full, Progress: log.add})
		done <- err
	}()
	require.Eventually(t, func() bool {
		for _, p := range log.snapshot() {
			if p.FilesDone == 0 && p.BytesDone > 0 && p.BytesDone < total {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "a report with part of big.bin read, before any file is done")
	close(src.release)
	require.NoError(t, <-done)

	all := log.snapshot()
	last := all[len(all)-1]
	require.Equal(t, backup.Progress{FilesDone: 2, FilesTotal: 2, BytesDone: total, BytesTotal: total, Path: last.Path}, last)
	for i := 1; i < len(all); i++ {
		require.GreaterOrEqual(t, all[i].BytesDone, all[i-1].BytesDone, "BytesDone never goes back")
		require.LessOrEqual(t, all[i].BytesDone, total)
	}
}

func TestProgressReachesTotals(t *testing.T) {
	fsys := sampleFS(30, 1)
	fsys["big/x.bin"] = &fstest.MapFile{Data: randBytes(9, 6<<20), Mode: 0o644}
	var wantBytes int64
	for _, f := range fsys {
		wantBytes += int64(len(f.Data))
	}
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	var got []backup.Progress
	_, err = e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Progress: func(p backup.Progress) { got = append(got, p) }})
	require.NoError(t, err)
	// One report per file, plus a report every ProgressInterval while a
	// file is read (a slow machine or -race can take that long over the
	// 6 MiB file): those leave FilesDone as it was.
	perFile := 0
	var prev backup.Progress
	for _, p := range got {
		require.Equal(t, int64(len(fsys)), p.FilesTotal)
		require.Equal(t, wantBytes, p.BytesTotal)
		require.GreaterOrEqual(t, p.BytesDone, prev.BytesDone, "bytes done never go back")
		switch p.FilesDone {
		case prev.FilesDone + 1:
			perFile++
		case prev.FilesDone:
			require.Empty(t, p.Path, "a report within a file names no finished file")
		default:
			t.Fatalf("files done went from %d to %d", prev.FilesDone, p.FilesDone)
		}
		prev = p
	}
	require.Equal(t, len(fsys), perFile, "one report per file")
	last := got[len(got)-1]
	require.Equal(t, last.BytesTotal, last.BytesDone)
	require.Equal(t, last.FilesTotal, last.FilesDone)
}

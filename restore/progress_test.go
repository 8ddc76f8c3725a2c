package restore_test

import (
	"context"
	"crypto/rand"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
)

// gatedTarget holds the write of big.bin once gateAt bytes are written,
// until release is closed.
type gatedTarget struct {
	restore.Target
	gateAt  int
	release chan struct{}
}

func (g *gatedTarget) Create(ctx context.Context, e backup.Entry) (io.WriteCloser, error) {
	w, err := g.Target.Create(ctx, e)
	if err != nil || e.Path != "data/big.bin" {
		return w, err
	}
	return &gatedWriter{WriteCloser: w, left: g.gateAt, release: g.release}, nil
}

type gatedWriter struct {
	io.WriteCloser
	left    int
	release chan struct{}
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	if w.left <= 0 {
		<-w.release
	}
	w.left -= len(p)
	return w.WriteCloser.Write(p)
}

// TestProgressWithinAFile checks that a restore reports the bytes of a
// large file as they are written, ends with exact counts, and makes no
// report after Restore returns.
func TestProgressWithinAFile(t *testing.T) {
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	big := make([]byte, 24<<20)
	_, _ = rand.Read(big)
	// One file only: no other file's completion can report its bytes.
	fsys := fstest.MapFS{"data/big.bin": {Data: big, Mode: 0o644}}
	snap, err := e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	total := int64(len(big))

	var (
		mu       sync.Mutex
		all      []backup.Progress
		returned atomic.Bool
		late     atomic.Bool
	)
	progress := func(p backup.Progress) {
		if returned.Load() {
			late.Store(true)
		}
		mu.Lock()
		defer mu.Unlock()
		all = append(all, p)
	}
	dst := &gatedTarget{Target: restore.MemoryTarget(), gateAt: 8 << 20, release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := restore.New(e, nil).Restore(master(), "acme", snap.ID, dst, &restore.Options{Progress: progress})
		returned.Store(true)
		done <- err
	}()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range all {
			if p.BytesDone >= 8<<20 && p.BytesDone < int64(len(big)) {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "a report with part of big.bin written")
	close(dst.release)
	require.NoError(t, <-done)
	time.Sleep(2 * op.ProgressInterval)
	require.False(t, late.Load(), "no report after Restore returned")

	mu.Lock()
	defer mu.Unlock()
	last := all[len(all)-1]
	require.Equal(t, int64(1), last.FilesDone)
	require.Equal(t, total, last.BytesDone)
	require.Equal(t, total, last.BytesTotal)
	got, err := dst.Open(master(), "data/big.bin")
	require.NoError(t, err)
	defer got.Close()
	b, err := io.ReadAll(got)
	require.NoError(t, err)
	require.Equal(t, big, b)
}

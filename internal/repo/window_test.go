package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/storage"
)

// saveChunks stores chunks in one repository and returns their IDs.
func saveChunks(t *testing.T, store storage.Store, enc bool, chunks [][]byte) []ID {
	t.Helper()
	ctx := context.Background()
	r, err := Open(ctx, store, "w/", Options{Create: true, Encrypt: enc, Keys: testKeys{3}, Scope: "w", Now: time.Now()})
	require.NoError(t, err)
	s := r.NewSaver(ctx, 1)
	ids := make([]ID, len(chunks))
	for i, c := range chunks {
		ids[i] = r.ChunkID(c)
		_, err := s.Save(ids[i], c, true)
		require.NoError(t, err)
	}
	require.NoError(t, s.Flush())
	return ids
}

// TestSmallChunksShareRangeReads: loading 400 small chunks (and a few
// large ones) in parallel takes a range read per window of the pack, not
// one per chunk, and every chunk reads back equal.
func TestSmallChunksShareRangeReads(t *testing.T) {
	for _, enc := range []bool{false, true} {
		ctx := context.Background()
		mem := storage.NewMemory()
		var chunks [][]byte
		for i := range 400 {
			chunks = append(chunks, randBytes(uint64(i), 1000+i*7)) // 1-4 kB, incompressible
		}
		for i := range 3 {
			chunks = append(chunks, randBytes(uint64(1000+i), 600_000))
		}
		ids := saveChunks(t, mem, enc, chunks)

		fs := faultstore.New(mem, 1)
		r, err := Open(ctx, fs, "w/", Options{Keys: testKeys{3}, Scope: "w"})
		require.NoError(t, err)
		before := fs.Calls(faultstore.OpGetRange)
		require.NoError(t, loadAll(ctx, r, ids, chunks, nil))
		reads := fs.Calls(faultstore.OpGetRange) - before
		// About 1.1 MB of small chunks: two windows, a few more when
		// parallel loads race past a window being fetched; plus one read
		// per large chunk.
		t.Logf("encrypted=%v: %d range reads for %d chunks", enc, reads, len(ids))
		require.LessOrEqual(t, reads, int64(3+2+16), "encrypted=%v: %d range reads for 403 chunks", enc, reads)
	}
}

// TestWindowFailureFallsBack: a window read that fails leaves the chunk to
// its own read; a flipped byte is still reported with the pack's key, and
// the chunks around it load.
func TestWindowFailureFallsBack(t *testing.T) {
	ctx := context.Background()
	mem := storage.NewMemory()
	chunks := [][]byte{randBytes(1, 2000), randBytes(2, 3000), randBytes(3, 4000)}
	ids := saveChunks(t, mem, true, chunks)

	fs := faultstore.New(mem, 1)
	r, err := Open(ctx, fs, "w/", Options{Keys: testKeys{3}, Scope: "w"})
	require.NoError(t, err)
	fs.AddRule(&faultstore.Rule{Op: faultstore.OpGetRange, Nth: fs.Calls(faultstore.OpGetRange) + 1})
	got, err := r.LoadChunk(ctx, ids[0], nil)
	require.NoError(t, err, "the failed window read is retried as the chunk's own read")
	require.Equal(t, chunks[0], got)

	// Flip a byte inside the second chunk; a fresh repository (no
	// window of the old bytes) reports it and still loads the others.
	loc, pack, ok := r.Lookup(ids[1])
	require.True(t, ok)
	raw, err := storage.ReadAll(ctx, mem, pack)
	require.NoError(t, err)
	raw[loc.Offset+loc.Length/2] ^= 1
	require.NoError(t, storage.PutBytes(ctx, mem, pack, raw, nil))
	r2, err := Open(ctx, mem, "w/", Options{Keys: testKeys{3}, Scope: "w"})
	require.NoError(t, err)
	for i, id := range ids {
		got, err := r2.LoadChunk(ctx, id, nil)
		if i == 1 {
			var ce *CorruptError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, pack, ce.Key)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, chunks[i], got)
	}
}

// TestIdleWindowsAreReleased: a release is pending while windows are held,
// and it drops those unused for windowIdle.
func TestIdleWindowsAreReleased(t *testing.T) {
	ctx := context.Background()
	mem := storage.NewMemory()
	ids := saveChunks(t, mem, false, [][]byte{randBytes(1, 2000)})
	r, err := Open(ctx, mem, "w/", Options{Scope: "w"})
	require.NoError(t, err)
	_, err = r.LoadChunk(ctx, ids[0], nil)
	require.NoError(t, err)
	ws := &sharedWindows
	ws.mu.Lock()
	require.NotEmpty(t, ws.wins)
	require.NotNil(t, ws.sweep, "a release is scheduled")
	for _, w := range ws.wins {
		if w.repo == r.serial {
			w.last = time.Now().Add(-windowIdle)
		}
	}
	ws.mu.Unlock()
	ws.release()
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, w := range ws.wins {
		require.NotEqual(t, r.serial, w.repo, "the idle window was dropped")
	}
}

// TestWindowBuffersAreReusedSafely loads 1,600 small chunks spread over
// about 13 windows (more than windowSlots), in shuffled order from 8
// goroutines, so windows are evicted and their buffers recycled into the
// next fetch while other loads still read them. Every chunk must read back
// equal: a buffer recycled while a reader still copies from it would hand
// that reader another window's bytes (plain: a hash mismatch; encrypted: a
// failed tag). Under -race, as CI runs it, recycling a buffer that a reader
// holds is also reported as a data race even when the bytes happen to
// match: with evict recycling regardless of references, it fails.
func TestWindowBuffersAreReusedSafely(t *testing.T) {
	for _, enc := range []bool{false, true} {
		ctx := context.Background()
		mem := storage.NewMemory()
		var chunks [][]byte
		for i := range 1600 {
			chunks = append(chunks, randBytes(uint64(i), 7000+i%2000))
		}
		ids := saveChunks(t, mem, enc, chunks)
		r, err := Open(ctx, mem, "w/", Options{Keys: testKeys{3}, Scope: "w"})
		require.NoError(t, err)
		order := rand.New(rand.NewPCG(1, 2)).Perm(len(ids))
		require.NoError(t, loadAll(ctx, r, ids, chunks, order), "encrypted=%v", enc)
		ws := &sharedWindows
		ws.mu.Lock()
		recycled := len(ws.free)
		ws.mu.Unlock()
		require.Positive(t, recycled, "evicted windows left their buffers for reuse")
	}
}

// loadAll loads ids from 8 goroutines, in the given order (nil: as
// listed), and checks each against chunks; it returns the errors met.
func loadAll(ctx context.Context, r *Repo, ids []ID, chunks [][]byte, order []int) error {
	if order == nil {
		order = make([]int, len(ids))
		for i := range order {
			order[i] = i
		}
	}
	const loaders = 8
	var wg sync.WaitGroup
	errs := make([]error, loaders)
	for g := range loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := g; k < len(order); k += loaders {
				i := order[k]
				got, err := r.LoadChunk(ctx, ids[i], nil)
				if err == nil && !bytes.Equal(got, chunks[i]) {
					err = fmt.Errorf("chunk %d differs", i)
				}
				if err != nil {
					errs[g] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// TestPacksAreReadOnce: small chunks asked for by eight loaders in a
// scrambled order (files restored in parallel finish out of order) read
// each byte of the pack about once: windows start at fixed offsets, so
// two loaders near each other share one instead of reading overlapping
// ones, and a chunk across a window boundary is read on its own.
func TestPacksAreReadOnce(t *testing.T) {
	ctx := context.Background()
	mem := storage.NewMemory()
	var chunks [][]byte
	for i := range 2500 {
		chunks = append(chunks, randBytes(uint64(i), 1000+i%3000)) // incompressible
	}
	ids := saveChunks(t, mem, true, chunks)
	var packBytes int64
	for oi, err := range mem.List(ctx, "w/packs/") {
		require.NoError(t, err)
		packBytes += oi.Size
	}
	require.Greater(t, packBytes, int64(3*windowSize), "the pack spans several windows")
	order := rand.New(rand.NewPCG(5, 6)).Perm(len(ids))
	// Scrambled within runs of 40: near each other, never in order.
	slices.Sort(order)
	for i := 0; i < len(order); i += 40 {
		rand.New(rand.NewPCG(uint64(i), 7)).Shuffle(min(40, len(order)-i), func(a, b int) { order[i+a], order[i+b] = order[i+b], order[i+a] })
	}
	counted := faultstore.New(mem, 1)
	r, err := Open(ctx, counted, "w/", Options{Keys: testKeys{3}, Scope: "w"})
	require.NoError(t, err)
	before := counted.BytesRead() // the config and index
	require.NoError(t, loadAll(ctx, r, ids, chunks, order))
	read := counted.BytesRead() - before
	t.Logf("read %d bytes of %d in packs (%.3f)", read, packBytes, float64(read)/float64(packBytes))
	require.LessOrEqual(t, read, packBytes+packBytes/50, "packs read more than once")
}

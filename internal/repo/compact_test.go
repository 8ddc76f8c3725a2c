package repo

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/storage"
)

// sessions saves chunks from to from+n-1, each in a session of its own
// (one index object each, as n backups write), and returns their IDs and
// contents.
func sessions(t *testing.T, r *Repo, from, n int) ([]ID, [][]byte) {
	t.Helper()
	ctx := context.Background()
	var ids []ID
	var chunks [][]byte
	for i := from; i < from+n; i++ {
		c := fmt.Appendf(nil, "chunk %d %s", i, randBytes(uint64(i), 100))
		s := r.NewSaver(ctx, 1)
		id := r.ChunkID(c)
		_, err := s.Save(id, c, true)
		require.NoError(t, err)
		require.NoError(t, s.Flush())
		ids, chunks = append(ids, id), append(chunks, c)
	}
	return ids, chunks
}

func countIndexes(t *testing.T, store storage.Store, prefix string) int {
	t.Helper()
	n := 0
	for _, err := range store.List(context.Background(), prefix+"index/") {
		require.NoError(t, err)
		n++
	}
	return n
}

// requireChunks opens the repository afresh and reads every chunk back.
func requireChunks(t *testing.T, store storage.Store, opts Options, ids []ID, chunks [][]byte) {
	t.Helper()
	ctx := context.Background()
	r, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	for i, id := range ids {
		got, err := r.LoadChunk(ctx, id, nil)
		require.NoError(t, err, "chunk %d", i)
		require.Equal(t, chunks[i], got)
	}
}

// TestCompactIndexBoundsIndexObjects: 24 sessions leave 24 index objects;
// compaction merges them into one merged object (they are too small for
// shards) and every chunk still loads, from this Repo and from a fresh
// one. Below the threshold nothing happens.
func TestCompactIndexBoundsIndexObjects(t *testing.T) {
	for _, enc := range []bool{false, true} {
		ctx := context.Background()
		store := storage.NewMemory()
		opts := Options{Create: true, Encrypt: enc, Keys: testKeys{7}, Scope: "t", Now: time.Now()}
		r, err := Open(ctx, store, "tenants/t/", opts)
		require.NoError(t, err)
		ids, chunks := sessions(t, r, 0, compactAbove)
		require.False(t, r.NeedsCompaction())
		rep, err := r.CompactIndex(ctx, nil)
		require.NoError(t, err)
		require.Zero(t, rep.Merged, "at the threshold nothing is merged")

		more, moreChunks := sessions(t, r, compactAbove, 8)
		ids, chunks = append(ids, more...), append(chunks, moreChunks...)
		require.Equal(t, 24, countIndexes(t, store, "tenants/t/"))
		require.True(t, r.NeedsCompaction())
		rep, err = r.CompactIndex(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, IndexCompaction{Merged: 24, Written: 1, Removed: 24}, *rep)
		require.Equal(t, 1, countIndexes(t, store, "tenants/t/"))
		for key := range r.loadedIdx {
			require.Contains(t, key, "/index/m-", "a merged object")
		}
		require.False(t, r.NeedsCompaction())
		for i, id := range ids {
			got, err := r.LoadChunk(ctx, id, nil)
			require.NoError(t, err)
			require.Equal(t, chunks[i], got)
		}
		requireChunks(t, store, opts, ids, chunks)
	}
}

// TestCompactIndexFailuresLoseNothing: a compaction whose write fails
// deletes nothing, one whose deletes fail leaves both the merged and the
// old objects; every chunk loads in each case, and a later compaction
// finishes the job.
func TestCompactIndexFailuresLoseNothing(t *testing.T) {
	for _, op := range []faultstore.Op{faultstore.OpPut, faultstore.OpDelete} {
		t.Run(string(op), func(t *testing.T) {
			ctx := context.Background()
			mem := storage.NewMemory()
			fs := faultstore.New(mem, 1)
			opts := Options{Create: true, Encrypt: true, Keys: testKeys{7}, Scope: "t", Now: time.Now()}
			r, err := Open(ctx, fs, "tenants/t/", opts)
			require.NoError(t, err)
			ids, chunks := sessions(t, r, 0, 40)
			rule := &faultstore.Rule{Op: op, KeyPrefix: "tenants/t/index/", FromNth: 3, Permanent: true}
			fs.AddRule(rule)
			if op == faultstore.OpPut {
				rule.FromNth = 1
			}
			_, err = r.CompactIndex(ctx, nil)
			require.Error(t, err)
			requireChunks(t, mem, opts, ids, chunks)
			rule.FromNth = 0 // the store recovers
			r2, err := Open(ctx, mem, "tenants/t/", opts)
			require.NoError(t, err)
			_, err = r2.CompactIndex(ctx, nil)
			require.NoError(t, err)
			require.Equal(t, 1, countIndexes(t, mem, "tenants/t/"))
			requireChunks(t, mem, opts, ids, chunks)
		})
	}
}

// TestReaderSurvivesCompaction: a Repo opened before another compacts the
// index refreshes it (the objects it loaded are gone) and still finds
// every chunk, and one listing the index just before the compaction's
// deletes reads the merged object instead of failing.
func TestReaderSurvivesCompaction(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	w, opts := newScope(t, store)
	ids, chunks := sessions(t, w, 0, 40)
	reader, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	listed, err := reader.listIndex(ctx) // a listing taken before the compaction
	require.NoError(t, err)
	_, err = w.CompactIndex(ctx, nil)
	require.NoError(t, err)

	require.NoError(t, reader.RefreshIndex(ctx))
	for i, id := range ids {
		got, err := reader.LoadChunk(ctx, id, nil)
		require.NoError(t, err)
		require.Equal(t, chunks[i], got)
	}
	late, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	late.resetIndex()
	require.NoError(t, late.loadListed(ctx, listed), "objects gone since the listing make it list again")
	require.Equal(t, len(ids), late.IndexLen())
}

// TestCompactionKeepsOneSmallBundle: beside the index's large bundle,
// merged deltas past mergedCap become a small bundle, and the next such
// compaction merges that one in too, so an open reads at most two
// bundle tables; every chunk loads from a fresh lazy Repo.
func TestCompactionKeepsOneSmallBundle(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	r, opts := newScope(t, store)
	ids, chunks := bigSessions(t, r, compactAbove+1, 2500) // ~2 MB of index
	rep, err := r.CompactIndex(ctx, nil)
	require.NoError(t, err)
	require.True(t, rep.Full)
	bundles := func() int {
		n := 0
		for k, err := range storage.ListKeys(ctx, store, "tenants/t/index/b") {
			require.NoError(t, err)
			require.True(t, r.isBundleKey(k))
			n++
		}
		return n
	}
	var merged []int
	for round := range 4 {
		more, moreChunks := bigSessions(t, r, compactAbove+1, 20+round) // new chunks each round
		ids, chunks = append(ids, more...), append(chunks, moreChunks...)
		rep, err := r.CompactIndex(ctx, nil)
		require.NoError(t, err)
		require.False(t, rep.Full, "round %d", round)
		merged = append(merged, rep.Merged)
		require.LessOrEqual(t, bundles(), 2, "round %d", round)
	}
	// Deltas into a merged object; then deltas and it into a small
	// bundle; again; then deltas, the merged object and the small bundle.
	require.Equal(t, []int{compactAbove + 1, compactAbove + 2, compactAbove + 1, compactAbove + 3}, merged)
	require.Equal(t, 2, bundles())
	lazy := opts
	lazy.LazyIndex = true
	requireChunks(t, store, lazy, ids, chunks)
}

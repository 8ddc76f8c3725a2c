package repo

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// storeContents is every object of s, key to content.
func storeContents(t *testing.T, s storage.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for oi, err := range s.List(context.Background(), "") {
		require.NoError(t, err)
		b, err := storage.ReadAll(context.Background(), s, oi.Key)
		require.NoError(t, err)
		out[oi.Key] = string(b)
	}
	return out
}

// newKeys returns the keys of after missing from before, sorted.
func newKeys(before, after map[string]string) []string {
	var out []string
	for k := range after {
		if _, ok := before[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// pruneFixture is a repository with packs of every kind a prune meets.
type pruneFixture struct {
	r      *Repo
	store  storage.Store
	chunks map[ID][]byte
	used   map[ID]bool
	// live: every chunk used; mostlyEmpty: 2 of 5 chunks used; dead:
	// indexed, no chunk used; orphan: no index lists it.
	live, mostlyEmpty, dead, orphan string
}

// session saves chunks of the given sizes in one Saver session (one data
// pack) and returns the pack's key, the index object's key and the IDs.
func (f *pruneFixture) session(t *testing.T, seed uint64, sizes ...int) (pack, index string, ids []ID) {
	t.Helper()
	before := storeContents(t, f.store)
	s := f.r.NewSaver(context.Background(), 1)
	for i, n := range sizes {
		data := randBytes(seed*100+uint64(i), n)
		id := f.r.ChunkID(data)
		_, err := s.Save(id, data, false)
		require.NoError(t, err)
		f.chunks[id] = data
		ids = append(ids, id)
	}
	require.NoError(t, s.Flush())
	added := newKeys(before, storeContents(t, f.store))
	require.Len(t, added, 2, "one pack and one index object, got %v", added)
	for _, k := range added {
		if f.r.IsPackKey(k) {
			pack = k
		} else {
			index = k
		}
	}
	return pack, index, ids
}

func newPruneFixture(t *testing.T, encrypt bool) *pruneFixture {
	ctx := context.Background()
	store := storage.NewMemory()
	r, err := Open(ctx, store, "tenants/t/", Options{Create: true, Encrypt: encrypt, Keys: testKeys{3}, Scope: "t", Now: time.Now()})
	require.NoError(t, err)
	f := &pruneFixture{r: r, store: store, chunks: map[ID][]byte{}, used: map[ID]bool{}}
	var ids []ID
	f.live, _, ids = f.session(t, 1, 40_000, 30_000)
	f.used[ids[0]], f.used[ids[1]] = false, true
	f.mostlyEmpty, _, ids = f.session(t, 2, 20_000, 20_000, 20_000, 20_000, 20_000)
	f.used[ids[0]], f.used[ids[1]] = false, true // the second is an entry list's
	f.dead, _, _ = f.session(t, 3, 10_000, 10_000)
	var orphanIndex string
	f.orphan, orphanIndex, _ = f.session(t, 4, 5_000)
	require.NoError(t, store.Delete(ctx, orphanIndex)) // as a crash before the index leaves it
	require.NoError(t, r.ReloadIndex(ctx))
	return f
}

func TestPlanPruneListsExactlyWhatGoes(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t, false)
	before := storeContents(t, f.store)

	plan, err := f.r.PlanPrune(ctx, f.used, 0.5)
	require.NoError(t, err)
	require.Equal(t, before, storeContents(t, f.store), "planning changed the store")

	keys := func(ps []PrunePack) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Key)
		}
		return out
	}
	wantDelete := []string{f.dead, f.orphan}
	slices.Sort(wantDelete)
	require.Equal(t, wantDelete, keys(plan.Delete), "packs to delete")
	require.Equal(t, []string{f.mostlyEmpty}, keys(plan.Repack), "packs to repack")
	indexes := f.r.IndexKeys()
	slices.Sort(indexes)
	require.Equal(t, indexes, plan.Indexes, "index objects replaced")

	for _, p := range plan.Delete {
		require.Equal(t, int64(len(before[p.Key])), p.Size, "size of %s", p.Key)
		require.Zero(t, p.LiveChunks, "%s", p.Key)
		if p.Key == f.orphan {
			require.False(t, p.Indexed, "the orphan pack is listed by no index")
			require.Equal(t, p.Size, p.DeadBytes)
		} else {
			require.True(t, p.Indexed)
			require.Equal(t, 2, p.DeadChunks)
			require.Equal(t, int64(20_000), p.DeadBytes)
		}
	}
	rp := plan.Repack[0]
	require.Equal(t, []int{2, 3}, []int{rp.LiveChunks, rp.DeadChunks}, "live and dead chunks of the repacked pack")
	require.Equal(t, []int64{40_000, 60_000}, []int64{rp.LiveBytes, rp.DeadBytes}, "live and dead bytes")

	packBytes := int64(len(before[f.dead]) + len(before[f.orphan]) + len(before[f.mostlyEmpty]))
	require.Equal(t, PruneStats{
		PacksDeleted: 2, PacksRepacked: 1, UnindexedPacks: 1, IndexesReplaced: 3,
		ChunksKept: 4, ChunksDropped: 5, ChunksUnusedKept: 0,
		PackBytesDeleted: packBytes, PackBytesWritten: 40_000, BytesFreed: packBytes - 40_000,
	}, plan.Stats)
}

func TestExecutePruneDoesExactlyThePlan(t *testing.T) {
	for _, enc := range []bool{false, true} {
		ctx := context.Background()
		f := newPruneFixture(t, enc)
		plan, err := f.r.PlanPrune(ctx, f.used, 0.5)
		require.NoError(t, err)
		before := storeContents(t, f.store)

		st, err := f.r.ExecutePrune(ctx, plan, nil)
		require.NoError(t, err)
		after := storeContents(t, f.store)

		removed := newKeys(after, before)
		want := slices.Concat([]string{f.dead, f.orphan, f.mostlyEmpty}, plan.Indexes)
		slices.Sort(want)
		require.Equal(t, want, removed, "objects removed (encrypted=%v)", enc)
		var deleted, written int64
		var newPacks int
		for _, k := range removed {
			if f.r.IsPackKey(k) {
				deleted += int64(len(before[k]))
			}
		}
		for _, k := range newKeys(before, after) {
			if f.r.IsPackKey(k) {
				newPacks++
				written += int64(len(after[k]))
			}
		}
		require.Equal(t, 2, newPacks, "one data and one entry-list pack for the repacked chunks")
		require.Equal(t, deleted, st.PackBytesDeleted, "bytes of the packs deleted")
		require.Equal(t, written, st.PackBytesWritten, "bytes of the packs written")
		require.Equal(t, deleted-written, st.BytesFreed)
		require.Equal(t, []int{2, 1, 1, 5}, []int{st.PacksDeleted, st.PacksRepacked, st.UnindexedPacks, st.ChunksDropped})

		// Another process sees every used chunk, byte for byte, and no other.
		r2, err := Open(ctx, f.store, "tenants/t/", Options{Keys: testKeys{3}, Scope: "t"})
		require.NoError(t, err)
		for id, data := range f.chunks {
			_, isUsed := f.used[id]
			require.Equal(t, isUsed, r2.Has(id), "chunk %s in the index", id)
			if isUsed {
				got, err := r2.LoadChunk(ctx, id, nil)
				require.NoError(t, err)
				require.Equal(t, data, got, "chunk %s", id)
			}
		}
		again, err := r2.PlanPrune(ctx, f.used, 0.5)
		require.NoError(t, err)
		require.True(t, again.Empty(), "a second plan finds nothing: %+v", again.Stats)
	}
}

func TestExecutePruneRefusesStalePlan(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t, false)
	plan, err := f.r.PlanPrune(ctx, f.used, 0.5)
	require.NoError(t, err)
	f.session(t, 5, 1_000) // a backup's index lands after the plan
	before := storeContents(t, f.store)
	_, err = f.r.ExecutePrune(ctx, plan, nil)
	require.ErrorIs(t, err, ErrStalePlan)
	require.Equal(t, before, storeContents(t, f.store), "a refused plan changes nothing")
}

func TestUnreferencedPacks(t *testing.T) {
	f := newPruneFixture(t, false)
	got, err := f.r.UnreferencedPacks(context.Background())
	require.NoError(t, err)
	size := int64(len(storeContents(t, f.store)[f.orphan]))
	require.Equal(t, []PrunePack{{Key: f.orphan, Size: size, DeadBytes: size}}, got)
}

package repo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrStalePlan: the index changed between PlanPrune and ExecutePrune, so
// the plan no longer describes the repository. Plan again under the
// exclusive lock.
var ErrStalePlan = errors.New("prune plan is stale: the repository's index changed since it was made")

// PrunePack is one pack a prune deletes or rewrites.
type PrunePack struct {
	// Key is the pack's object key.
	Key string `json:"key"`
	// Size is the stored object's size; 0 for a pack the index lists but
	// the store lacks (its entries leave the index).
	Size int64 `json:"size"`
	// Indexed is false for a pack no index object lists: a backup that
	// crashed (or, seen without the exclusive lock, one still running)
	// uploaded it.
	Indexed bool `json:"indexed"`
	// LiveChunks and LiveBytes count the chunks some snapshot references,
	// DeadChunks and DeadBytes the others, by the lengths the index
	// records. An unindexed pack has DeadBytes equal to its Size.
	LiveChunks int   `json:"live_chunks"`
	DeadChunks int   `json:"dead_chunks"`
	LiveBytes  int64 `json:"live_bytes"`
	DeadBytes  int64 `json:"dead_bytes"`

	live []liveChunk // what a repack copies
}

// liveChunk is a referenced chunk of a pack to repack; meta marks a chunk
// of an entry list, which goes to a metadata pack.
type liveChunk struct {
	id   ID
	meta bool
}

// PruneStats sums up a prune: in a plan, what it would do; from
// ExecutePrune, what it did.
type PruneStats struct {
	// PacksDeleted counts the packs deleted whole, UnindexedPacks among
	// them; PacksRepacked the packs rewritten with their live chunks.
	PacksDeleted   int `json:"packs_deleted"`
	PacksRepacked  int `json:"packs_repacked"`
	UnindexedPacks int `json:"unindexed_packs"`
	// IndexesReplaced counts the index objects the rewritten index replaces.
	IndexesReplaced int `json:"indexes_replaced"`
	// ChunksKept counts the referenced chunks; ChunksDropped the
	// unreferenced chunks that leave the index with their packs;
	// ChunksUnusedKept the unreferenced chunks that stay, in packs whose
	// unused share is within the threshold.
	ChunksKept       int `json:"chunks_kept"`
	ChunksDropped    int `json:"chunks_dropped"`
	ChunksUnusedKept int `json:"chunks_unused_kept"`
	// PackBytesDeleted is the size of the pack objects deleted (deleted
	// and repacked). PackBytesWritten is, after ExecutePrune, the size of
	// the packs repacking wrote; in a plan, the chunk bytes it would copy
	// (pack headers are known only once written). BytesFreed is their
	// difference. Index objects are rewritten and counted in neither.
	PackBytesDeleted int64 `json:"pack_bytes_deleted"`
	PackBytesWritten int64 `json:"pack_bytes_written"`
	BytesFreed       int64 `json:"bytes_freed"`
}

// PrunePlan is what a prune will do: a value to print (a dry run is the
// plan) or to hand to ExecutePrune. Delete and Repack are sorted by key.
type PrunePlan struct {
	// Delete lists the packs with no referenced chunk, indexed or not.
	Delete []PrunePack `json:"delete"`
	// Repack lists the packs whose unused share exceeds the threshold.
	Repack []PrunePack `json:"repack"`
	// Indexes lists the index objects replaced by one rewritten index;
	// empty when there is nothing to delete or repack.
	Indexes []string   `json:"indexes"`
	Stats   PruneStats `json:"stats"`

	loaded []string // every index object the plan was made from
}

// Empty reports whether the plan changes nothing.
func (p *PrunePlan) Empty() bool { return len(p.Delete) == 0 && len(p.Repack) == 0 }

// ReloadIndex forgets the loaded index and reads every index object again
// (after a prune rewrote them).
func (r *Repo) ReloadIndex(ctx context.Context) error {
	r.resetIndex()
	return r.CompleteIndex(ctx)
}

// resetIndex empties the loaded index.
func (r *Repo) resetIndex() {
	r.mu.Lock()
	r.index = map[ID]Location{}
	r.packNames = nil
	r.packIdx = map[string]int{}
	r.loadedIdx = map[string]struct{}{}
	r.lazy = lazyIndex{}
	r.tables = nil
	r.mu.Unlock()
}

// PlanPrune decides what a prune removes, reading and writing nothing but
// the index and a listing of the packs. used holds every chunk a live
// snapshot references (true for a chunk of an entry list). Packs with no
// used chunk are deleted, and so are packs no index lists; packs whose
// unused share of chunk bytes exceeds threshold are repacked. A used chunk
// missing from the index fails with ErrCorrupt.
//
// PlanPrune takes no lock: the plan of a caller without the exclusive lock
// is a report (a running backup's packs show as unindexed), and only a
// plan made under the exclusive lock may be executed. The index is brought
// up to date additively (CompleteIndex), so a Repo shared with a running
// backup keeps serving it.
func (r *Repo) PlanPrune(ctx context.Context, used map[ID]bool, threshold float64) (*PrunePlan, error) {
	if err := r.CompleteIndex(ctx); err != nil {
		return nil, err
	}
	for id := range used {
		if !r.Has(id) {
			return nil, fmt.Errorf("chunk %s is referenced by a snapshot but missing from the index: run check before pruning: %w", id, ErrCorrupt)
		}
	}
	stored, err := r.listPacks(ctx)
	if err != nil {
		return nil, err
	}
	plan := &PrunePlan{loaded: r.IndexKeys()}
	slices.Sort(plan.loaded)
	plan.Stats.ChunksKept = len(used)
	usage := r.packUsage(used)
	keys := make([]string, 0, len(stored)+len(usage))
	for k := range stored {
		keys = append(keys, k)
	}
	for k := range usage {
		if _, ok := stored[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, key := range keys {
		plan.add(key, stored, usage[key], threshold)
	}
	if !plan.Empty() {
		plan.Indexes = plan.loaded
		plan.Stats.IndexesReplaced = len(plan.Indexes)
	}
	plan.Stats.BytesFreed = plan.Stats.PackBytesDeleted - plan.Stats.PackBytesWritten
	return plan, nil
}

// add decides the fate of the pack at key: u is its use by the index (nil
// when no index lists it), stored the sizes of the packs in the store.
func (p *PrunePlan) add(key string, stored map[string]int64, u *PrunePack, threshold float64) {
	size, inStore := stored[key]
	st := &p.Stats
	switch {
	case u == nil:
		p.Delete = append(p.Delete, PrunePack{Key: key, Size: size, DeadBytes: size})
		st.PacksDeleted++
		st.UnindexedPacks++
	case !inStore && u.LiveChunks > 0:
		// Damage check reports; repacking it would fail and deleting it
		// would drop live chunks from the index. Leave it.
		st.ChunksUnusedKept += u.DeadChunks
		return
	case u.LiveChunks == 0:
		u.Size = size
		p.Delete = append(p.Delete, *u)
		st.PacksDeleted++
		st.ChunksDropped += u.DeadChunks
	case float64(u.DeadBytes)/float64(u.LiveBytes+u.DeadBytes) > threshold:
		u.Size = size
		p.Repack = append(p.Repack, *u)
		st.PacksRepacked++
		st.ChunksDropped += u.DeadChunks
		st.PackBytesWritten += u.LiveBytes
	default:
		st.ChunksUnusedKept += u.DeadChunks
		return
	}
	st.PackBytesDeleted += size
}

// listPacks returns the size of every pack object in the store.
func (r *Repo) listPacks(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for oi, err := range r.store.List(ctx, r.prefix+"packs/") {
		if err != nil {
			return nil, err
		}
		if r.IsPackKey(oi.Key) {
			out[oi.Key] = oi.Size
		}
	}
	return out, nil
}

// packUsage sums, per indexed pack, its referenced and unreferenced
// chunks. A pack the index names but whose every entry is a duplicate of
// a chunk indexed in another pack has no chunk of its own: it is listed
// with zero counts.
func (r *Repo) packUsage(used map[ID]bool) map[string]*PrunePack {
	r.mu.RLock()
	defer r.mu.RUnlock()
	packs := make(map[string]*PrunePack, len(r.packNames))
	for _, key := range r.packNames {
		packs[key] = &PrunePack{Key: key, Indexed: true}
	}
	for id, loc := range r.index {
		p := packs[r.packNames[loc.Pack]]
		if meta, ok := used[id]; ok {
			p.LiveChunks++
			p.LiveBytes += int64(loc.Length)
			p.live = append(p.live, liveChunk{id: id, meta: meta})
		} else {
			p.DeadChunks++
			p.DeadBytes += int64(loc.Length)
		}
	}
	for _, p := range packs {
		slices.SortFunc(p.live, func(a, b liveChunk) int {
			return cmp.Compare(r.index[a.id].Offset, r.index[b.id].Offset)
		})
	}
	return packs
}

// UnreferencedPacks lists the packs in the store that no loaded index
// object lists, with their sizes, sorted by key: packs of a backup that
// crashed or is still running. It completes the loaded index first
// (CompleteIndex): a pack only an unread shard lists is referenced.
func (r *Repo) UnreferencedPacks(ctx context.Context) ([]PrunePack, error) {
	if err := r.CompleteIndex(ctx); err != nil {
		return nil, err
	}
	stored, err := r.listPacks(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	var out []PrunePack
	for key, size := range stored {
		if _, ok := r.packIdx[key]; !ok {
			out = append(out, PrunePack{Key: key, Size: size, DeadBytes: size})
		}
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b PrunePack) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

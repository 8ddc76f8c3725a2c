package backup

import "github.com/iluxsys/steward/internal/repo"

// PruneReport says what a prune did or, in a dry run, would do. The zero
// value is a prune that changed nothing.
type PruneReport struct {
	// DryRun marks a report of what a prune would do: nothing changed.
	DryRun bool `json:"dry_run"`
	// PacksDeleted counts the packs deleted whole, OrphanPacks among them
	// (packs no index lists: left by a crashed backup or, in a dry run,
	// possibly by one still running); PacksRepacked the packs rewritten
	// with only their referenced chunks.
	PacksDeleted  int `json:"packs_deleted"`
	PacksRepacked int `json:"packs_repacked"`
	OrphanPacks   int `json:"orphan_packs"`
	// PackBytesDeleted is the stored size of the packs deleted or
	// repacked; PackBytesWritten the size of the packs repacking wrote
	// (in a dry run, the chunk bytes it would copy, headers not known
	// yet); BytesFreed their difference: how much the packs shrink. The
	// rewritten index is counted in neither.
	PackBytesDeleted int64 `json:"pack_bytes_deleted"`
	PackBytesWritten int64 `json:"pack_bytes_written"`
	BytesFreed       int64 `json:"bytes_freed"`
	// ChunksKept counts the chunks some snapshot references;
	// ChunksDeleted the unreferenced chunks removed from the index with
	// their packs; ChunksUnusedKept the unreferenced chunks left in
	// packs whose unused share is within RepackThreshold.
	ChunksKept       int `json:"chunks_kept"`
	ChunksDeleted    int `json:"chunks_deleted"`
	ChunksUnusedKept int `json:"chunks_unused_kept"`
	// Packs lists every pack deleted or repacked, by key.
	Packs []PrunedPack `json:"packs"`
}

// PrunedPack is one pack a prune deletes or repacks.
type PrunedPack struct {
	Key string `json:"key"`
	// Action is "delete" or "repack".
	Action string `json:"action"`
	// Indexed is false for an orphan pack, which no index lists.
	Indexed bool `json:"indexed"`
	// Size is the stored object's size (0 for an indexed pack the store
	// lacks); LiveBytes and DeadBytes are the stored bytes of its
	// referenced and unreferenced chunks.
	Size      int64 `json:"size"`
	LiveBytes int64 `json:"live_bytes"`
	DeadBytes int64 `json:"dead_bytes"`
}

// pruneReport reports plan with the stats of its execution (or, in a dry
// run, its own).
func pruneReport(plan *repo.PrunePlan, st *repo.PruneStats, dryRun bool) *PruneReport {
	rep := &PruneReport{
		DryRun:       dryRun,
		PacksDeleted: st.PacksDeleted, PacksRepacked: st.PacksRepacked, OrphanPacks: st.UnindexedPacks,
		PackBytesDeleted: st.PackBytesDeleted, PackBytesWritten: st.PackBytesWritten, BytesFreed: st.BytesFreed,
		ChunksKept: st.ChunksKept, ChunksDeleted: st.ChunksDropped, ChunksUnusedKept: st.ChunksUnusedKept,
		Packs: []PrunedPack{},
	}
	add := func(ps []repo.PrunePack, action string) {
		for _, p := range ps {
			rep.Packs = append(rep.Packs, PrunedPack{Key: p.Key, Action: action, Indexed: p.Indexed, Size: p.Size, LiveBytes: p.LiveBytes, DeadBytes: p.DeadBytes})
		}
	}
	add(plan.Delete, "delete")
	add(plan.Repack, "repack")
	return rep
}

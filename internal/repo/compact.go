package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/iluxsys/steward/storage"
)

// Index compaction. Every backup that stores anything writes a delta
// index object for its packs, so without compaction a scope with 10,000
// backups has 10,000 of them and opening it reads them all. CompactIndex
// runs once there are more than compactAbove objects that are not shard
// objects (shard.go, bundle.go), which every open reads whole, and
//   - merges them into one merged object (index/m-<random>), or, once
//     they hold mergedCap bytes, into a bundle a lazy Repo reads in part;
//   - once everything but the largest bundle holds a mergedShare-th of
//     the index's bytes (and at least shardTarget bytes), rewrites the
//     whole index as one bundle.
//
// A compaction that writes a bundle, given the entry-list chunks of the
// snapshot just taken (hot), also writes their entries, duplicated, as
// the new merged object: the next backup reads that entry list as its
// parent's, and finds it without reading a part (the chunks a backup
// reuses from its parent are otherwise in bundles, one read each).
//
// So an open reads at most compactAbove deltas, one merged object of at
// most mergedCap bytes, the tables of the bundles (at most mergedShare/
// (mergedCap/index size) small ones besides the largest) and, for a lazy
// Repo, the parts its lookups touch; and a full rewrite, whose cost
// follows the index's size, comes only after the index has grown by a
// mergedShare-th, so its cost per backup does not grow with the index.
const (
	compactAbove = 16
	mergedShare  = 16
	mergedBase   = "index/m-"
	// mergedCap: merged deltas of this many bytes or more are written as
	// a bundle: every open reads a merged object whole (a tenth of a
	// millisecond per 100 KB at 10,000 snapshots).
	mergedCap = 32 << 10
	// maxHot bounds the hot chunks a full rewrite keeps in the merged
	// object (Saver.MetaIDs): 4,096 segments are about 65,000 files.
	maxHot = 4096
	// hotShare: the hot entries are kept only when they are at most a
	// hotShare-th of the index, so that every open reads little.
	hotShare = 32
)

// IndexCompaction says what CompactIndex did.
type IndexCompaction struct {
	Merged  int  // index objects read and merged
	Written int  // index objects written
	Removed int  // merged objects deleted
	Full    bool // the whole index was rewritten as shard objects
}

// NeedsCompaction reports whether the loaded index has more than
// compactAbove objects that are not shard objects.
func (r *Repo) NeedsCompaction() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for key := range r.loadedIdx {
		if !r.isShardObject(objectKey(key)) {
			n++
		}
	}
	return n > compactAbove
}

// CompactIndex compacts the index (see above) when NeedsCompaction: it
// reads the objects it merges, writes the merged objects, and only then
// deletes the ones it read, so the store always holds a superset of the
// index and a crash at any point leaves it whole. The entries it read
// join the loaded index.
//
// The caller holds the scope's shared lock (a backup) or its exclusive
// lock, so no prune rewrites the index meanwhile. Concurrent backups and
// readers are safe: a reader that finds an object gone lists the index
// again (loadListed, need), and two compactions of the same objects only
// write the same entries twice.
func (r *Repo) CompactIndex(ctx context.Context, hot []ID) (*IndexCompaction, error) {
	rep := &IndexCompaction{}
	if !r.NeedsCompaction() {
		return rep, nil
	}
	o, err := r.listIndexObjects(ctx)
	if err != nil {
		return rep, fmt.Errorf("compact index: %w", err)
	}
	rep.Full = o.total-o.largest >= max(int64(shardTarget), o.total/mergedShare)
	merge := o.merge
	if rep.Full {
		merge = append(merge, o.shards...)
	}
	packs, read, err := r.readMerged(ctx, merge)
	if err != nil {
		return rep, fmt.Errorf("compact index: %w", err)
	}
	bundle := rep.Full || indexSize(packs) >= mergedCap
	if bundle && !rep.Full && len(o.small) > 0 { // one small bundle at most
		more, moreRead, err := r.readMerged(ctx, o.small)
		if err != nil {
			return rep, fmt.Errorf("compact index: %w", err)
		}
		packs, read = append(packs, more...), append(read, moreRead...)
	}
	rep.Merged = len(read)
	written, err := r.writeCompacted(ctx, packs, hot, bundle, o.total)
	rep.Written = len(written)
	if err != nil {
		return rep, fmt.Errorf("compact index: %w (nothing was deleted)", err)
	}
	r.swapIndexes(read, packs, written)
	for _, key := range read {
		if err := r.store.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return rep, fmt.Errorf("compact index: delete merged index %q: %w (the merged objects are complete)", key, err)
		}
		rep.Removed++
	}
	return rep, nil
}

// indexObjects is the index as a compaction lists it.
type indexObjects struct {
	merge   []string // deltas and merged objects, which every open reads
	shards  []string // bundles and shard objects
	small   []string // the bundles but the largest
	total   int64    // bytes of all
	largest int64    // bytes of the largest bundle
}

// listIndexObjects lists the index objects and sorts them for CompactIndex.
func (r *Repo) listIndexObjects(ctx context.Context) (*indexObjects, error) {
	o := &indexObjects{}
	var bundles []string
	largestKey := ""
	for oi, err := range r.store.List(ctx, r.prefix+"index/") {
		if err != nil {
			return nil, err
		}
		o.total += oi.Size
		if r.isBundleKey(oi.Key) {
			bundles = append(bundles, oi.Key)
			if oi.Size > o.largest {
				o.largest, largestKey = oi.Size, oi.Key
			}
		}
		if r.isShardObject(oi.Key) {
			o.shards = append(o.shards, oi.Key)
		} else {
			o.merge = append(o.merge, oi.Key)
		}
	}
	for _, b := range bundles {
		if b != largestKey {
			o.small = append(o.small, b)
		}
	}
	return o, nil
}

// writeCompacted writes the merged packs: as a bundle (and the hot
// entries, when at most a hotShare-th of the index's total bytes, as a
// merged object) or as one merged object.
func (r *Repo) writeCompacted(ctx context.Context, packs []IndexPack, hot []ID, bundle bool, total int64) ([]string, error) {
	if !bundle {
		written, _, err := r.writeIndexAs(ctx, mergedBase, packs)
		return written, err
	}
	written, err := r.writeShards(ctx, packs)
	if kept := hotEntries(packs, hot); err == nil && len(kept) > 0 && indexSize(kept) <= total/hotShare {
		var more []string
		more, _, err = r.writeIndexAs(ctx, mergedBase, kept)
		written = append(written, more...)
	}
	return written, err
}

// hotEntries returns the entries of packs whose IDs are in hot.
func hotEntries(packs []IndexPack, hot []ID) []IndexPack {
	if len(hot) == 0 {
		return nil
	}
	want := make(map[ID]bool, len(hot))
	for _, id := range hot {
		want[id] = true
	}
	var out []IndexPack
	for _, p := range packs {
		var kept []PackEntry
		for _, e := range p.Entries {
			if want[e.ID] {
				kept = append(kept, e)
				delete(want, e.ID)
			}
		}
		if len(kept) > 0 {
			out = append(out, IndexPack{Name: p.Name, Entries: kept})
		}
	}
	return out
}

// readMerged reads the index objects at keys, skipping those a concurrent
// compaction merged meanwhile, and returns their packs and the keys read.
func (r *Repo) readMerged(ctx context.Context, keys []string) (packs []IndexPack, read []string, err error) {
	slices.Sort(keys)
	for _, key := range keys {
		p, err := r.readIndex(ctx, key)
		if errors.Is(err, storage.ErrNotFound) {
			continue // merged by a concurrent compaction
		}
		if err != nil {
			return nil, nil, err
		}
		packs = append(packs, p...)
		read = append(read, key)
	}
	return packs, read, nil
}

// swapIndexes records that the objects written replace the objects
// merged, whose entries (packs) join the loaded index: the written
// objects hold nothing the Repo has not loaded.
func (r *Repo) swapIndexes(merged []string, packs []IndexPack, written []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range packs {
		r.addPackLocked(p)
	}
	for _, key := range merged {
		delete(r.loadedIdx, key)
		r.lazy.remove(key)
		r.forgetBundleLocked(key)
	}
	for _, key := range written {
		r.markLoadedLocked(key)
	}
}

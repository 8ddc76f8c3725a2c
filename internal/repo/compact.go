package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/iluxsys/steward/storage"
)

// Index compaction. Every backup that stores anything writes an index
// object for its packs, so without compaction a scope with 10,000 backups
// has 10,000 of them and opening it reads them all. CompactIndex merges the
// small ones once there are more than compactAbove, so the number of index
// objects stays near the number of full ones (indexSplit bytes each: a
// function of the repository's size, not of its history) plus at most
// compactAbove.
const (
	compactAbove = 32
	// fullIndex is the stored size from which an index object counts as
	// full and is left as it is.
	fullIndex = indexSplit / 2
)

// IndexCompaction says what CompactIndex did.
type IndexCompaction struct {
	Merged  int // small index objects read and merged
	Written int // index objects written
	Removed int // merged objects deleted
}

// NeedsCompaction reports whether the loaded index has more than
// compactAbove small objects.
func (r *Repo) NeedsCompaction() bool {
	return len(r.smallIndexes()) > compactAbove
}

// smallIndexes returns the keys of the loaded index objects below
// fullIndex bytes, sorted.
func (r *Repo) smallIndexes() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var keys []string
	for key, size := range r.loadedIdx {
		if size < fullIndex {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys
}

// CompactIndex merges the small index objects into as few as indexSplit
// allows: it reads them, writes the merged objects, and only then deletes
// the ones it read, so the store always holds a superset of the index and
// a crash at any point leaves it whole. It does nothing when there are
// compactAbove small objects or fewer.
//
// The caller holds the scope's shared lock (a backup) or its exclusive
// lock, so no prune rewrites the index meanwhile. Concurrent backups and
// readers are safe: a reader that finds an object gone lists the index
// again (loadListed), and two compactions of the same objects only write
// the same entries twice.
func (r *Repo) CompactIndex(ctx context.Context) (*IndexCompaction, error) {
	keys := r.smallIndexes()
	rep := &IndexCompaction{}
	if len(keys) <= compactAbove {
		return rep, nil
	}
	var packs []IndexPack
	var read []string
	for _, key := range keys {
		p, err := r.readIndex(ctx, key)
		if errors.Is(err, storage.ErrNotFound) {
			continue // merged by a concurrent compaction
		}
		if err != nil {
			return rep, fmt.Errorf("compact index: %w", err)
		}
		packs = append(packs, p...)
		read = append(read, key)
	}
	rep.Merged = len(read)
	written, n, err := r.writeIndex(ctx, packs)
	rep.Written = len(written)
	if err != nil {
		return rep, fmt.Errorf("compact index: %w (nothing was deleted)", err)
	}
	r.swapIndexes(read, written, n)
	for _, key := range read {
		if err := r.store.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return rep, fmt.Errorf("compact index: delete merged index %q: %w (the merged objects are complete)", key, err)
		}
		rep.Removed++
	}
	return rep, nil
}

// swapIndexes records that the objects written (n bytes in all) replace
// the objects merged, whose entries the loaded index already holds.
func (r *Repo) swapIndexes(merged, written []string, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, key := range merged {
		delete(r.loadedIdx, key)
	}
	for _, key := range written {
		r.loadedIdx[key] = n / int64(len(written))
	}
}

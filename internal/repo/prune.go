package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/iluxsys/steward/storage"
)

// PruneStats says what a prune did, or would do in a dry run.
type PruneStats struct {
	PacksDeleted, PacksRepacked, OrphanPacks int
	ChunksKept, ChunksDeleted                int
	BytesFreed                               int64
}

// ReloadIndex forgets the loaded index and reads every index object again
// (after a prune rewrote them).
func (r *Repo) ReloadIndex(ctx context.Context) error {
	r.mu.Lock()
	r.index = map[ID]Location{}
	r.packNames = nil
	r.packIdx = map[string]int{}
	r.loadedIdx = map[string]bool{}
	r.mu.Unlock()
	return r.LoadIndex(ctx)
}

// Prune deletes what used does not reference: packs with no used chunk
// are deleted, packs whose unused share exceeds threshold are rewritten
// with only their used chunks, packs no index knows (left by a crashed
// backup) are deleted, and the index is rewritten as one object. The
// caller holds the exclusive lock and computed used from every live
// snapshot; used[id] is true for a chunk of an entry list, which a repack
// writes to metadata packs (Saver.SaveMeta) as a backup does.
//
// Order keeps every step crash-safe: new packs, then their index, then the
// index of the kept packs; only then are the old index objects deleted,
// and the obsolete packs last. A crash leaves at worst duplicate index
// entries or unreferenced packs, which the next prune removes.
func (r *Repo) Prune(ctx context.Context, used map[ID]bool, threshold float64, dryRun bool) (*PruneStats, error) {
	if err := r.ReloadIndex(ctx); err != nil {
		return nil, err
	}
	oldIndexes := r.IndexKeys()
	type packUse struct {
		usedBytes, unusedBytes int64
		used                   []ID
	}
	packs := map[string]*packUse{}
	st := &PruneStats{}
	r.ForEachIndexed(func(id ID, loc Location, packKey string) {
		p := packs[packKey]
		if p == nil {
			p = &packUse{}
			packs[packKey] = p
		}
		if _, ok := used[id]; ok {
			p.usedBytes += int64(loc.Length)
			p.used = append(p.used, id)
		} else {
			p.unusedBytes += int64(loc.Length)
		}
	})
	for id := range used {
		if !r.Has(id) {
			return nil, fmt.Errorf("chunk %s is referenced by a snapshot but missing from the index: run check before pruning: %w", id, ErrCorrupt)
		}
	}
	var deletePacks, repack []string
	for key, p := range packs {
		switch {
		case len(p.used) == 0:
			deletePacks = append(deletePacks, key)
			st.BytesFreed += p.unusedBytes
		case float64(p.unusedBytes)/float64(p.usedBytes+p.unusedBytes) > threshold:
			repack = append(repack, key)
			st.BytesFreed += p.unusedBytes
		}
	}
	for oi, err := range r.store.List(ctx, r.prefix+"packs/") {
		if err != nil {
			return nil, err
		}
		if _, known := packs[oi.Key]; !known && r.IsPackKey(oi.Key) {
			deletePacks = append(deletePacks, oi.Key)
			st.OrphanPacks++
			st.BytesFreed += oi.Size
		}
	}
	slices.Sort(deletePacks)
	slices.Sort(repack)
	st.PacksDeleted, st.PacksRepacked = len(deletePacks), len(repack)
	st.ChunksKept = len(used)
	st.ChunksDeleted = r.IndexLen() - len(used)
	if dryRun {
		return st, nil
	}
	if len(deletePacks) == 0 && len(repack) == 0 {
		return st, nil
	}

	// 1. Rewrite the used chunks of repacked packs into new packs.
	isRepack := map[string]bool{}
	for _, k := range repack {
		isRepack[k] = true
	}
	saver := r.NewSaver(ctx, 1)
	saver.force = true
	for _, key := range repack {
		for _, id := range packs[key].used {
			loc, _, _ := r.Lookup(id)
			data, err := r.LoadChunk(ctx, id, nil)
			if err != nil {
				saver.Abort()
				return nil, fmt.Errorf("repack %q: %w", key, err)
			}
			save := saver.Save
			if used[id] {
				save = saver.SaveMeta
			}
			if _, err := save(id, data, loc.Flags&FlagCompressed != 0); err != nil {
				saver.Abort()
				return nil, err
			}
		}
	}
	saver.noInstall = true
	if err := saver.Flush(); err != nil {
		return nil, fmt.Errorf("repack: %w", err)
	}
	// 2. One index object for the packs that stay as they are.
	isDeleted := map[string]bool{}
	for _, k := range deletePacks {
		isDeleted[k] = true
	}
	var keep []IndexPack
	r.mu.RLock()
	byPack := map[string]*IndexPack{}
	for id, loc := range r.index {
		key := r.packNames[loc.Pack]
		if isDeleted[key] || isRepack[key] {
			continue
		}
		ip := byPack[key]
		if ip == nil {
			ip = &IndexPack{Name: key[strings.LastIndexByte(key, '/')+1:]}
			byPack[key] = ip
		}
		ip.Entries = append(ip.Entries, PackEntry{ID: id, Flags: loc.Flags, Offset: loc.Offset, Length: loc.Length, RawLength: loc.RawLength})
	}
	r.mu.RUnlock()
	for _, ip := range byPack {
		keep = append(keep, *ip)
	}
	if _, _, err := r.writeIndex(ctx, keep); err != nil {
		return nil, err
	}
	// 3. Old index objects go, then the obsolete packs.
	for _, key := range oldIndexes {
		if err := r.store.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("delete old index: %w", err)
		}
	}
	for _, key := range append(deletePacks, repack...) {
		if err := r.store.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("delete pack: %w", err)
		}
	}
	if err := r.ReloadIndex(ctx); err != nil {
		return nil, err
	}
	return st, nil
}

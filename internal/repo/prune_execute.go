package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/iluxsys/steward/storage"
)

// ExecutePrune carries out plan, which PlanPrune made on this Repo under
// the exclusive lock the caller still holds: it refuses with ErrStalePlan a
// plan whose index objects are no longer those in the store. It returns
// what it did: the plan's counts, with the bytes repacking actually wrote.
//
// Order keeps every step crash-safe: the repacked chunks go to new packs,
// then one index (split as its size requires) lists the new packs and
// every kept one; only then are the old index objects deleted, and the
// obsolete packs last. A crash leaves at worst duplicate index entries or
// unreferenced packs, which the next prune removes. An empty plan changes
// nothing. progress, when not nil, is called after each pack repacked or
// deleted.
func (r *Repo) ExecutePrune(ctx context.Context, plan *PrunePlan, progress func(PruneProgress)) (*PruneStats, error) {
	st := plan.Stats
	if plan.Empty() {
		return &st, nil
	}
	if err := r.checkFresh(ctx, plan); err != nil {
		return nil, err
	}
	pr := newPruneTicker(plan, progress)
	newPacks, written, err := r.repack(ctx, plan.Repack, pr)
	if err != nil {
		return nil, err
	}
	if err := r.writePrunedIndex(ctx, plan, newPacks); err != nil {
		return nil, err
	}
	if err := r.deleteAll(ctx, plan.Indexes, "old index", nil); err != nil {
		return nil, err
	}
	var obsolete []string
	for _, p := range slices.Concat(plan.Delete, plan.Repack) {
		obsolete = append(obsolete, p.Key)
	}
	if err := r.deleteAll(ctx, obsolete, "pack", pr.packDone); err != nil {
		return nil, err
	}
	if err := r.ReloadIndex(ctx); err != nil {
		return nil, err
	}
	st.PackBytesWritten = written
	st.BytesFreed = st.PackBytesDeleted - written
	return &st, nil
}

// checkFresh refuses a plan made from other index objects than the store
// holds now.
func (r *Repo) checkFresh(ctx context.Context, plan *PrunePlan) error {
	now, err := r.listKeys(ctx, r.prefix+"index/")
	if err != nil {
		return err
	}
	if !slices.Equal(now, plan.loaded) {
		return fmt.Errorf("%w (%d index objects planned, %d now)", ErrStalePlan, len(plan.loaded), len(now))
	}
	return nil
}

// repack copies the live chunks of packs into new packs, which no index
// lists yet, and returns them with the bytes written.
func (r *Repo) repack(ctx context.Context, packs []PrunePack, pr *pruneTicker) ([]IndexPack, int64, error) {
	if len(packs) == 0 {
		return nil, 0, nil
	}
	saver := r.NewSaver(ctx, 1)
	saver.force = true
	var buf []byte
	for _, p := range packs {
		for _, c := range p.live {
			loc, _, _ := r.Lookup(c.id)
			data, err := r.LoadChunk(ctx, c.id, buf)
			if err != nil {
				saver.Abort()
				return nil, 0, fmt.Errorf("repack %q: %w", p.Key, err)
			}
			save := saver.Save
			if c.meta {
				save = saver.SaveMeta
			}
			if _, err := save(c.id, data, loc.Flags&FlagCompressed != 0); err != nil {
				saver.Abort()
				return nil, 0, fmt.Errorf("repack %q: %w", p.Key, err)
			}
			buf = data
			pr.bytes(int64(loc.Length))
		}
		pr.report()
	}
	done, err := saver.flushPacks()
	if err != nil {
		return nil, 0, fmt.Errorf("repack: %w", err)
	}
	return done, saver.StoredBytes(), nil
}

// writePrunedIndex writes the index of everything the plan keeps: the
// loaded entries of the packs it neither deletes nor repacks, and the new
// packs.
func (r *Repo) writePrunedIndex(ctx context.Context, plan *PrunePlan, newPacks []IndexPack) error {
	gone := map[string]bool{}
	for _, p := range slices.Concat(plan.Delete, plan.Repack) {
		gone[p.Key] = true
	}
	byPack := map[string]*IndexPack{}
	r.mu.RLock()
	for id, loc := range r.index {
		key := r.packNames[loc.Pack]
		if gone[key] {
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
	keep := newPacks
	for _, ip := range byPack {
		keep = append(keep, *ip)
	}
	if len(keep) == 0 {
		return nil
	}
	_, err := r.writeShards(ctx, keep)
	return err
}

// deleteAll deletes keys; one already gone is not an error.
func (r *Repo) deleteAll(ctx context.Context, keys []string, what string, done func()) error {
	for _, key := range keys {
		if err := r.store.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("delete %s: %w", what, err)
		}
		if done != nil {
			done()
		}
	}
	return nil
}

// PruneProgress is how far ExecutePrune is: the packs repacked or deleted
// of those the plan names, and the live bytes copied out of repacked packs.
type PruneProgress struct {
	PacksDone, PacksTotal int
	BytesDone, BytesTotal int64
}

// pruneTicker counts ExecutePrune's progress and reports it.
type pruneTicker struct {
	p  PruneProgress
	fn func(PruneProgress)
}

func newPruneTicker(plan *PrunePlan, fn func(PruneProgress)) *pruneTicker {
	t := &pruneTicker{fn: fn}
	t.p.PacksTotal = len(plan.Delete) + len(plan.Repack)
	for _, p := range plan.Repack {
		t.p.BytesTotal += p.LiveBytes
	}
	return t
}

// bytes counts n live bytes copied.
func (t *pruneTicker) bytes(n int64) { t.p.BytesDone += n }

// packDone counts one obsolete pack deleted (a repacked one too: its live
// chunks were copied before) and reports.
func (t *pruneTicker) packDone() {
	t.p.PacksDone++
	t.report()
}

func (t *pruneTicker) report() {
	if t.fn != nil {
		t.fn(t.p)
	}
}

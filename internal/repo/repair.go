package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/iluxsys/steward/storage"
)

// IndexRepairHint ends the message of an error from an index object that
// fails to open or decode: the index can be rebuilt from the packs.
const IndexRepairHint = "the index is damaged: rebuild it with Engine.RepairIndex (backupctl repair index)"

// OpenNoIndex opens the existing repository at prefix as Open does, but
// reads no index object: the index of the Repo it returns is empty. It is
// for RepairIndex and RemoveLocks, which must work when the index does not
// load. A missing repository is ErrNotFound.
func OpenNoIndex(ctx context.Context, store storage.Store, prefix string, opts Options) (*Repo, error) {
	r := &Repo{store: store, prefix: prefix, index: map[ID]Location{}, packIdx: map[string]int{}, loadedIdx: map[string]struct{}{}, serial: repoSerial.Add(1)}
	b, err := readObject(ctx, store, prefix+"config", maxSmallObject)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("repository %q: %w", prefix, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if r.cfg, err = decodeConfig(prefix+"config", b); err != nil {
		return nil, err
	}
	if r.cfg.Version != FormatVersion {
		return nil, fmt.Errorf("repository %q has format version %d; this build reads version %d", prefix, r.cfg.Version, FormatVersion)
	}
	if err := r.loadKey(ctx, opts); err != nil {
		return nil, err
	}
	return r, nil
}

// UnreadablePack is a pack whose header RepairIndex could not read.
type UnreadablePack struct {
	Key   string `json:"key"`
	Error string `json:"error"`
}

// IndexRepair says what RepairIndex did.
type IndexRepair struct {
	// PacksRead counts the packs whose header was read and indexed.
	PacksRead int
	// Unreadable lists the packs whose header failed to read, decrypt or
	// decode, sorted by key: they are left in place and in no index.
	Unreadable []UnreadablePack
	// ChunksIndexed counts the chunk entries the new index lists (a chunk
	// stored in two packs counts twice).
	ChunksIndexed int
	// IndexesWritten counts the new index objects; IndexesRemoved the old
	// ones deleted after them.
	IndexesWritten int
	IndexesRemoved int
}

// RepairIndex rebuilds the index from the packs: it reads the header of
// every pack in the store, writes new index objects listing every pack
// whose header reads, then deletes the index objects that were there
// before, and reloads the index. A pack whose header is damaged is
// reported and skipped, never deleted; any other read error (the store
// failing) stops the repair before its first deletion.
//
// The order makes a crash harmless: until the old index objects are gone
// the store holds both indexes, a superset of either. The caller holds
// the exclusive lock, so no backup adds packs or index objects meanwhile.
func (r *Repo) RepairIndex(ctx context.Context) (*IndexRepair, error) {
	old, err := r.listKeys(ctx, r.prefix+"index/")
	if err != nil {
		return nil, err
	}
	packs, err := r.listKeys(ctx, r.prefix+"packs/")
	if err != nil {
		return nil, err
	}
	packs = slices.DeleteFunc(packs, func(k string) bool { return !r.IsPackKey(k) })
	indexed, rep, err := r.readHeaders(ctx, packs)
	if err != nil {
		return nil, err
	}
	keys, err := r.writeShards(ctx, indexed)
	rep.IndexesWritten = len(keys)
	if err != nil {
		return rep, fmt.Errorf("repair index: %w (the old index objects are still there)", err)
	}
	for _, key := range old {
		if err := r.store.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return rep, fmt.Errorf("repair index: delete old index %q: %w (the new index is complete: run the repair again to finish)", key, err)
		}
		rep.IndexesRemoved++
	}
	if err := r.ReloadIndex(ctx); err != nil {
		return rep, err
	}
	return rep, nil
}

// listKeys returns the keys under prefix, sorted.
func (r *Repo) listKeys(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for key, err := range storage.ListKeys(ctx, r.store, prefix) {
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys, nil
}

// readHeaders reads the headers of packs, eight at a time. A damaged
// header (IsDamage) is recorded in the report; any other error is
// returned.
func (r *Repo) readHeaders(ctx context.Context, packs []string) ([]IndexPack, *IndexRepair, error) {
	entries := make([][]PackEntry, len(packs))
	errs := make([]error, len(packs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, key := range packs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			entries[i], errs[i] = r.ReadPackHeader(ctx, key)
		}()
	}
	wg.Wait()
	rep := &IndexRepair{}
	var out []IndexPack
	for i, key := range packs {
		switch {
		case errs[i] == nil:
			rep.PacksRead++
			rep.ChunksIndexed += len(entries[i])
			out = append(out, IndexPack{Name: key[strings.LastIndexByte(key, '/')+1:], Entries: entries[i]})
		case IsDamage(errs[i]):
			rep.Unreadable = append(rep.Unreadable, UnreadablePack{Key: key, Error: errs[i].Error()})
		default:
			return nil, nil, fmt.Errorf("repair index: read pack %q: %w (nothing was changed)", key, errs[i])
		}
	}
	return out, rep, nil
}

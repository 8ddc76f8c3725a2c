package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/iluxsys/steward/storage"
)

const indexMagic = "STWI1"

// IndexPack is one pack's entries in an index object.
type IndexPack struct {
	Name    string
	Entries []PackEntry
}

// EncodeIndex serialises an index object's plaintext.
func EncodeIndex(packs []IndexPack) []byte {
	var b []byte
	b = append(b, indexMagic...)
	b = binary.AppendUvarint(b, uint64(len(packs)))
	for _, p := range packs {
		b = binary.AppendUvarint(b, uint64(len(p.Name)))
		b = append(b, p.Name...)
		b = append(b, encodeHeader(p.Entries)...)
	}
	return b
}

// DecodeIndex parses an index object's plaintext. It never panics. The
// packs' entries share one backing array.
func DecodeIndex(b []byte) ([]IndexPack, error) {
	if !bytes.HasPrefix(b, []byte(indexMagic)) {
		return nil, fmt.Errorf("index: bad magic")
	}
	d := decoder{b: b[len(indexMagic):]}
	n, err := d.uvarint()
	if err != nil {
		return nil, fmt.Errorf("index: pack count: %w", err)
	}
	if n > uint64(len(b)) {
		return nil, fmt.Errorf("index: %d packs cannot fit in %d bytes", n, len(b))
	}
	out := make([]IndexPack, 0, n)
	all := make([]PackEntry, 0, len(d.b)/packEntryMinLen)
	for i := uint64(0); i < n; i++ {
		nl, err := d.uvarint()
		if err != nil || nl == 0 || nl > 128 || nl > uint64(len(d.b)) {
			return nil, fmt.Errorf("index: pack %d: bad name length", i)
		}
		name := string(d.b[:nl])
		d.b = d.b[nl:]
		if !validPackName(name) {
			return nil, fmt.Errorf("index: pack %d: bad name %q", i, name)
		}
		cnt, err := d.uvarint()
		if err != nil {
			return nil, fmt.Errorf("index: pack %q: entry count: %w", name, err)
		}
		entries, err := d.entries(cnt, all[len(all):])
		if err != nil {
			return nil, fmt.Errorf("index: pack %q: %w", name, err)
		}
		if cap(all)-len(all) >= len(entries) {
			all = all[:len(all)+len(entries)] // decoded into all's free space
		}
		out = append(out, IndexPack{Name: name, Entries: entries[:len(entries):len(entries)]})
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("index: %d trailing bytes", len(d.b))
	}
	return out, nil
}

func validPackName(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// listIndex lists the index objects in the store.
func (r *Repo) listIndex(ctx context.Context) (map[string]struct{}, error) {
	listed := map[string]struct{}{}
	for key, err := range storage.ListKeys(ctx, r.store, r.prefix+"index/") {
		if err != nil {
			return nil, err
		}
		listed[key] = struct{}{}
	}
	return listed, nil
}

// loadListed reads the index objects of listed not loaded yet. An object
// that is gone by the time it is read was merged into others by
// CompactIndex (which writes the merged objects first) or replaced by a
// prune: the index is listed and read again, a few times at most.
func (r *Repo) loadListed(ctx context.Context, listed map[string]struct{}) error {
	for attempt := 0; ; attempt++ {
		gone, err := r.loadNew(ctx, listed)
		if err != nil {
			return err
		}
		if !gone {
			r.mu.Lock()
			r.listed = true
			r.mu.Unlock()
			return nil
		}
		if attempt == 3 {
			return fmt.Errorf("index objects keep disappearing while they are read (a prune or compaction running in a loop?): %w", ErrNotFound)
		}
		if listed, err = r.listIndex(ctx); err != nil {
			return err
		}
	}
}

// loadNew reads the objects of listed not loaded yet (a lazy Repo
// records its shard objects and bundle parts as unread instead) and
// reports whether one of them was gone.
func (r *Repo) loadNew(ctx context.Context, listed map[string]struct{}) (gone bool, err error) {
	if gone, err := r.readTables(ctx, listed); gone || err != nil {
		return gone, err
	}
	var keys []string
	r.mu.Lock()
	r.lazy = lazyIndex{}
	for key := range listed {
		if _, done := r.loadedIdx[key]; done {
			continue
		}
		if t := r.tables[key]; t != nil {
			if r.lazyMode && t.loaded < len(t.parts) {
				r.lazy.addBundle(key, t)
			} else if t.loaded < len(t.parts) {
				keys = append(keys, r.unreadParts(t)...)
			}
			continue
		}
		if s, ok := r.shardOfKey(key); ok && r.lazyMode {
			r.lazy.add(key, s)
			continue
		}
		keys = append(keys, key)
	}
	r.mu.Unlock()
	return r.loadKeys(ctx, keys)
}

// loaded reports whether the index object or part at key is loaded.
func (r *Repo) loaded(key string) bool {
	_, ok := r.loadedIdx[key]
	return ok
}

// unreadParts returns the keys of t's parts not loaded.
func (r *Repo) unreadParts(t *bundleTable) []string {
	var out []string
	for i := range t.parts {
		if pk := t.partKey(i); !r.loaded(pk) {
			out = append(out, pk)
		}
	}
	return out
}

// readTables reads the tables of the bundles of listed not loaded and not
// read yet, and reports whether one of them was gone.
func (r *Repo) readTables(ctx context.Context, listed map[string]struct{}) (gone bool, err error) {
	r.mu.RLock()
	var keys []string
	for key := range listed {
		if _, read := r.tables[key]; !read && !r.loaded(key) && r.isBundleKey(key) {
			keys = append(keys, key)
		}
	}
	r.mu.RUnlock()
	for _, key := range keys {
		t, err := r.readBundleTable(ctx, key)
		if errors.Is(err, storage.ErrNotFound) {
			gone = true
			continue
		}
		if err != nil {
			return false, err
		}
		r.mu.Lock()
		if r.tables == nil {
			r.tables = map[string]*bundleTable{}
		}
		if _, read := r.tables[key]; !read { // a concurrent refresh's copy counts its loaded parts
			r.tables[key] = t
		}
		r.mu.Unlock()
	}
	return gone, nil
}

// indexRead is one read of loadKeys: an index object (keys holds its
// key) or parts of a bundle (keys holds their part keys, in part order).
type indexRead struct {
	object string
	keys   []string
	parts  []bundlePart
}

// planReads groups keys into reads: the parts of one bundle together. A
// part whose table the Repo no longer holds (a concurrent refresh found
// the index rewritten and reset it) is left out and reported as gone.
func (r *Repo) planReads(keys []string) (reads []indexRead, gone bool) {
	slices.SortFunc(keys, comparePartKeys) // a bundle's parts in part (and so offset) order
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, key := range keys {
		obj, i := splitPartKey(key)
		if obj == key {
			reads = append(reads, indexRead{object: key, keys: []string{key}})
			continue
		}
		t := r.tables[obj]
		if t == nil || i < 0 || i >= len(t.parts) {
			gone = true
			continue
		}
		if len(reads) == 0 || reads[len(reads)-1].object != obj {
			reads = append(reads, indexRead{object: obj})
		}
		rd := &reads[len(reads)-1]
		rd.keys = append(rd.keys, key)
		rd.parts = append(rd.parts, t.parts[i])
	}
	return reads, gone
}

// read reads rd, returning the packs of each of its keys.
func (r *Repo) read(ctx context.Context, rd indexRead) ([][]IndexPack, error) {
	if rd.parts == nil {
		packs, err := r.readIndex(ctx, rd.object)
		return [][]IndexPack{packs}, err
	}
	return r.readParts(ctx, rd.object, rd.keys, rd.parts)
}

// loadKeys reads the index objects and bundle parts at keys, eight reads
// at a time, adds their entries and records them as loaded, and reports
// whether one of them was gone.
func (r *Repo) loadKeys(ctx context.Context, keys []string) (bool, error) {
	reads, gone := r.planReads(keys)
	results := make([][][]IndexPack, len(reads))
	errs := make([]error, len(reads))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, rd := range reads {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i], errs[i] = r.read(ctx, rd)
		}()
	}
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reserveLocked(results)
	for i, rd := range reads {
		if errors.Is(errs[i], storage.ErrNotFound) {
			gone = true
			continue
		}
		if errs[i] != nil {
			return false, errs[i]
		}
		for j, key := range rd.keys {
			for _, p := range results[i][j] {
				r.addPackLocked(p)
			}
			r.markLoadedLocked(key)
		}
	}
	return gone, nil
}

// reserveLocked sizes the empty index maps for the packs and entries
// of loaded, so that the first load (a new process reading the whole
// index) does not grow them step by step.
func (r *Repo) reserveLocked(loaded [][][]IndexPack) {
	if len(r.index) > 0 || len(r.packIdx) > 0 {
		return
	}
	var packs, entries int
	for _, read := range loaded {
		for _, ps := range read {
			packs += len(ps)
			for _, p := range ps {
				entries += len(p.Entries)
			}
		}
	}
	r.index = make(map[ID]Location, entries)
	r.packIdx = make(map[string]int, packs)
	r.packNames = slices.Grow(r.packNames, packs)
}

// readIndex reads the index object at key (a bundle whole). One that
// fails to open or decode is a *CorruptError whose message ends in
// IndexRepairHint.
func (r *Repo) readIndex(ctx context.Context, key string) ([]IndexPack, error) {
	if r.isBundleKey(key) {
		return r.readBundle(ctx, key)
	}
	b, err := readObject(ctx, r.store, key, maxIndexObject)
	if err == nil {
		b, err = r.openMeta(key, b, metaAD("index", strings.TrimPrefix(key, r.prefix)), "index")
	}
	var packs []IndexPack
	if err == nil {
		if packs, err = DecodeIndex(b); err != nil {
			err = &CorruptError{Key: key, Detail: err.Error()}
		} else if s, ok := r.shardOfKey(key); ok {
			err = checkShard(key, s, packs)
		}
	}
	if ce, ok := errors.AsType[*CorruptError](err); ok {
		ce.Detail += "; " + IndexRepairHint
	}
	return packs, err
}

func (r *Repo) addPackLocked(p IndexPack) {
	key := r.PackKey(p.Name)
	pi, ok := r.packIdx[key]
	if !ok {
		pi = len(r.packNames)
		r.packNames = append(r.packNames, key)
		r.packIdx[key] = pi
	}
	for _, e := range p.Entries {
		if _, dup := r.index[e.ID]; dup {
			continue
		}
		r.index[e.ID] = Location{Pack: uint32(pi), Offset: e.Offset, Length: e.Length, RawLength: e.RawLength, Flags: e.Flags}
	}
}

// Has reports whether the index knows chunk id.
func (r *Repo) Has(id ID) bool {
	r.mu.RLock()
	_, ok := r.index[id]
	r.mu.RUnlock()
	return ok
}

// Lookup returns where chunk id is stored and the pack's object key.
func (r *Repo) Lookup(id ID) (Location, string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	loc, ok := r.index[id]
	if !ok {
		return loc, "", false
	}
	return loc, r.packNames[loc.Pack], true
}

// IndexLen returns the number of chunks in the index.
func (r *Repo) IndexLen() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.index)
}

// ForEachIndexed calls fn for every indexed chunk (under a read lock: fn
// must not call back into the Repo).
func (r *Repo) ForEachIndexed(fn func(id ID, loc Location, packKey string)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for id, loc := range r.index {
		fn(id, loc, r.packNames[loc.Pack])
	}
}

// IndexKeys returns the keys of the index objects loaded (in part or
// whole, for a bundle).
func (r *Repo) IndexKeys() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := make(map[string]struct{}, len(r.loadedIdx))
	for k := range r.loadedIdx {
		seen[objectKey(k)] = struct{}{}
	}
	return slices.Collect(maps.Keys(seen))
}

// IsPackKey reports whether key names a pack of this repository.
func (r *Repo) IsPackKey(key string) bool {
	rest, ok := strings.CutPrefix(key, r.prefix+"packs/")
	return ok && len(rest) == 35 && validPackName(rest[3:])
}

// RefreshIndex brings the loaded index up to date cheaply: when every index
// object loaded before still exists, only the new ones are read; when one
// has gone (a prune rewrote the index), everything is read again. A lazy
// Repo stays lazy: it reads the new objects that are not shard objects.
func (r *Repo) RefreshIndex(ctx context.Context) error {
	listed, err := r.listIndex(ctx)
	if err != nil {
		return err
	}
	r.mu.RLock()
	stale := false
	for k := range r.loadedIdx {
		if _, ok := listed[objectKey(k)]; !ok {
			stale = true
			break
		}
	}
	r.mu.RUnlock()
	if stale {
		r.resetIndex()
	}
	return r.loadListed(ctx, listed)
}

// CompleteIndex brings the loaded index up to date as RefreshIndex does
// and ends the laziness of a lazy Repo: every index object is read.
func (r *Repo) CompleteIndex(ctx context.Context) error {
	r.mu.Lock()
	r.lazyMode = false
	r.mu.Unlock()
	return r.RefreshIndex(ctx)
}

package repo

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/iluxsys/steward/storage"
)

// Sharded index objects. A backup looks up only the chunks it makes (to
// deduplicate them) and the parent's entry-list chunks (to read them), so
// it needs a few entries of the index, not all of them: reading every
// entry made a backup's cost grow with the repository's history (40,000
// entries at 10,000 snapshots of BenchmarkBackupAfterHistory). A full
// rewrite of the index (a compaction that merges everything, a prune, a
// repair) writes it in shards, each holding the entries whose chunk IDs
// begin with the same bits: now as the parts of one bundle (bundle.go),
// before as shard objects, which are still read:
//
//	index/s<bits>-<prefix>-<random>   e.g. index/s05-0013-<32 hex>
//
// bits (two decimal digits) grew with the index so that a shard stayed
// near shardTarget bytes; prefix (four hex digits) is the value of the
// IDs' first bits. A Repo opened with Options.LazyIndex reads the other
// index objects (the deltas each backup writes, the merged ones of
// compactions, those of older versions) when it first lists the index
// (RefreshIndex, or its first lookup) and a shard object only when a
// lookup of an ID it has not loaded needs it. Objects of several
// widths may coexist (an interrupted compaction): an ID is looked up in
// every listed shard object that covers it. A shard object's name is
// bound to its contents (the AEAD's additional data, as for every index
// object) and an entry outside the shard its name gives is corruption.
const (
	shardTarget  = 32 << 10
	maxShardBits = 12
)

// shard is a range of chunk IDs: those whose first bits equal prefix.
// The zero shard covers every ID.
type shard struct {
	bits   uint8
	prefix uint16
}

// shardOf returns the shard of width bits that covers id.
func shardOf(id ID, bits uint8) shard {
	if bits == 0 {
		return shard{}
	}
	return shard{bits: bits, prefix: binary.BigEndian.Uint16(id[:2]) >> (16 - bits)}
}

func (s shard) covers(id ID) bool { return shardOf(id, s.bits) == s }

// shardBitsFor returns the width at which an index of about size encoded
// bytes has shards of at most target bytes (up to maxShardBits).
func shardBitsFor(size, target int64) uint8 {
	var b uint8
	for b < maxShardBits && size > target<<b {
		b++
	}
	return b
}

// parseShardName parses the name of a shard object (after "index/").
func parseShardName(name string) (shard, bool) {
	if len(name) != 41 || name[0] != 's' || name[3] != '-' || name[8] != '-' || !validPackName(name[9:]) {
		return shard{}, false
	}
	bits, err := strconv.ParseUint(name[1:3], 10, 8)
	if err != nil || bits > maxShardBits {
		return shard{}, false
	}
	prefix, err := strconv.ParseUint(name[4:8], 16, 16)
	if err != nil || prefix >= 1<<bits || name[4:8] != fmt.Sprintf("%04x", prefix) {
		return shard{}, false
	}
	return shard{bits: uint8(bits), prefix: uint16(prefix)}, true
}

// shardOfKey returns the shard of the index object at key, if it is one.
func (r *Repo) shardOfKey(key string) (shard, bool) {
	name, ok := strings.CutPrefix(key, r.prefix+"index/")
	if !ok {
		return shard{}, false
	}
	return parseShardName(name)
}

// indexSize estimates the encoded size of packs.
func indexSize(packs []IndexPack) int64 {
	var n int64
	for _, p := range packs {
		n += int64(len(p.Name) + 16 + len(p.Entries)*packEntryMaxLen)
	}
	return n
}

// writeShards stores packs as one bundle of parts of the width their
// size asks for and returns its key (none on error).
func (r *Repo) writeShards(ctx context.Context, packs []IndexPack) ([]string, error) {
	bits := shardBitsFor(indexSize(packs), partTarget)
	byShard := make([][]IndexPack, 1<<bits)
	for _, p := range packs {
		for _, e := range p.Entries {
			s := shardOf(e.ID, bits).prefix
			g := byShard[s]
			if len(g) == 0 || g[len(g)-1].Name != p.Name {
				g = append(g, IndexPack{Name: p.Name})
			}
			g[len(g)-1].Entries = append(g[len(g)-1].Entries, e)
			byShard[s] = g
		}
	}
	var shards []shard
	var parts [][]byte
	for prefix, g := range byShard {
		for _, part := range splitIndex(g) {
			shards = append(shards, shard{bits: bits, prefix: uint16(prefix)})
			parts = append(parts, EncodeIndex(part))
		}
	}
	name := "index/b" + randomHex(16)
	body := r.encodeBundle(name, shards, parts, newChunkFilter(packs))
	if err := storage.PutBytes(ctx, r.store, r.prefix+name, body, &storage.PutOptions{IfNotExist: true}); err != nil {
		return nil, fmt.Errorf("write index: %w", err)
	}
	return []string{r.prefix + name}, nil
}

// checkShard refuses the entries of the index object at key, of shard
// s, that lie outside s.
func checkShard(key string, s shard, packs []IndexPack) error {
	for _, p := range packs {
		for _, e := range p.Entries {
			if !s.covers(e.ID) {
				return &CorruptError{Key: key, Detail: fmt.Sprintf("chunk %s lies outside the shard the object's name gives", e.ID)}
			}
		}
	}
	return nil
}

// lazyIndex holds what a lazy Repo listed and has not read yet: shard
// objects, and bundles with parts not loaded (which parts is in the
// Repo's loadedIdx: a bundle is registered whole, not part by part, so
// listing the index costs the same whatever a bundle's size).
type lazyIndex struct {
	byShard map[shard][]string
	shards  map[string]shard // every key of byShard, with its shard
	widths  []uint8          // the widths byShard holds
	bundles map[string]*bundleTable
}

func (l *lazyIndex) addBundle(key string, t *bundleTable) {
	if l.bundles == nil {
		l.bundles = map[string]*bundleTable{}
	}
	l.bundles[key] = t
}

// empty reports whether nothing is unread.
func (l *lazyIndex) empty() bool { return len(l.shards) == 0 && len(l.bundles) == 0 }

func (l *lazyIndex) add(key string, s shard) {
	if l.byShard == nil {
		l.byShard, l.shards = map[shard][]string{}, map[string]shard{}
	}
	l.byShard[s] = append(l.byShard[s], key)
	l.shards[key] = s
	if !slices.Contains(l.widths, s.bits) {
		l.widths = append(l.widths, s.bits)
	}
}

func (l *lazyIndex) remove(key string) {
	s, ok := l.shards[key]
	if !ok {
		return
	}
	delete(l.shards, key)
	keys := slices.DeleteFunc(l.byShard[s], func(k string) bool { return k == key })
	if len(keys) == 0 {
		delete(l.byShard, s)
	} else {
		l.byShard[s] = keys
	}
}

// coveringLocked returns the keys of the unread shard objects and bundle
// parts that cover id.
func (r *Repo) coveringLocked(id ID) []string {
	var keys []string
	for _, b := range r.lazy.widths {
		keys = append(keys, r.lazy.byShard[shardOf(id, b)]...)
	}
	for _, t := range r.lazy.bundles {
		from, to := t.covering(id)
		for i := from; i < to; i++ {
			if pk := t.partKey(i); !r.loaded(pk) {
				keys = append(keys, pk)
			}
		}
	}
	return keys
}

// unreadLocked returns the keys of every unread shard object and part.
func (r *Repo) unreadLocked() []string {
	keys := slices.Collect(maps.Keys(r.lazy.shards))
	for _, t := range r.lazy.bundles {
		keys = append(keys, r.unreadParts(t)...)
	}
	return keys
}

// bulkAfter is the number of lookups that read shards after which need
// reads every unread shard at once, eight at a time: a caller touching
// that many shards (a restore) will touch them all, and reading them one
// by one would add a round trip to the store for each. A backup reads
// about ten (its parent's entry list, its new chunks). A variable for
// tests.
var bulkAfter = 32

// need reads the unread shard objects that cover id, so that Has and
// Lookup answer for it. It does nothing for a Repo that is not lazy or
// when id is loaded already; it lists the index first when a lazy Repo
// has not listed it yet. Lookups of different shards read them at
// the same time; one that needs a shard another is reading waits for it.
// A shard object gone by the time it is read was merged into others by a
// compaction (which writes the merged objects first): the index is listed
// again and the new objects read, a few times at most.
func (r *Repo) need(ctx context.Context, id ID) error {
	r.mu.RLock()
	listed, unread := r.listed, !r.lazy.empty()
	_, loaded := r.index[id]
	r.mu.RUnlock()
	if listed && (!unread || loaded) {
		return nil // the common case, under the read lock only
	}
	if !listed {
		if err := r.RefreshIndex(ctx); err != nil {
			return err
		}
	}
	for range 8 {
		keys, wait := r.claim(id)
		if len(keys) == 0 && len(wait) == 0 {
			return nil
		}
		for _, ch := range wait {
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if len(keys) == 0 {
			continue
		}
		gone, err := r.loadKeys(ctx, keys)
		r.release(keys)
		if err != nil {
			return err
		}
		if gone {
			if err := r.RefreshIndex(ctx); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("index objects keep disappearing while they are read (a prune or compaction running in a loop?): %w", ErrNotFound)
}

// claim returns the unread shard objects covering id (all of them after
// bulkAfter lookups) that no other lookup is reading, now claimed by the
// caller, and the channels of those others are reading. Both are empty
// when id is loaded or nothing unread covers it.
func (r *Repo) claim(id ID) (keys []string, wait []chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.index[id]; ok {
		return nil, nil
	}
	covering := r.coveringLocked(id)
	if len(covering) == 0 {
		return nil, nil
	}
	if r.shardReads >= bulkAfter {
		covering = r.unreadLocked()
	}
	for _, k := range covering {
		if ch, ok := r.reading[k]; ok {
			wait = append(wait, ch)
			continue
		}
		if r.reading == nil {
			r.reading = map[string]chan struct{}{}
		}
		r.reading[k] = make(chan struct{})
		keys = append(keys, k)
	}
	if len(keys) > 0 {
		r.shardReads++
	}
	return keys, wait
}

// release ends the caller's claim on keys and wakes their waiters.
func (r *Repo) release(keys []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		close(r.reading[k])
		delete(r.reading, k)
	}
}

package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// bigSessions saves n sessions of per chunks each (one index object a
// session) and returns every ID and content.
func bigSessions(t *testing.T, r *Repo, n, per int) ([]ID, [][]byte) {
	t.Helper()
	ctx := context.Background()
	var ids []ID
	var chunks [][]byte
	for i := range n {
		s := r.NewSaver(ctx, 1)
		for j := range per {
			c := fmt.Appendf(nil, "chunk %d/%d of %d %s", i, j, per, randBytes(uint64(i*per+j), 80))
			id := r.ChunkID(c)
			_, err := s.Save(id, c, false)
			require.NoError(t, err)
			ids, chunks = append(ids, id), append(chunks, c)
		}
		require.NoError(t, s.Flush())
	}
	return ids, chunks
}

// shardedRepo makes a repository whose index was rewritten as a bundle
// by a full compaction: 17 sessions of 100 chunks (about 80 KB of index,
// so 32 parts of at most partTarget bytes).
// newScope creates the unencrypted scope "t" in store and returns it
// with the options that open it again.
func newScope(t *testing.T, store storage.Store) (*Repo, Options) {
	t.Helper()
	opts := Options{Create: true, Scope: "t", Now: time.Now()}
	r, err := Open(context.Background(), store, "tenants/t/", opts)
	require.NoError(t, err)
	return r, opts
}

// lazySharded builds shardedRepo's index in store and opens the scope
// again with a lazy index.
func lazySharded(t *testing.T, store storage.Store) (*Repo, []ID, [][]byte) {
	t.Helper()
	opts := Options{Create: true, Scope: "t", Now: time.Now()}
	ids, chunks := shardedRepo(t, store, opts)
	opts.LazyIndex = true
	r, err := Open(context.Background(), store, "tenants/t/", opts)
	require.NoError(t, err)
	return r, ids, chunks
}

func shardedRepo(t *testing.T, store storage.Store, opts Options) ([]ID, [][]byte) {
	t.Helper()
	ctx := context.Background()
	r, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	ids, chunks := bigSessions(t, r, compactAbove+1, 100)
	rep, err := r.CompactIndex(ctx, nil)
	require.NoError(t, err)
	require.True(t, rep.Full, "about 80 KB of deltas are a full rewrite")
	require.Equal(t, IndexCompaction{Merged: compactAbove + 1, Written: 1, Removed: compactAbove + 1, Full: true}, *rep)
	require.Len(t, r.loadedIdx, 1)
	for key := range r.loadedIdx {
		require.True(t, r.isBundleKey(key), "%s is a bundle", key)
		table, err := r.readBundleTable(ctx, key)
		require.NoError(t, err)
		require.Len(t, table.parts, shardedParts)
		for _, p := range table.parts {
			require.EqualValues(t, 5, p.bits)
		}
	}
	return ids, chunks
}

// shardedParts is the number of parts of shardedRepo's bundle.
const shardedParts = 32

// TestLazyRepoReadsOnlyTheShardsItNeeds: a lazy Repo opened on a sharded
// index reads no shard until a lookup, then only the shard covering the
// chunk; every chunk loads, and a chunk saved again is not stored twice
// (the saver's dedup check reads the shard first).
func TestLazyRepoReadsOnlyTheShardsItNeeds(t *testing.T) {
	for _, enc := range []bool{false, true} {
		ctx := context.Background()
		store := storage.NewMemory()
		opts := Options{Create: true, Encrypt: enc, Keys: testKeys{7}, Scope: "t", Now: time.Now()}
		ids, chunks := shardedRepo(t, store, opts)

		opts.LazyIndex = true
		r, err := Open(ctx, store, "tenants/t/", opts)
		require.NoError(t, err)
		require.False(t, r.listed, "a lazy open reads nothing of the index")
		require.NoError(t, r.RefreshIndex(ctx))
		require.Zero(t, r.IndexLen(), "no shard is read on a listing")
		require.Len(t, r.unreadLocked(), shardedParts)
		got, err := r.LoadChunk(ctx, ids[0], nil)
		require.NoError(t, err)
		require.Equal(t, chunks[0], got)
		require.Len(t, r.loadedIdx, 1, "one shard read")
		require.Len(t, r.unreadLocked(), shardedParts-1)
		require.Less(t, r.IndexLen(), len(ids)/2)

		s := r.NewSaver(ctx, 1)
		last := len(ids) - 1
		isNew, err := s.Save(ids[last], chunks[last], false)
		require.NoError(t, err)
		require.False(t, isNew, "a chunk an unread shard lists is not stored again")
		require.NoError(t, s.Flush())

		for i, id := range ids {
			got, err := r.LoadChunk(ctx, id, nil)
			require.NoError(t, err)
			require.Equal(t, chunks[i], got)
		}
		require.Empty(t, r.unreadLocked(), "every shard read by now")
		require.True(t, r.lazy.empty())
	}
}

// TestCompleteIndexEndsLaziness: check and prune need every entry: a lazy
// Repo's UnreferencedPacks reads every shard first and finds no pack
// unreferenced, and CompleteIndex leaves nothing unread.
func TestCompleteIndexEndsLaziness(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	r, ids, _ := lazySharded(t, store)
	orphans, err := r.UnreferencedPacks(ctx)
	require.NoError(t, err)
	require.Empty(t, orphans, "packs only unread shards listed are referenced")
	require.Equal(t, len(ids), r.IndexLen())

	r, err = Open(ctx, store, "tenants/t/", Options{Scope: "t", Now: time.Now(), LazyIndex: true})
	require.NoError(t, err)
	require.NoError(t, r.CompleteIndex(ctx))
	require.True(t, r.lazy.empty())
	require.Equal(t, len(ids), r.IndexLen())
}

// TestLazyReaderSurvivesFullCompaction: a lazy Repo whose unread shard
// objects another process's compaction replaced lists the index again
// and finds every chunk in the new shards.
func TestLazyReaderSurvivesFullCompaction(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	opts := Options{Create: true, Scope: "t", Now: time.Now()}
	ids, chunks := shardedRepo(t, store, opts)
	lazy := opts
	lazy.LazyIndex = true
	reader, err := Open(ctx, store, "tenants/t/", lazy)
	require.NoError(t, err)

	w, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	more, moreChunks := bigSessions(t, w, compactAbove+1, 60)
	rep, err := w.CompactIndex(ctx, nil)
	require.NoError(t, err)
	require.True(t, rep.Full, "%+v", rep)
	require.Equal(t, compactAbove+1+1, rep.Merged, "the deltas and the bundle")

	for i, id := range ids {
		got, err := reader.LoadChunk(ctx, id, nil)
		require.NoError(t, err, "chunk %d", i)
		require.Equal(t, chunks[i], got)
	}
	require.NoError(t, reader.RefreshIndex(ctx))
	for i, id := range more {
		got, err := reader.LoadChunk(ctx, id, nil)
		require.NoError(t, err)
		require.Equal(t, moreChunks[i], got)
	}
}

// TestShardEntryOutsideItsShardIsCorrupt: a shard object listing a chunk
// its name does not cover is refused as corrupt, lazily or not.
func TestShardEntryOutsideItsShardIsCorrupt(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	r, _ := newScope(t, store)
	id := ID{0x80} // first bit 1: outside shard s01-0000
	name := "index/s01-0000-" + strings.Repeat("ab", 16)
	packs := []IndexPack{{Name: strings.Repeat("cd", 16), Entries: []PackEntry{{ID: id, Length: 10, RawLength: 10}}}}
	require.NoError(t, storage.PutBytes(ctx, store, "tenants/t/"+name, r.sealMeta(EncodeIndex(packs), metaAD("index", name)), nil))

	_, err := Open(ctx, store, "tenants/t/", Options{Scope: "t"})
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "outside the shard")

	lazy, err := Open(ctx, store, "tenants/t/", Options{Scope: "t", LazyIndex: true})
	require.NoError(t, err)
	_, err = lazy.LoadChunk(ctx, ID{0x00, 1}, nil) // covered by the bad shard
	require.ErrorIs(t, err, ErrCorrupt)
}

// TestShardBitsFollowSize: the width grows with the index so that shards
// stay at most shardTarget bytes, up to maxShardBits.
func TestShardBitsFollowSize(t *testing.T) {
	require.EqualValues(t, 0, shardBitsFor(0, partTarget))
	require.EqualValues(t, 0, shardBitsFor(partTarget, partTarget))
	require.EqualValues(t, 1, shardBitsFor(partTarget+1, partTarget))
	require.EqualValues(t, 6, shardBitsFor(64*partTarget, partTarget))
	require.EqualValues(t, maxShardBits, shardBitsFor(1<<40, partTarget))
	id := ID{0b1011_0110, 0b0100_0000}
	require.Equal(t, shard{bits: 3, prefix: 0b101}, shardOf(id, 3))
	require.Equal(t, shard{bits: 10, prefix: 0b1011_0110_01}, shardOf(id, 10))
	require.True(t, shard{}.covers(id))
	require.False(t, shard{bits: 1, prefix: 0}.covers(id))
}

// FuzzParseShardName: a name parses only in its canonical form, and the
// shard it gives formats back to the same name.
func FuzzParseShardName(f *testing.F) {
	f.Add("s05-0013-" + strings.Repeat("0a", 16))
	f.Add("s00-0000-" + strings.Repeat("ff", 16))
	f.Add("s12-0fff-" + strings.Repeat("12", 16))
	f.Add("s01-0002-" + strings.Repeat("12", 16))
	f.Add("S05-0013-" + strings.Repeat("0A", 16))
	f.Fuzz(func(t *testing.T, name string) {
		s, ok := parseShardName(name)
		if !ok {
			return
		}
		require.LessOrEqual(t, s.bits, uint8(maxShardBits))
		require.Less(t, int(s.prefix), 1<<s.bits)
		require.Equal(t, name, fmt.Sprintf("s%02d-%04x-%s", s.bits, s.prefix, name[9:]))
	})
}

// TestLazyRestoreReadsShardsInBulk: a caller that touches shard after
// shard (a restore) makes the Repo read the rest at once after bulkAfter
// lookups, not one round trip per shard.
func TestLazyRestoreReadsShardsInBulk(t *testing.T) {
	defer func(n int) { bulkAfter = n }(bulkAfter)
	bulkAfter = 8
	ctx := context.Background()
	store := storage.NewMemory()
	r, opts := newScope(t, store)
	ids, chunks := bigSessions(t, r, compactAbove+1, 400)
	_, err := r.CompactIndex(ctx, nil)
	require.NoError(t, err)

	opts.LazyIndex = true
	lazy, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	require.NoError(t, lazy.RefreshIndex(ctx))
	parts := len(lazy.unreadLocked())
	require.Greater(t, parts, bulkAfter+1)
	for i, id := range ids {
		got, err := lazy.LoadChunk(ctx, id, nil)
		require.NoError(t, err)
		require.Equal(t, chunks[i], got)
	}
	require.Equal(t, bulkAfter+1, lazy.shardReads, "%d parts", parts)
	require.True(t, lazy.lazy.empty())
}

// TestLazyConcurrentLookups: goroutines loading chunks of the same and of
// different shards at once each get their chunk, and every shard object
// is read once.
func TestLazyConcurrentLookups(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{Store: storage.NewMemory()}
	r, ids, chunks := lazySharded(t, store)
	store.reset()
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for g := range errs {
		wg.Go(func() {
			for i := range ids {
				k := (i*7 + g*31) % len(ids)
				got, err := r.LoadChunk(ctx, ids[k], nil)
				if err == nil && !bytes.Equal(got, chunks[k]) {
					err = fmt.Errorf("chunk %d differs", k)
				}
				if err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.Len(t, store.ranges(), shardedParts+1, "the table and each part read")
	for at, n := range store.ranges() {
		if at != 0 { // the table is read by each lookup that lists the index
			require.EqualValues(t, 1, n, "part at %d read once", at)
		}
	}
}

// countingStore counts reads of index objects, in all and by offset.
type countingStore struct {
	storage.Store
	indexReads atomic.Int64
	mu         sync.Mutex
	byOffset   map[int64]int
}

func (c *countingStore) reset() {
	c.indexReads.Store(0)
	c.mu.Lock()
	c.byOffset = nil
	c.mu.Unlock()
}

// ranges returns how many times each offset of an index object was read.
func (c *countingStore) ranges() map[int64]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.byOffset)
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return c.GetRange(ctx, key, 0, -1)
}

func (c *countingStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if strings.Contains(key, "/index/") {
		c.indexReads.Add(1)
		c.mu.Lock()
		if c.byOffset == nil {
			c.byOffset = map[int64]int{}
		}
		c.byOffset[off]++
		c.mu.Unlock()
	}
	return c.Store.GetRange(ctx, key, off, n)
}

// TestFullRewriteKeepsHotChunksAtHand: the chunks a full rewrite is given
// as hot (the entry list the next backup reads as its parent's) are found
// by a lazy Repo without reading a shard; others still read theirs. A
// Saver reports the IDs SaveMeta was given, new or deduplicated.
func TestFullRewriteKeepsHotChunksAtHand(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{Store: storage.NewMemory()}
	r, opts := newScope(t, store)
	ids, chunks := bigSessions(t, r, compactAbove, 100)
	s := r.NewSaver(ctx, 1)
	for i := range 3 {
		_, err := s.SaveMeta(ids[i], chunks[i], false) // known: deduplicated
		require.NoError(t, err)
	}
	meta := []byte("a new segment")
	_, err := s.SaveMeta(r.ChunkID(meta), meta, true)
	require.NoError(t, err)
	require.NoError(t, s.Flush())
	hot := s.MetaIDs()
	require.Equal(t, []ID{ids[0], ids[1], ids[2], r.ChunkID(meta)}, hot)

	rep, err := r.CompactIndex(ctx, hot)
	require.NoError(t, err)
	require.True(t, rep.Full)
	require.Equal(t, 1+1, rep.Written, "the bundle and the hot merged object")

	opts.LazyIndex = true
	lazy, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	require.NoError(t, lazy.RefreshIndex(ctx)) // as a backup does once locked
	store.reset()
	for i := range 3 {
		got, err := lazy.LoadChunk(ctx, ids[i], nil)
		require.NoError(t, err)
		require.Equal(t, chunks[i], got)
	}
	got, err := lazy.LoadChunk(ctx, r.ChunkID(meta), nil)
	require.NoError(t, err)
	require.Equal(t, meta, got)
	require.Zero(t, store.indexReads.Load(), "hot chunks need no shard")
	_, err = lazy.LoadChunk(ctx, ids[len(ids)-1], nil)
	require.NoError(t, err)
	require.EqualValues(t, 1, store.indexReads.Load(), "another chunk reads its shard")
}

// TestDamagedShardIsCorrupt: a damaged bundle part (a flipped byte in a
// sealed one; a plain one whose bytes were overwritten) fails the lookup
// that needs it with ErrCorrupt naming the bundle, and lookups served by
// other parts still succeed.
func TestDamagedShardIsCorrupt(t *testing.T) {
	for _, enc := range []bool{false, true} {
		ctx := context.Background()
		store := storage.NewMemory()
		opts := Options{Create: true, Encrypt: enc, Keys: testKeys{7}, Scope: "t", Now: time.Now()}
		ids, chunks := shardedRepo(t, store, opts)
		key, parts := onlyBundle(t, store, opts)
		victim := shardOf(ids[0], parts[0].bits)
		b, err := storage.ReadAll(ctx, store, key)
		require.NoError(t, err)
		for _, p := range parts {
			if p.shard == victim && enc {
				b[p.off+p.n/2] ^= 0x40
			} else if p.shard == victim {
				copy(b[p.off:], "XXXXX") // the index magic
			}
		}
		require.NoError(t, storage.PutBytes(ctx, store, key, b, nil))

		opts.LazyIndex = true
		r, err := Open(ctx, store, "tenants/t/", opts)
		require.NoError(t, err)
		_, err = r.LoadChunk(ctx, ids[0], nil)
		require.ErrorIs(t, err, ErrCorrupt, "encrypted %v", enc)
		require.ErrorContains(t, err, key)
		for i, id := range ids {
			if shardOf(id, parts[0].bits) != victim {
				got, err := r.LoadChunk(ctx, id, nil)
				require.NoError(t, err)
				require.Equal(t, chunks[i], got)
				break
			}
		}
	}
}

// onlyBundle returns the key and table of the one bundle of scope t.
func onlyBundle(t *testing.T, store storage.Store, opts Options) (string, []bundlePart) {
	t.Helper()
	ctx := context.Background()
	r, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	var keys []string
	for k, err := range storage.ListKeys(ctx, store, "tenants/t/index/b") {
		require.NoError(t, err)
		keys = append(keys, k)
	}
	require.Len(t, keys, 1)
	table, err := r.readBundleTable(ctx, keys[0])
	require.NoError(t, err)
	return keys[0], table.parts
}

// A damaged table (a flipped byte when sealed, a length past the end, a
// truncated bundle) fails the listing of a lazy Repo and the open of one
// that is not with ErrCorrupt naming the bundle.
func TestDamagedBundleTableIsCorrupt(t *testing.T) {
	ctx := context.Background()
	for _, damage := range []string{"flip", "length", "truncate"} {
		store := storage.NewMemory()
		opts := Options{Create: true, Encrypt: true, Keys: testKeys{7}, Scope: "t", Now: time.Now()}
		ids, _ := shardedRepo(t, store, opts)
		key, parts := onlyBundle(t, store, opts)
		b, err := storage.ReadAll(ctx, store, key)
		require.NoError(t, err)
		last := ids[slices.IndexFunc(ids, func(id ID) bool { return parts[len(parts)-1].covers(id) })]
		switch damage {
		case "flip":
			b[8] ^= 1
		case "length":
			b[0] = 0x7f
		case "truncate":
			b = b[:parts[len(parts)-1].off+1]
		}
		require.NoError(t, storage.PutBytes(ctx, store, key, b, nil))
		_, err = Open(ctx, store, "tenants/t/", Options{Scope: "t", Keys: testKeys{7}})
		require.ErrorIs(t, err, ErrCorrupt, damage)
		require.ErrorContains(t, err, key, damage)
		lazy, err := Open(ctx, store, "tenants/t/", Options{Scope: "t", Keys: testKeys{7}, LazyIndex: true})
		require.NoError(t, err)
		if damage == "truncate" { // the table reads; the last part does not
			_, err = lazy.LoadChunk(ctx, last, nil)
		} else {
			err = lazy.RefreshIndex(ctx)
		}
		require.ErrorIs(t, err, ErrCorrupt, damage)
	}
}

// A bundle part listing a chunk outside its shard is refused as corrupt.
func TestBundlePartOutsideItsShardIsCorrupt(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	r, _ := newScope(t, store)
	name := "index/b" + strings.Repeat("ab", 16)
	packs := []IndexPack{{Name: strings.Repeat("cd", 16), Entries: []PackEntry{{ID: ID{0x80}, Length: 10, RawLength: 10}}}}
	body := r.encodeBundle(name, []shard{{bits: 1, prefix: 0}}, [][]byte{EncodeIndex(packs)}, nil)
	require.NoError(t, storage.PutBytes(ctx, store, "tenants/t/"+name, body, nil))
	_, err := Open(ctx, store, "tenants/t/", Options{Scope: "t"})
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "outside the shard")
}

// FuzzDecodeBundleTable: a table that decodes encodes back to the same
// bytes, its parts laid end to end from the base.
func FuzzDecodeBundleTable(f *testing.F) {
	f.Add(encodeBundleTable([]bundlePart{{shard: shard{bits: 5, prefix: 3}, n: 100}, {shard: shard{bits: 5, prefix: 31}, n: 4096}}, chunkFilter{1, 2, 3, 4, 5, 6, 7, 8}), int64(40))
	f.Add(encodeBundleTable(nil, nil), int64(4))
	f.Add([]byte{1, 13, 0xff, 0x1f, 1, 0}, int64(0))
	f.Fuzz(func(t *testing.T, b []byte, base int64) {
		parts, filter, err := decodeBundleTable(b, base)
		if err != nil {
			return
		}
		require.Equal(t, b, encodeBundleTable(parts, filter))
		require.LessOrEqual(t, len(filter), maxFilter)
		off := base
		for _, p := range parts {
			require.Equal(t, off, p.off)
			require.LessOrEqual(t, p.bits, uint8(maxShardBits))
			require.Less(t, int(p.prefix), 1<<p.bits)
			off += p.n
		}
	})
}

// A repository whose index is in shard objects of the previous format
// (index/s<bits>-<prefix>-<id>) reads lazily as before, and its next
// compaction rewrites everything into a bundle: no shard object is left
// and every chunk still loads.
func TestLegacyShardObjectsBecomeABundle(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	opts := Options{Create: true, Encrypt: true, Keys: testKeys{7}, Scope: "t", Now: time.Now()}
	r, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	ids, chunks := bigSessions(t, r, 4, 400) // past shardTarget: a compaction rewrites it all
	// Rewrite the index as two legacy shard objects, as that format did.
	var packs []IndexPack
	for _, key := range r.IndexKeys() {
		p, err := r.readIndex(ctx, key)
		require.NoError(t, err)
		packs = append(packs, p...)
		require.NoError(t, store.Delete(ctx, key))
	}
	for prefix := range 2 {
		var part []IndexPack
		for _, p := range packs {
			var es []PackEntry
			for _, e := range p.Entries {
				if shardOf(e.ID, 1).prefix == uint16(prefix) {
					es = append(es, e)
				}
			}
			if len(es) > 0 {
				part = append(part, IndexPack{Name: p.Name, Entries: es})
			}
		}
		name := fmt.Sprintf("index/s01-%04x-%s", prefix, randomHex(16))
		require.NoError(t, storage.PutBytes(ctx, store, "tenants/t/"+name, r.sealMeta(EncodeIndex(part), metaAD("index", name)), nil))
	}

	lazyOpts := opts
	lazyOpts.LazyIndex = true
	lazy, err := Open(ctx, store, "tenants/t/", lazyOpts)
	require.NoError(t, err)
	got, err := lazy.LoadChunk(ctx, ids[0], nil)
	require.NoError(t, err)
	require.Equal(t, chunks[0], got)
	require.Len(t, lazy.unreadLocked(), 1, "one legacy shard read, one left")

	w, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	more, moreChunks := bigSessions(t, w, compactAbove+1, 10)
	rep, err := w.CompactIndex(ctx, nil)
	require.NoError(t, err)
	require.True(t, rep.Full, "%+v", rep)
	var left []string
	for k, err := range storage.ListKeys(ctx, store, "tenants/t/index/") {
		require.NoError(t, err)
		left = append(left, strings.TrimPrefix(k, "tenants/t/index/"))
	}
	require.Len(t, left, 1)
	require.True(t, parseBundleName(left[0]), left[0])

	fresh, err := Open(ctx, store, "tenants/t/", lazyOpts)
	require.NoError(t, err)
	for i, id := range append(ids, more...) {
		want := append(chunks, moreChunks...)[i]
		got, err := fresh.LoadChunk(ctx, id, nil)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

// A part whose bundle's table the Repo dropped meanwhile (a concurrent
// refresh reset the index) is reported gone, so the caller lists the
// index again, and not read.
func TestPartOfAForgottenBundleIsGone(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	opts := Options{Create: true, Scope: "t", Now: time.Now(), LazyIndex: true}
	shardedRepo(t, store, Options{Create: true, Scope: "t", Now: opts.Now})
	r, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	require.NoError(t, r.RefreshIndex(ctx))
	keys := r.unreadLocked()
	require.Len(t, keys, shardedParts)
	r.resetIndex()
	gone, err := r.loadKeys(ctx, keys[:2])
	require.NoError(t, err)
	require.True(t, gone)
	require.Zero(t, r.IndexLen())
}

// The filter never misses an ID it was given and rejects about 1 % of
// others; a bundle's table keeps it, and a lookup of a chunk the bundle
// does not hold reads no part.
func TestChunkFilter(t *testing.T) {
	var packs []IndexPack
	for i := range 20 {
		p := IndexPack{Name: fmt.Sprintf("%032x", i)}
		for j := range 1000 {
			p.Entries = append(p.Entries, PackEntry{ID: ID(sha256.Sum256(fmt.Appendf(nil, "in %d %d", i, j)))})
		}
		packs = append(packs, p)
	}
	f := newChunkFilter(packs)
	require.Len(t, f, 20000*filterBits/8)
	for _, p := range packs {
		for _, e := range p.Entries {
			require.True(t, f.mayHold(e.ID))
		}
	}
	fp := 0
	for i := range 20000 {
		if f.mayHold(ID(sha256.Sum256(fmt.Appendf(nil, "out %d", i)))) {
			fp++
		}
	}
	require.Less(t, fp, 20000*3/100, "false positives")
	require.True(t, chunkFilter(nil).mayHold(ID{1}), "no filter: every ID may be there")

	ctx := context.Background()
	store := &countingStore{Store: storage.NewMemory()}
	r, ids, _ := lazySharded(t, store)
	require.NoError(t, r.RefreshIndex(ctx))
	store.reset()
	for i := range 50 {
		require.False(t, r.Has(ID(sha256.Sum256(fmt.Appendf(nil, "absent %d", i)))))
		require.NoError(t, r.need(ctx, ID(sha256.Sum256(fmt.Appendf(nil, "absent %d", i)))))
	}
	require.LessOrEqual(t, store.indexReads.Load(), int64(3), "absent chunks read (almost) no part")
	require.NoError(t, r.need(ctx, ids[0]))
	require.True(t, r.Has(ids[0]))
}

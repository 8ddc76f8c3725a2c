package repo

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/iluxsys/steward/storage"
)

// Index bundles. A full rewrite of the index (compaction, prune, repair)
// stores its shards as the parts of one object, a bundle:
//
//	index/b<32 hex>
//
//	[4-byte big-endian length T][table, sealed: T bytes][part 0][part 1]...
//
// The table lists each part's shard (width and prefix) and length; the
// parts follow it in order, each an index object sealed under the name
// <bundle name>#<part number>, holding only entries of its shard. A lazy
// Repo lists one key where shard objects made it list and stat a hundred
// or more, reads the table with the bundle's first bytes (one range read
// when it lists the index) and a part with a range read when a lookup
// needs its shard, so parts can be small (partTarget): a backup at 10,000
// snapshots reads a few kilobytes of the index for each chunk it makes.
// Reads of many parts of one bundle (a restore, a check) are merged into
// range reads of up to bundleSpan bytes.
const (
	partTarget     = 4 << 10
	bundleHeadRead = 1 << 10
	bundleSpan     = 8 << 20
	maxBundleTable = 1 << 20
)

// bundlePart is one part of a bundle: its shard and where it lies.
type bundlePart struct {
	shard
	off, n int64
}

// bundleTable is a bundle's table as a Repo keeps it once read. Its
// parts have one width and come in the order of their prefixes.
type bundleTable struct {
	key    string // the bundle's
	parts  []bundlePart
	filter chunkFilter // the IDs the parts hold; empty: none kept
	loaded int         // parts loaded (Repo.loadedIdx holds their keys)
}

// partKey returns the key of part i.
func (t *bundleTable) partKey(i int) string { return partKey(t.key, i) }

// covering returns the range of the parts that cover id: none when the
// filter says the bundle does not hold it.
func (t *bundleTable) covering(id ID) (from, to int) {
	if len(t.parts) == 0 || !t.filter.mayHold(id) {
		return 0, 0
	}
	s := shardOf(id, t.parts[0].bits)
	from, _ = slices.BinarySearchFunc(t.parts, s.prefix, func(p bundlePart, v uint16) int { return cmp.Compare(p.prefix, v) })
	for to = from; to < len(t.parts) && t.parts[to].prefix == s.prefix; to++ {
	}
	return from, to
}

// chunkFilter is a Bloom filter of chunk IDs, filterBits bits and
// filterProbes probes per ID (about 1 % false positives), kept in a
// bundle's table: a lookup of a chunk the bundle does not hold (every
// chunk a backup makes anew) reads none of its parts. IDs are keyed
// hashes, uniform already, so the probes are words of the ID. Past
// maxFilter bytes (about 400,000 IDs) a bundle keeps none.
type chunkFilter []byte

const (
	filterBits   = 10
	filterProbes = 7
	maxFilter    = 512 << 10
)

// newChunkFilter returns a filter of the IDs of packs, or none past
// maxFilter.
func newChunkFilter(packs []IndexPack) chunkFilter {
	n := 0
	for _, p := range packs {
		n += len(p.Entries)
	}
	size := max(8, (n*filterBits+7)/8)
	if size > maxFilter {
		return nil
	}
	f := make(chunkFilter, size)
	for _, p := range packs {
		for _, e := range p.Entries {
			f.add(e.ID)
		}
	}
	return f
}

func (f chunkFilter) add(id ID) {
	m := uint32(len(f)) * 8
	for i := range filterProbes {
		h := binary.LittleEndian.Uint32(id[4*i:]) % m
		f[h/8] |= 1 << (h % 8)
	}
}

// mayHold reports whether id may be among the filter's IDs: always for
// no filter.
func (f chunkFilter) mayHold(id ID) bool {
	if len(f) == 0 {
		return true
	}
	m := uint32(len(f)) * 8
	for i := range filterProbes {
		h := binary.LittleEndian.Uint32(id[4*i:]) % m
		if f[h/8]&(1<<(h%8)) == 0 {
			return false
		}
	}
	return true
}

// parseBundleName reports whether name (after "index/") names a bundle.
func parseBundleName(name string) bool {
	return len(name) == 33 && name[0] == 'b' && validPackName(name[1:])
}

// isBundleKey reports whether key names a bundle of r.
func (r *Repo) isBundleKey(key string) bool {
	name, ok := strings.CutPrefix(key, r.prefix+"index/")
	return ok && parseBundleName(name)
}

// isShardObject reports whether key names an object of shards: a shard
// object or a bundle.
func (r *Repo) isShardObject(key string) bool {
	_, ok := r.shardOfKey(key)
	return ok || r.isBundleKey(key)
}

// partKey names part i of the bundle at key: the key a lazy Repo claims,
// loads and records, and (after the prefix) the name the part is sealed
// under.
func partKey(key string, i int) string { return key + "#" + strconv.Itoa(i) }

// objectKey returns the stored object of a loaded key: the bundle of a
// part key, else key itself.
func objectKey(key string) string {
	obj, _ := splitPartKey(key)
	return obj
}

// splitPartKey returns the bundle and part number of a part key; key
// itself and -1 for any other key (or a malformed part number).
func splitPartKey(key string) (string, int) {
	h := strings.IndexByte(key, '#')
	if h < 0 {
		return key, -1
	}
	i, err := strconv.Atoi(key[h+1:])
	if err != nil {
		i = -1
	}
	return key[:h], i
}

// comparePartKeys orders keys by object, then a bundle's parts by number.
func comparePartKeys(a, b string) int {
	oa, ia := splitPartKey(a)
	ob, ib := splitPartKey(b)
	return cmp.Or(strings.Compare(oa, ob), cmp.Compare(ia, ib))
}

// encodeBundleTable encodes the shards and lengths of parts, then the
// filter.
func encodeBundleTable(parts []bundlePart, filter chunkFilter) []byte {
	b := binary.AppendUvarint(nil, uint64(len(parts)))
	for _, p := range parts {
		b = append(b, p.bits)
		b = binary.AppendUvarint(b, uint64(p.prefix))
		b = binary.AppendUvarint(b, uint64(p.n))
	}
	b = binary.AppendUvarint(b, uint64(len(filter)))
	return append(b, filter...)
}

// decodeBundleTable decodes a table whose parts begin at offset base.
func decodeBundleTable(b []byte, base int64) ([]bundlePart, chunkFilter, error) {
	parts, rest, err := decodeBundleParts(b, base)
	if err != nil {
		return nil, nil, err
	}
	d := decoder{b: rest}
	n, err := d.uvarint()
	if err != nil || n != uint64(len(d.b)) || n > maxFilter {
		return nil, nil, fmt.Errorf("bundle table: bad filter length")
	}
	filter := chunkFilter(d.b)
	if !bytes.Equal(encodeBundleTable(parts, filter), b) {
		return nil, nil, fmt.Errorf("bundle table: not in canonical form")
	}
	return parts, filter, nil
}

// decodeBundleParts decodes the parts of a table and returns what
// follows them.
func decodeBundleParts(b []byte, base int64) ([]bundlePart, []byte, error) {
	d := decoder{b: b}
	n, err := d.uvarint()
	if err != nil || n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("bundle table: bad part count")
	}
	parts := make([]bundlePart, 0, n)
	off := base
	for i := range n {
		if len(d.b) == 0 {
			return nil, nil, fmt.Errorf("bundle table: part %d: truncated", i)
		}
		bits := d.b[0]
		d.b = d.b[1:]
		prefix, err1 := d.uvarint()
		size, err2 := d.uvarint()
		switch {
		case err1 != nil || err2 != nil:
			return nil, nil, fmt.Errorf("bundle table: part %d: truncated", i)
		case bits > maxShardBits || prefix >= 1<<bits:
			return nil, nil, fmt.Errorf("bundle table: part %d: bad shard %d/%d", i, bits, prefix)
		case size == 0 || size > maxIndexObject:
			return nil, nil, fmt.Errorf("bundle table: part %d: bad length %d", i, size)
		}
		if i > 0 && (bits != parts[0].bits || uint16(prefix) < parts[i-1].prefix) {
			return nil, nil, fmt.Errorf("bundle table: part %d: shard %d/%d out of order", i, bits, prefix)
		}
		parts = append(parts, bundlePart{shard: shard{bits: bits, prefix: uint16(prefix)}, off: off, n: int64(size)})
		off += int64(size)
	}
	return parts, d.b, nil
}

// encodeBundle seals parts (each an encoded index of its shard) and the
// table with filter into the bundle object named name (after the prefix).
func (r *Repo) encodeBundle(name string, shards []shard, parts [][]byte, filter chunkFilter) []byte {
	table := make([]bundlePart, len(parts))
	sealed := make([][]byte, len(parts))
	for i, p := range parts {
		sealed[i] = r.sealMeta(p, metaAD("index", partKey(name, i)))
		table[i] = bundlePart{shard: shards[i], n: int64(len(sealed[i]))}
	}
	t := r.sealMeta(encodeBundleTable(table, filter), metaAD("index", name+"#table"))
	out := binary.BigEndian.AppendUint32(nil, uint32(len(t)))
	out = append(out, t...)
	for _, s := range sealed {
		out = append(out, s...)
	}
	return out
}

// readBundleTable reads the table of the bundle at key.
func (r *Repo) readBundleTable(ctx context.Context, key string) (*bundleTable, error) {
	head, err := readHead(ctx, r.store, key, bundleHeadRead)
	if err != nil {
		return nil, err
	}
	if len(head) < 4 {
		return nil, r.bundleCorrupt(key, "shorter than its table's length")
	}
	t := int64(binary.BigEndian.Uint32(head))
	if t > maxBundleTable {
		return nil, r.bundleCorrupt(key, fmt.Sprintf("table of %d bytes", t))
	}
	if int64(len(head)) < 4+t {
		if head, err = readRange(ctx, r.store, key, 0, 4+t); err != nil {
			return nil, err
		}
	}
	name := strings.TrimPrefix(key, r.prefix)
	plain, err := r.openMeta(key, head[4:4+t], metaAD("index", name+"#table"), "")
	if err != nil {
		return nil, err
	}
	parts, filter, err := decodeBundleTable(plain, 4+t)
	if err != nil {
		return nil, r.bundleCorrupt(key, err.Error())
	}
	return &bundleTable{key: key, parts: parts, filter: filter}, nil
}

// bundleCorrupt is the error of a damaged bundle.
func (r *Repo) bundleCorrupt(key, detail string) error {
	return &CorruptError{Key: key, Detail: detail + "; " + IndexRepairHint}
}

// readHead reads the first n bytes of key (fewer when it is shorter).
func readHead(ctx context.Context, s storage.Store, key string, n int64) ([]byte, error) {
	rc, err := s.GetRange(ctx, key, 0, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b := make([]byte, n)
	m, err := io.ReadFull(rc, b)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil // a bundle shorter than n
	}
	return b[:m], err
}

// readParts reads the parts of the bundle at key that keys name (part
// keys, in part order), in range reads of up to bundleSpan bytes, and
// returns each part's packs.
func (r *Repo) readParts(ctx context.Context, key string, keys []string, parts []bundlePart) ([][]IndexPack, error) {
	out := make([][]IndexPack, 0, len(parts))
	for start := 0; start < len(parts); {
		end := start + 1
		for end < len(parts) && parts[end].off+parts[end].n-parts[start].off <= bundleSpan {
			end++
		}
		span := parts[end-1].off + parts[end-1].n - parts[start].off
		b, err := readRange(ctx, r.store, key, parts[start].off, span)
		if err != nil {
			return nil, err
		}
		for i := start; i < end; i++ {
			p := parts[i]
			at := p.off - parts[start].off
			packs, err := r.openPart(keys[i], p.shard, b[at:at+p.n])
			if err != nil {
				return nil, err
			}
			out = append(out, packs)
		}
		start = end
	}
	return out, nil
}

// openPart opens and decodes the part at part key key, of shard s.
func (r *Repo) openPart(key string, s shard, sealed []byte) ([]IndexPack, error) {
	plain, err := r.openMeta(key, sealed, metaAD("index", strings.TrimPrefix(key, r.prefix)), "")
	var packs []IndexPack
	if err == nil {
		if packs, err = DecodeIndex(plain); err != nil {
			err = &CorruptError{Key: key, Detail: err.Error()}
		} else {
			err = checkShard(key, s, packs)
		}
	}
	if ce, ok := errors.AsType[*CorruptError](err); ok {
		ce.Detail += "; " + IndexRepairHint
	}
	return packs, err
}

// readBundle reads every part of the bundle at key.
func (r *Repo) readBundle(ctx context.Context, key string) ([]IndexPack, error) {
	r.mu.RLock()
	t, ok := r.tables[key]
	r.mu.RUnlock()
	if !ok {
		var err error
		if t, err = r.readBundleTable(ctx, key); err != nil {
			return nil, err
		}
	}
	keys := make([]string, len(t.parts))
	for i := range keys {
		keys[i] = t.partKey(i)
	}
	got, err := r.readParts(ctx, key, keys, t.parts)
	if err != nil {
		return nil, err
	}
	var out []IndexPack
	for _, packs := range got {
		out = append(out, packs...)
	}
	return out, nil
}

// forgetBundleLocked drops what r records of the bundle at key: its
// table, and its parts loaded or unread.
func (r *Repo) forgetBundleLocked(key string) {
	if t := r.tables[key]; t != nil {
		for i := range t.parts {
			delete(r.loadedIdx, t.partKey(i))
		}
	}
	delete(r.lazy.bundles, key)
	delete(r.tables, key)
}

// markLoadedLocked records the index object or part at key as loaded.
func (r *Repo) markLoadedLocked(key string) {
	if r.loaded(key) {
		return
	}
	r.loadedIdx[key] = struct{}{}
	r.lazy.remove(key)
	obj := objectKey(key)
	if t := r.tables[obj]; t != nil && obj != key {
		if t.loaded++; t.loaded == len(t.parts) {
			delete(r.lazy.bundles, obj)
		}
	}
}

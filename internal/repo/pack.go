package repo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/iluxsys/steward/storage"
)

// TargetPackSize is the size at which a pack is closed and uploaded.
const TargetPackSize = 16 << 20

// Blob flags.
const (
	FlagCompressed = 1 << 0
	FlagEncrypted  = 1 << 1
)

const packMagic = "STWP1"

// Location says where a chunk is stored.
type Location struct {
	Pack      uint32 // index into the repository's pack table
	Offset    uint32
	Length    uint32 // stored length
	RawLength uint32 // plaintext length
	Flags     uint8
}

// PackEntry is one blob as a pack header lists it.
type PackEntry struct {
	ID        ID
	Flags     uint8
	Offset    uint32
	Length    uint32
	RawLength uint32
}

// encodeHeader serialises pack entries (the plaintext header).
func encodeHeader(entries []PackEntry) []byte {
	b := make([]byte, 0, len(entries)*45+8)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = append(b, e.ID[:]...)
		b = append(b, e.Flags)
		b = binary.AppendUvarint(b, uint64(e.Offset))
		b = binary.AppendUvarint(b, uint64(e.Length))
		b = binary.AppendUvarint(b, uint64(e.RawLength))
	}
	return b
}

// DecodeHeader parses a plaintext pack header. It never panics on bad input.
func DecodeHeader(b []byte) ([]PackEntry, error) {
	d := decoder{b: b}
	n, err := d.uvarint()
	if err != nil {
		return nil, fmt.Errorf("pack header: entry count: %w", err)
	}
	out, err := d.entries(n, nil)
	if err != nil {
		return nil, fmt.Errorf("pack header: %w", err)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("pack header: %d trailing bytes", len(d.b))
	}
	return out, nil
}

// decoder reads the encodings of pack headers and index objects from b,
// consuming it; a slice and binary.Uvarint instead of a bytes.Reader, as
// a new process decodes its whole index (40,000 entries at 10,000
// snapshots of BenchmarkBackupAfterHistory) before its first backup.
type decoder struct{ b []byte }

var errShort = errors.New("unexpected end of data")

func (d *decoder) uvarint() (uint64, error) {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		if n == 0 {
			return 0, errShort
		}
		return 0, errors.New("varint overflows 64 bits")
	}
	d.b = d.b[n:]
	return v, nil
}

// entries reads n encoded entries (see encodeHeader) into out[:0] when
// its capacity holds them (the caller's backing array, to allocate once
// for many packs), else into a new slice.
func (d *decoder) entries(n uint64, out []PackEntry) ([]PackEntry, error) {
	if n > uint64(len(d.b))/packEntryMinLen {
		return nil, fmt.Errorf("%d entries cannot fit in %d bytes", n, len(d.b))
	}
	if uint64(cap(out)) < n {
		out = make([]PackEntry, 0, n)
	}
	out = out[:0]
	for i := uint64(0); i < n; i++ {
		var e PackEntry
		if len(d.b) < len(e.ID)+1 {
			return nil, fmt.Errorf("entry %d: %w", i, errShort)
		}
		copy(e.ID[:], d.b)
		e.Flags = d.b[len(e.ID)]
		d.b = d.b[len(e.ID)+1:]
		var vals [3]uint64
		for j := range vals {
			v, err := d.uvarint()
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
			if v > 1<<32-1 {
				return nil, fmt.Errorf("entry %d: value %d out of range", i, v)
			}
			vals[j] = v
		}
		e.Offset, e.Length, e.RawLength = uint32(vals[0]), uint32(vals[1]), uint32(vals[2])
		out = append(out, e)
	}
	return out, nil
}

// codec holds pooled zstd encoders and decoders.
type codec struct {
	enc  sync.Pool
	meta sync.Pool // encoders for metadata chunks, see newCodec
	dec  sync.Pool
}

func newCodec() *codec {
	c := &codec{}
	newEncoder := func(allLiterals bool) func() any {
		return func() any {
			e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
				zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(false), zstd.WithWindowSize(1<<20),
				zstd.WithAllLitEntropyCompression(allLiterals))
			return e
		}
	}
	// File content: a block without matches is stored as it is, which
	// skips random data fast.
	c.enc.New = newEncoder(false)
	// Metadata (entry-list segments, the segment-ID list): a block without
	// matches is still entropy-coded. The segment-ID list is hex IDs, one
	// per line, with no repeats for the match finder: stored as it is, it
	// took twice its entropy (41,405 bytes for 637 IDs, 21,128 coded).
	c.meta.New = newEncoder(true)
	c.dec.New = func() any {
		d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(2*MaxChunk),
			zstd.WithDecoderLowmem(true))
		return d
	}
	return c
}

// compress appends src compressed to dst, with the metadata encoder when
// meta is set.
func (c *codec) compress(dst, src []byte, meta bool) []byte {
	pool := &c.enc
	if meta {
		pool = &c.meta
	}
	e := pool.Get().(*zstd.Encoder)
	out := e.EncodeAll(src, dst)
	pool.Put(e)
	return out
}

func (c *codec) decompress(dst, src []byte) ([]byte, error) {
	d := c.dec.Get().(*zstd.Decoder)
	out, err := d.DecodeAll(src, dst)
	c.dec.Put(d)
	return out, err
}

// PackKey returns the object key of pack name.
func (r *Repo) PackKey(name string) string { return r.prefix + "packs/" + name[:2] + "/" + name }

// ReadPackHeader reads and decodes the header of the pack at key.
func (r *Repo) ReadPackHeader(ctx context.Context, key string) ([]PackEntry, error) {
	info, err := r.store.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	tl := int64(4 + len(packMagic))
	if info.Size < tl {
		return nil, &CorruptError{Key: key, Detail: "pack shorter than its trailer"}
	}
	trailer, err := readRange(ctx, r.store, key, info.Size-tl, tl)
	if err != nil {
		return nil, err
	}
	if string(trailer[4:]) != packMagic {
		return nil, &CorruptError{Key: key, Detail: "bad pack magic"}
	}
	hl := int64(binary.LittleEndian.Uint32(trailer[:4]))
	if hl > info.Size-tl || hl > maxPackHeader {
		return nil, &CorruptError{Key: key, Detail: "pack header length out of range"}
	}
	sealed, err := readRange(ctx, r.store, key, info.Size-tl-hl, hl)
	if err != nil {
		return nil, err
	}
	plain, err := r.openMeta(key, sealed, metaAD("pack-header", strings.TrimPrefix(key, r.prefix)), "pack-header")
	if err != nil {
		return nil, err
	}
	entries, err := DecodeHeader(plain)
	if err != nil {
		return nil, &CorruptError{Key: key, Detail: err.Error()}
	}
	body := uint64(info.Size - tl - hl)
	for _, e := range entries {
		if uint64(e.Offset)+uint64(e.Length) > body {
			return nil, &CorruptError{Key: key, Detail: fmt.Sprintf("chunk %s lies outside the pack's %d bytes of data", e.ID, body)}
		}
	}
	return entries, nil
}

func readRange(ctx context.Context, s storage.Store, key string, off, n int64) ([]byte, error) {
	rc, err := s.GetRange(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, &CorruptError{Key: key, Detail: fmt.Sprintf("short read at offset %d", off)}
		}
		return nil, err
	}
	return b, nil
}

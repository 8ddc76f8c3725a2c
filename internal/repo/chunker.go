package repo

import (
	"errors"
	"io"
	"math/bits"
)

// Chunker parameters. Content-defined chunking (FastCDC with normalized
// chunking): boundaries depend on the bytes around them, so an insert in the
// middle of a file changes the chunks near it and not the rest.
const (
	MinChunk = 256 << 10
	AvgChunk = 1 << 20
	MaxChunk = 4 << 20
)

// Normalization level 2: a stricter mask before the average size, a looser
// one after, which narrows the size distribution around AvgChunk.
var (
	maskS = spreadMask(bits.TrailingZeros(AvgChunk) + 2)
	maskL = spreadMask(bits.TrailingZeros(AvgChunk) - 2)
)

// spreadMask returns a mask with n bits set, spread over the high 48 bits
// of the 64-bit gear hash (the low bits see too few input bytes).
func spreadMask(n int) uint64 {
	var m uint64
	step := 48 / n
	for i := 0; i < n; i++ {
		m |= 1 << (63 - i*step)
	}
	return m
}

// Gear is the chunker's table of 256 random values. It is derived from the
// scope's key, so chunk boundaries — and with them sizes — do not reveal
// content across repositories.
type Gear [256]uint64

// NewGear derives a gear table from seed (any length).
func NewGear(seed []byte) *Gear {
	var g Gear
	// splitmix64 over a state folded from the seed.
	var s uint64 = 0x9e3779b97f4a7c15
	for i, b := range seed {
		s ^= uint64(b) << (8 * (i % 8))
		s = s*0xbf58476d1ce4e5b9 + uint64(i)
	}
	for i := range g {
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		g[i] = z ^ (z >> 31)
	}
	return &g
}

// Chunker splits a stream into content-defined chunks. It holds one buffer
// (BigChunkerBuf bytes unless the stream is known to be shorter); Next
// returns slices of it, valid until the next call.
type Chunker struct {
	gear  *Gear
	r     io.Reader
	buf   []byte
	start int // first unconsumed byte
	end   int // end of valid data
	eof   bool
	err   error
}

// NewChunker returns a Chunker reading r into buf (callers pool them); a
// nil buf gets a new one of BigChunkerBuf bytes. Any buf of MaxChunk bytes
// or more cuts a stream at the same places: the chunker refills it
// whenever less than MaxChunk bytes are left, and a cut looks no further.
// A shorter buf is fine for a stream known to be shorter than len(buf); a
// longer stream would be cut at buffer boundaries instead of by content.
func NewChunker(g *Gear, r io.Reader, buf []byte) *Chunker {
	if len(buf) == 0 {
		buf = make([]byte, BigChunkerBuf)
	}
	return &Chunker{gear: g, r: r, buf: buf}
}

// NewChunkerOver returns a Chunker over data held in memory: it reads
// nothing and cuts data where a Chunker reading it would.
func NewChunkerOver(g *Gear, data []byte) *Chunker {
	return &Chunker{gear: g, buf: data, end: len(data), eof: true}
}

// Next returns the next chunk, or io.EOF after the last one. The slice is
// only valid until the next call.
//
// It refills its buffer (moving what is left to the front) only when the
// data left cannot decide the next cut: a boundary found within AvgChunk
// bytes or more of data is the boundary a longer view would find (the
// scan before it is the same), so a buffer is not topped up after every
// chunk, which moved most of it each time.
func (c *Chunker) Next() ([]byte, error) {
	n, found := 0, false
	if left := c.end - c.start; left >= AvgChunk && left < MaxChunk && !c.eof {
		n, found = cutAt(c.gear, c.buf[c.start:c.end])
	}
	if !found {
		if c.end-c.start < MaxChunk && !c.eof {
			if err := c.fill(); err != nil {
				return nil, err
			}
		}
		if c.start == c.end {
			return nil, io.EOF
		}
		n = cut(c.gear, c.buf[c.start:c.end])
	}
	chunk := c.buf[c.start : c.start+n]
	c.start += n
	return chunk, nil
}

func (c *Chunker) fill() error {
	if c.err != nil {
		return c.err
	}
	if c.start > 0 {
		c.end = copy(c.buf, c.buf[c.start:c.end])
		c.start = 0
	}
	for c.end < len(c.buf) {
		n, err := c.r.Read(c.buf[c.end:])
		c.end += n
		if errors.Is(err, io.EOF) {
			c.eof = true
			return nil
		}
		if err != nil {
			c.err = err
			return err
		}
	}
	return nil
}

// cut returns the length of the first chunk of data (all of data when it is
// shorter than MinChunk or ends before a boundary within MaxChunk).
func cut(g *Gear, data []byte) int {
	n, _ := cutAt(g, data)
	return n
}

// cutAt is cut, and whether the cut is at a boundary the content chose
// (false when data ran out or MaxChunk was reached first).
func cutAt(g *Gear, data []byte) (int, bool) {
	n := len(data)
	if n <= MinChunk {
		return n, false
	}
	if n > MaxChunk {
		n = MaxChunk
	}
	normal := AvgChunk
	if n < normal {
		normal = n
	}
	// The gear hash only remembers the last 64 bytes, so starting at
	// MinChunk without warm-up changes nothing that matters.
	i, h, ok := gearScan(g, data[:normal], MinChunk, 0, maskS)
	if ok {
		return i, true
	}
	if i, _, ok = gearScan(g, data[:n], i, h, maskL); ok {
		return i, true
	}
	return n, false
}

// gearScan rolls the gear hash h over data from i and returns the length
// up to the first byte after which h&mask is zero, with ok set; else
// len(data), the hash there and false. Each step is h = h<<1 + g[b]; four
// steps are taken as h<<4 plus the four bytes' terms, which do not depend
// on h, so the chain from one h to the next is two operations every four
// bytes instead of two every byte (the hashes, and so the cuts, are the
// same: the sums wrap alike).
func gearScan(g *Gear, data []byte, i int, h uint64, mask uint64) (int, uint64, bool) {
	for ; i+4 <= len(data); i += 4 {
		a, b, c, d := g[data[i]], g[data[i+1]], g[data[i+2]], g[data[i+3]]
		h1 := h<<1 + a
		h2 := h<<2 + (a<<1 + b)
		h3 := h<<3 + (a<<2 + b<<1 + c)
		h = h<<4 + (a<<3 + b<<2 + c<<1 + d)
		switch {
		case h1&mask == 0:
			return i + 1, 0, true
		case h2&mask == 0:
			return i + 2, 0, true
		case h3&mask == 0:
			return i + 3, 0, true
		case h&mask == 0:
			return i + 4, 0, true
		}
	}
	for ; i < len(data); i++ {
		h = h<<1 + g[data[i]]
		if h&mask == 0 {
			return i + 1, 0, true
		}
	}
	return len(data), h, false
}

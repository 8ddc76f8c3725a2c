package repo

import (
	"math/bits"
	"sync"
)

// Buffer pools. A backup or restore recycles its large buffers, so memory
// stays flat whatever the size of files or of the dataset. There are three
// pools, all in this file:
//
//   - ChunkerBufs (one per backup.Engine) holds the chunker buffers of
//     files of MaxChunk bytes or more, of files of unknown size and of
//     each backup's entry list, BigChunkerBuf bytes each (the chunker needs
//     room for a whole chunk). A backup holds one per read worker reading
//     such a file plus one for its entry list; at most the number of idle
//     ones its owner chose are kept, and past that a returned buffer is
//     left to the collector. Files between smallFile and MaxChunk bytes
//     borrow a buffer of their own size from the decoded-chunk pool.
//   - smallBufs (a sync.Pool) holds the chunker buffers of files under
//     smallFile bytes, smallFile+1 bytes each: such a file is one chunk and
//     the chunker sees its end in the first read, so it needs no full-size
//     buffer. A backup holds at most one per read worker; idle ones go at
//     the next collection.
//   - getBuf and putBuf recycle the buffers Reader (restores and other
//     reads) decodes chunks into, and the chunker buffers of mid-sized
//     files, by size class: at most poolBytes of idle ones.
//
// smallBufs and the decoded-chunk pool are process-wide on purpose, as
// sync.Pool is: their buffers are plain memory, owned by no Repo or
// Engine, and a process running many engines (one per tenant, say) should
// not keep a set of idle buffers per engine.
//
// The decoded-chunk pool exists because a restore of 11,556 files
// otherwise allocated a fresh buffer for nearly every file and chunk:
// about 700 MB/s of garbage and a collection every 30 ms.

// Decoded-chunk buffers: sizes come in classes a quarter of a power of two apart (4 KiB, 5 KiB,
// 6 KiB, 7 KiB, 8 KiB, 10 KiB, ... up to MaxChunk), so a buffer wastes
// at most a fifth of itself, and the pool keeps at most poolBytes of idle
// buffers: past that, a returned buffer is left to the collector. Memory
// in use stays bounded by the restore's BufferBytes plus poolBytes. Idle
// buffers count as live heap, and the collector lets the heap grow to
// twice that, so the cap is small: on the 1 GiB restore, 4 MiB gave most of
// the gain (1.25 to 1.17 s, peak RSS 115 to 129 MB) where 8 MiB added
// 10 MB more for 0.02 s.
const (
	minBufSize = 4 << 10
	poolBytes  = 4 << 20
)

// A class is (e, m): buffers of m<<e bytes, m in 5..8 (4 KiB is e=9, m=8).
const (
	minBufExp = 9
	maxBufExp = 19 // 8<<19 = 4 MiB = MaxChunk
	nClasses  = (maxBufExp-minBufExp)*4 + 4
)

// maxBufExp must match MaxChunk: each of these fails to compile when
// one side is larger.
const (
	_ = uint(MaxChunk - 8<<maxBufExp)
	_ = uint(8<<maxBufExp - MaxChunk)
)

// bufClass is the smallest class holding n bytes and its size, or -1 when n
// is larger than any class.
func bufClass(n int) (class, size int) {
	n = max(n, minBufSize)
	if n > MaxChunk {
		return -1, 0
	}
	e := bits.Len(uint(n-1)) - 3 // n-1 < 8<<e, n > 4<<e
	m := (n + 1<<e - 1) >> e     // 5..8
	return (e-minBufExp)*4 + m - 5, m << e
}

var bufs struct {
	mu    sync.Mutex
	free  [nClasses][][]byte
	bytes int
}

// getBuf returns an empty buffer with room for n bytes.
func getBuf(n int) []byte {
	c, size := bufClass(n)
	if c < 0 {
		return make([]byte, 0, n)
	}
	bufs.mu.Lock()
	if l := bufs.free[c]; len(l) > 0 {
		b := l[len(l)-1]
		bufs.free[c] = l[:len(l)-1]
		bufs.bytes -= cap(b)
		bufs.mu.Unlock()
		return b
	}
	bufs.mu.Unlock()
	return make([]byte, 0, size)
}

// putBuf recycles b, which its holder no longer uses. Buffers of a size no
// class has (grown by an append elsewhere), and any beyond poolBytes of
// idle ones, are left to the collector.
func putBuf(b []byte) {
	c, size := bufClass(cap(b))
	if c < 0 || cap(b) != size {
		return
	}
	bufs.mu.Lock()
	defer bufs.mu.Unlock()
	if bufs.bytes+size > poolBytes {
		return
	}
	bufs.free[c] = append(bufs.free[c], b[:0])
	bufs.bytes += size
}

// smallFile is the size under which a file is chunked with a buffer from
// smallBufs rather than Engine.bufs.
const smallFile = 1 << 20

// smallBufs holds *[]byte of smallFile+1 bytes.
var smallBufs = &sync.Pool{New: func() any { b := make([]byte, smallFile+1); return &b }}

// freeList hands out equal buffers, keeping at most a known number of idle
// ones for reuse. It is safe for concurrent use.
type freeList struct {
	c    chan []byte
	size int
}

// newFreeList returns a freeList of size-byte buffers keeping at most n
// idle ones.
func newFreeList(n, size int) *freeList { return &freeList{c: make(chan []byte, n), size: size} }

// get returns an idle buffer or a new one.
func (f *freeList) get() []byte {
	select {
	case b := <-f.c:
		return b
	default:
		return make([]byte, f.size)
	}
}

// put keeps b for reuse unless n buffers are idle already.
func (f *freeList) put(b []byte) {
	select {
	case f.c <- b:
	default:
	}
}

// BigChunkerBuf is the size of the chunker buffers of large streams: room
// for a whole chunk (the most a cut looks at) and a quarter of one more,
// so that the chunker refills after about a megabyte of chunks, moving
// what is left (under MaxChunk) to the front of the buffer. Twice MaxChunk
// halved those moves but held 3 MiB more per file in flight; the moves
// cost about one copy of the data, a small fraction of hashing and
// compressing it.
const BigChunkerBuf = MaxChunk + MaxChunk/4

// ChunkerBufs hands out chunker buffers sized by what they will chunk: for
// a file under smallFile bytes a buffer of smallFile+1 bytes from a
// process-wide pool (such a file is one chunk, and the chunker sees its
// end in the first read); for a file of known size up to MaxChunk a buffer
// one byte longer than the file, from the decoded-chunk pool; otherwise one
// of BigChunkerBuf bytes from a free list of its own. It is safe for
// concurrent use.
type ChunkerBufs struct{ big *freeList }

// NewChunkerBufs returns a ChunkerBufs keeping at most idle large buffers
// for reuse.
func NewChunkerBufs(idle int) *ChunkerBufs {
	return &ChunkerBufs{big: newFreeList(idle, BigChunkerBuf)}
}

// ChunkerBuf is a buffer from ChunkerBufs; give it back with Put.
type ChunkerBuf struct {
	B     []byte
	small *[]byte // from smallBufs
	sized bool    // from getBuf
}

// Get returns a buffer for chunking a stream of size bytes (negative:
// unknown, which gets a large buffer).
func (p *ChunkerBufs) Get(size int64) ChunkerBuf {
	switch {
	case size >= 0 && size < smallFile:
		b := smallBufs.Get().(*[]byte)
		return ChunkerBuf{B: *b, small: b}
	case size >= 0 && size < MaxChunk:
		b := getBuf(int(size) + 1)
		return ChunkerBuf{B: b[:cap(b)], sized: true}
	}
	return ChunkerBuf{B: p.big.get()}
}

// Put recycles a buffer from Get.
func (p *ChunkerBufs) Put(c ChunkerBuf) {
	switch {
	case c.small != nil:
		smallBufs.Put(c.small)
	case c.sized:
		putBuf(c.B)
	default:
		p.big.put(c.B)
	}
}

package backup

import (
	"math/bits"
	"sync"

	"github.com/iluxsys/steward/internal/repo"
)

// Buffers for decoded chunks are recycled by size class (powers of two
// from 4 KiB to repo.MaxChunk). A restore of 11,556 files otherwise
// allocated a fresh buffer for nearly every file and chunk: about 700 MB/s
// of garbage and a collection every 30 ms. sync.Pool lets the collector
// drop what stays unused, so an idle process holds none of them.
const (
	minBufClass = 12 // 4 KiB
	maxBufClass = 22 // 4 MiB = repo.MaxChunk
)

var chunkBufs [maxBufClass + 1]sync.Pool

// bufClass is the class whose buffers hold n bytes, or -1 when n is larger
// than any class.
func bufClass(n int) int {
	c := max(bits.Len(uint(max(n, 1)-1)), minBufClass)
	if c > maxBufClass {
		return -1
	}
	return c
}

// getBuf returns an empty buffer with room for n bytes.
func getBuf(n int) []byte {
	c := bufClass(n)
	if c < 0 {
		return make([]byte, 0, n)
	}
	if p, ok := chunkBufs[c].Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, 1<<c)
}

// putBuf recycles b, which its holder no longer uses. Buffers of a size no
// class has (grown by an append elsewhere) are left to the collector.
func putBuf(b []byte) {
	c := bufClass(cap(b))
	if c < 0 || cap(b) != 1<<c {
		return
	}
	b = b[:0]
	chunkBufs[c].Put(&b)
}

// maxBufClass must be repo.MaxChunk: each of these fails to compile when
// the other is larger.
const (
	_ = uint(repo.MaxChunk - 1<<maxBufClass)
	_ = uint(1<<maxBufClass - repo.MaxChunk)
)

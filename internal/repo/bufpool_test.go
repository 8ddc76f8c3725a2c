package repo

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBufClasses(t *testing.T) {
	prev := -1
	for _, c := range []struct{ n, size int }{
		{0, 4096}, {1, 4096}, {4096, 4096}, {4097, 5120}, {5120, 5120}, {5121, 6144}, {8192, 8192}, {8193, 10240},
		{1 << 20, 1 << 20}, {1<<20 + 1, 1280 << 10}, {3 << 20, 3 << 20}, {4 << 20, 4 << 20},
	} {
		class, size := bufClass(c.n)
		require.Equal(t, c.size, size, "size %d", c.n)
		require.GreaterOrEqual(t, class, prev, "classes grow with sizes")
		require.Less(t, class, nClasses)
		prev = class
	}
	class, _ := bufClass(4<<20 + 1)
	require.Equal(t, -1, class)
	// Every class wastes less than a fifth of its buffer.
	for n := 4097; n <= 4<<20; n += 997 {
		_, size := bufClass(n)
		require.GreaterOrEqual(t, size, n)
		require.Less(t, size-n, size/5+1, "size %d", n)
	}
}

func TestBufPool(t *testing.T) {
	for _, n := range []int{0, 1, 5000, 1 << 20, 4 << 20, 5 << 20} {
		b := getBuf(n)
		require.Zero(t, len(b))
		require.GreaterOrEqual(t, cap(b), n)
		putBuf(append(b, 1)) // recycled empty, whatever its length
	}
	// A recycled buffer comes back empty and of its class's size; one
	// whose capacity is no class is never handed out.
	putBuf(make([]byte, 10, 7000))
	b := getBuf(7000)
	require.Zero(t, len(b))
	require.Equal(t, 7168, cap(b))

	// Idle buffers never exceed poolBytes.
	for range 2 * poolBytes / (4 << 20) {
		putBuf(make([]byte, 0, 4<<20))
	}
	bufs.mu.Lock()
	require.LessOrEqual(t, bufs.bytes, poolBytes)
	require.Positive(t, bufs.bytes)
	bufs.mu.Unlock()
}

package backup

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBufClasses(t *testing.T) {
	for _, c := range []struct{ n, class int }{
		{0, 12}, {1, 12}, {4096, 12}, {4097, 13}, {1 << 20, 20}, {1<<20 + 1, 21}, {4 << 20, 22}, {4<<20 + 1, -1},
	} {
		require.Equal(t, c.class, bufClass(c.n), "size %d", c.n)
	}
	for _, n := range []int{0, 1, 5000, 1 << 20, 4 << 20, 5 << 20} {
		b := getBuf(n)
		require.Zero(t, len(b))
		require.GreaterOrEqual(t, cap(b), n)
		putBuf(append(b, 1)) // recycled empty, whatever its length
	}
	// A recycled buffer comes back empty and of its class's size; one
	// whose capacity is no class is never handed out again.
	putBuf(make([]byte, 10, 5000))
	for range 3 {
		b := getBuf(8000)
		require.Zero(t, len(b))
		require.Equal(t, 8192, cap(b))
	}
}

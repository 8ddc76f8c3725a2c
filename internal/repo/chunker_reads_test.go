package repo

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// Boundaries depend on content only, never on how the reader splits it.
func TestChunkerIndependentOfReadSizes(t *testing.T) {
	g := NewGear([]byte("reads"))
	data := randBytes(9, 11<<20+333)
	want := chunkAll(t, g, data)
	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"half", func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }},
		{"data-with-eof", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) }},
		{"odd-sizes", func() io.Reader { return &oddReader{data: data} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := drain(t, NewChunker(g, tc.r(), nil))
			require.Equal(t, len(want), len(got))
			for i := range want {
				require.Equal(t, len(want[i]), len(got[i]), "chunk %d", i)
			}
			require.Equal(t, data, bytes.Join(got, nil))
		})
	}
}

// oddReader returns reads of varying odd sizes.
type oddReader struct {
	data []byte
	n    int
}

func (o *oddReader) Read(p []byte) (int, error) {
	if len(o.data) == 0 {
		return 0, io.EOF
	}
	o.n++
	k := min(len(p), len(o.data), (o.n*7919)%65537+1)
	copy(p, o.data[:k])
	o.data = o.data[k:]
	return k, nil
}

// A read error is returned, not swallowed as the end of the stream.
func TestChunkerReadError(t *testing.T) {
	boom := iotest.ErrReader(io.ErrClosedPipe)
	c := NewChunker(NewGear(nil), io.MultiReader(bytes.NewReader(randBytes(1, 5<<20)), boom), nil)
	var err error
	for err == nil {
		_, err = c.Next()
	}
	require.ErrorIs(t, err, io.ErrClosedPipe)
}

// Boundaries do not depend on the buffer either, once it holds a whole
// chunk: a buffer of MaxChunk, of BigChunkerBuf, of the 2×MaxChunk older
// versions used (so new backups deduplicate against old ones) and one
// holding the whole stream all cut at the same places.
func TestChunkerIndependentOfBufferSize(t *testing.T) {
	g := NewGear([]byte("bufs"))
	data := randBytes(11, 23<<20+71)
	lengths := func(buf []byte) []int {
		c := NewChunker(g, &oddReader{data: data}, buf)
		var out []int
		for {
			ch, err := c.Next()
			if err == io.EOF {
				return out
			}
			require.NoError(t, err)
			out = append(out, len(ch))
		}
	}
	want := lengths(make([]byte, len(data)+1))
	require.Greater(t, len(want), 15)
	for _, n := range []int{MaxChunk, BigChunkerBuf, 2 * MaxChunk, 3*MaxChunk + 17} {
		require.Equal(t, want, lengths(make([]byte, n)), "buffer of %d bytes", n)
	}
}

// ChunkerBufs sizes buffers by what they chunk and takes each back.
func TestChunkerBufsSizes(t *testing.T) {
	p := NewChunkerBufs(1)
	for _, tc := range []struct {
		size    int64
		min     int
		atMost  int
		wantBig bool
	}{
		{0, 1, smallFile + 1, false},
		{smallFile - 1, smallFile, smallFile + 1, false},
		{smallFile, smallFile + 1, smallFile + smallFile/4, false},
		{MaxChunk - 1, MaxChunk, MaxChunk, false},
		{MaxChunk, BigChunkerBuf, BigChunkerBuf, true},
		{-1, BigChunkerBuf, BigChunkerBuf, true},
	} {
		b := p.Get(tc.size)
		require.GreaterOrEqual(t, len(b.B), tc.min, "size %d", tc.size)
		require.LessOrEqual(t, len(b.B), tc.atMost, "size %d", tc.size)
		p.Put(b)
		if tc.wantBig {
			require.Len(t, p.big.c, 1, "a large buffer goes back to the free list")
			require.Equal(t, BigChunkerBuf, len(p.Get(tc.size).B))
		}
	}
}

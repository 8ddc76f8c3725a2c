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
			c := NewChunker(g, tc.r(), nil)
			var got [][]byte
			for {
				ch, err := c.Next()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				got = append(got, append([]byte(nil), ch...))
			}
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

package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// readAllHint returns what io.ReadAll does whatever the hint: exact, too
// small, too large, none, and over a reader that returns a byte at a time
// or data with its EOF.
func TestReadAllHintWhateverTheHint(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 4096, 100_000} {
		data := bytes.Repeat([]byte{7}, n)
		for _, hint := range []int64{-1, 0, int64(n) / 2, int64(n), int64(n) + 1, 2*int64(n) + 10} {
			for name, r := range map[string]func() io.Reader{
				"plain":    func() io.Reader { return bytes.NewReader(data) },
				"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
				"data+EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) },
			} {
				got, err := readAllHint(r(), hint)
				require.NoError(t, err, "%d bytes, hint %d, %s", n, hint, name)
				require.Equal(t, data, got, "%d bytes, hint %d, %s", n, hint, name)
			}
		}
	}
	_, err := readAllHint(iotest.ErrReader(io.ErrUnexpectedEOF), 10)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

// ReadAllLimit reads objects on both sides of the directory store's whole
// read (256 KiB), and refuses one over its limit with ErrTooLarge.
func TestReadAllLimitOfDirectoryObjects(t *testing.T) {
	ctx := context.Background()
	s, err := OpenDir(t.TempDir())
	require.NoError(t, err)
	for _, n := range []int{0, 10, smallRead, smallRead + 1, 3 << 20} {
		key := fmt.Sprintf("obj/%d", n)
		data := bytes.Repeat([]byte{byte(n)}, n)
		require.NoError(t, PutBytes(ctx, s, key, data, nil))
		got, err := ReadAllLimit(ctx, s, key, int64(n))
		require.NoError(t, err)
		require.Equal(t, data, got)
		if n > 0 {
			_, err = ReadAllLimit(ctx, s, key, int64(n-1))
			require.ErrorIs(t, err, ErrTooLarge)
		}
	}
}

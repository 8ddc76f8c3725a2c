package sqltenant

import (
	"bytes"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// encodeRows returns the row encoding of rows under columns.
func encodeRows(t testing.TB, columns []string, rows [][]value) []byte {
	var buf bytes.Buffer
	enc, err := newEncoder(&buf, columns)
	require.NoError(t, err)
	for _, r := range rows {
		require.NoError(t, enc.write(r))
	}
	require.NoError(t, enc.close())
	return buf.Bytes()
}

// decodeRows decodes a whole rows file, copying each row.
func decodeRows(b []byte) ([]string, [][]value, error) {
	dec, err := newDecoder(bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	var rows [][]value
	for {
		r, err := dec.next()
		if errors.Is(err, io.EOF) {
			return dec.columns, rows, nil
		}
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, append([]value(nil), r...))
	}
}

func TestRowEncodingRoundTrip(t *testing.T) {
	rows := [][]value{
		{null(), text(""), blob(nil), integer(0), float(0)},
		{text("Zoë 🚀 日本\x00\xff"), blob([]byte{0, 1, 0xff}), integer(math.MinInt64), integer(math.MaxInt64), float(math.Copysign(0, -1))},
		{text(`{"a":[1,2.5,null]}`), text("2026-03-04T05:06:07.123456789+05:30"), float(math.Inf(-1)), float(math.NaN()), float(0.1 + 0.2)},
	}
	b := encodeRows(t, []string{"a", "b", "c", "d", "e"}, rows)
	cols, got, err := decodeRows(b)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, cols)
	require.Len(t, got, len(rows))
	for i := range rows {
		for j := range rows[i] {
			require.True(t, rows[i][j].equal(got[i][j]), "row %d col %d: got %#v, want %#v", i, j, got[i][j], rows[i][j])
		}
	}
	require.True(t, got[0][1].k == kindText && got[0][2].k == kindBlob && got[0][0].isNull(), "'' is text, an empty blob a blob, NULL null")
	require.Equal(t, b, encodeRows(t, cols, got), "encoding is deterministic")
}

func TestRowDecodingRefuses(t *testing.T) {
	good := encodeRows(t, []string{"x"}, [][]value{{integer(300)}})
	for name, b := range map[string][]byte{
		"empty":          nil,
		"bad magic":      append([]byte("steward-rowz"), good[12:]...),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(bytes.Clone(good), 0),
		"wrong count":    append(bytes.Clone(good[:len(good)-1]), 2),
		"overlong varint": func() []byte {
			b := encodeRows(t, []string{"x"}, nil)
			return append(b[:len(rowsMagic)], 0x81, 0x00, 1, 'x', 'e', 0)
		}(),
		"unknown value tag": append(bytes.Clone(good[:len(rowsMagic)+3]), 'r', 9, 'e', 1),
	} {
		_, _, err := decodeRows(b)
		require.ErrorIs(t, err, ErrCorruptRows, name)
	}
}

// FuzzRowEncoding: any bytes either fail to decode with ErrCorruptRows or
// decode to rows that encode back to exactly those bytes; and rows built
// from the fuzzer's values decode back equal.
func FuzzRowEncoding(f *testing.F) {
	f.Add(encodeRowsF([]string{"a", "b"}, [][]value{{null(), text("x")}, {integer(-5), blob([]byte{})}}), int64(7), 1.5, "t", []byte{1})
	f.Add([]byte(rowsMagic), int64(math.MinInt64), math.Inf(1), "", []byte(nil))
	f.Fuzz(func(t *testing.T, b []byte, i int64, fl float64, s string, bl []byte) {
		if cols, rows, err := decodeRows(b); err == nil {
			if !bytes.Equal(b, encodeRowsF(cols, rows)) {
				t.Fatalf("encode(decode(b)) != b for %x", b)
			}
		} else if !errors.Is(err, ErrCorruptRows) {
			t.Fatalf("error %v does not match ErrCorruptRows", err)
		}
		row := []value{null(), integer(i), float(fl), text(s), blob(bl)}
		enc := encodeRowsF([]string{"n", "i", "f", "s", "b"}, [][]value{row, row})
		_, got, err := decodeRows(enc)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			for j := range row {
				if !row[j].equal(r[j]) {
					t.Fatalf("column %d: got %#v, want %#v", j, r[j], row[j])
				}
			}
		}
	})
}

// encodeRowsF is encodeRows without a testing.TB (encoding to memory
// cannot fail but on a row of the wrong width, which it panics on).
func encodeRowsF(columns []string, rows [][]value) []byte {
	var buf bytes.Buffer
	enc, _ := newEncoder(&buf, columns)
	for _, r := range rows {
		if err := enc.write(r); err != nil {
			panic(err)
		}
	}
	if err := enc.close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

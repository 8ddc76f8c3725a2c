package backup

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// FuzzParseFileLine holds the hand decoder of entry lines to
// encoding/json: whatever it accepts, json.Unmarshal accepts with the
// same value; decodeFileLine (hand, then encoding/json) decodes every line
// exactly as json.Unmarshal does; and a line encoded from what it decoded
// decodes to what encodes the same again.
func FuzzParseFileLine(f *testing.F) {
	for _, s := range []string{
		`{"p":"users/1","s":3,"m":420,"t":0,"h":"ab","c":["x"],"z":[3]}`,
		`{"p":"m/b","s":1,"m":420,"t":-5,"h":"ab","c":["x","y"],"z":[1,0],"hl":"m/a"}`,
		`{"p":"m/l","s":0,"m":134218239,"t":5,"l":"../t"}`,
		`{"p":"m/z","pb":"bS9j6Q==","s":0,"m":420,"t":5}`,
		`{"p":"caf\u00e9","s":0,"m":420,"t":5}`,
		`{"p":"x","s":01,"m":420,"t":5}`,
		`{"p":"x","s":1e3,"m":420,"t":5}`,
		`{"p":"x","s":1,"m":4294967296,"t":5}`,
		`{"p":"x","s":1,"m":-1,"t":5}`,
		`{"p":"x","s":1,"m":1,"t":5,"c":[]}`,
		`{"P":"x","s":1,"m":1,"t":5}`,
		`{"p":"x","s":1,"m":1,"t":5} `,
		`{"p":"x","s":1,"m":1,"t":5,"x":1}`,
		`{"p":"x","s":1,"m":1,"t":5,"h":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want fileLine
		wantErr := json.Unmarshal(b, &want)
		var fast fileLine
		if parseFileLine(b, &fast) {
			require.NoError(t, wantErr, "the hand decoder took %q, which encoding/json refuses", b)
			require.Equal(t, want, fast, "line %q", b)
		}
		var got fileLine
		err := decodeFileLine(b, &got)
		if wantErr != nil {
			require.Error(t, err, "decodeFileLine took %q", b)
			return
		}
		require.NoError(t, err)
		require.Equal(t, want, got, "line %q", b)
		enc, err := json.Marshal(&got)
		require.NoError(t, err)
		var again fileLine
		require.NoError(t, decodeFileLine(enc, &again))
		enc2, err := json.Marshal(&again)
		require.NoError(t, err)
		require.Equal(t, string(enc), string(enc2), "round trip of %q (an empty list and none encode alike)", b)
	})
}

// TestLineReader splits lines however the reader hands the bytes over,
// skips blank lines, assembles lines longer than its buffer and returns
// the last line without a newline.
func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	in := "a\n\n  \nb\r\n" + long + "\nlast"
	for name, r := range map[string]io.Reader{
		"whole":    strings.NewReader(in),
		"one byte": iotest.OneByteReader(strings.NewReader(in)),
		"halves":   iotest.HalfReader(strings.NewReader(in)),
	} {
		t.Run(name, func(t *testing.T) {
			lr := newLineReader(r)
			var got []string
			for {
				l, err := lr.next()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				got = append(got, string(bytes.Clone(l)))
			}
			require.Equal(t, []string{"a", "b", long, "last"}, got)
		})
	}
	_, err := newLineReader(iotest.ErrReader(io.ErrUnexpectedEOF)).next()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "a reader's error is returned as it is")
}

// BenchmarkDecodeEntryLines decodes the entry lines of 10,000 small files
// by hand and, for comparison, with encoding/json.
func BenchmarkDecodeEntryLines(b *testing.B) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range 10_000 {
		f := File{Entry: Entry{Path: "records/2026/" + strings.Repeat("d", i%7) + "/file-" + string(rune('a'+i%26)) + ".json", Size: 2879, Mode: 0o644},
			SHA256: strings.Repeat("ab", 32), Chunks: []ChunkRef{{ID: strings.Repeat("cd", 32), Size: 2879}}}
		l := lineOf(&f)
		require.NoError(b, enc.Encode(&l))
	}
	data := buf.Bytes()
	b.Run("hand", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			lr := newLineReader(bytes.NewReader(data))
			var l fileLine
			for {
				line, err := lr.next()
				if err == io.EOF {
					break
				}
				if err := decodeFileLine(line, &l); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			dec := json.NewDecoder(bytes.NewReader(data))
			for {
				var l fileLine
				if err := dec.Decode(&l); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

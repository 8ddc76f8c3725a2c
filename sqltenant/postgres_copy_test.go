package sqltenant

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

// Rows written by copyEncoder and split at every possible point read
// back through copyDecoder as the same values: the escapes and the line
// splitting are exact for every byte a text can hold.
func TestCopyTextRoundTrip(t *testing.T) {
	kinds := []kind{kindInt, kindText, kindBlob, kindText}
	rows := [][]value{
		{integer(math.MinInt64), text(""), blob(nil), null()},
		{integer(42), text("tab\there\nnewline\r\\back\\N"), blob([]byte{0, '\t', '\n', '\\', 0xff}), text(`\N`)},
		{integer(-1), text("ünïcødé 😀 \b\f\v"), blob([]byte("x")), text("{1,2}")},
	}
	var all []byte
	for _, r := range rows {
		all = appendCopyRow(all, r)
	}
	for split := 0; split <= len(all); split++ {
		var got [][]value
		dec := newCopyDecoder(kinds, func(r []value) error {
			got = append(got, append([]value(nil), r...))
			return nil
		})
		for _, part := range [][]byte{all[:split], all[split:]} {
			if _, err := dec.Write(part); err != nil {
				t.Fatalf("split %d: %v", split, err)
			}
		}
		if err := dec.finish(); err != nil {
			t.Fatalf("split %d: %v", split, err)
		}
		if len(got) != len(rows) {
			t.Fatalf("split %d: %d rows, want %d", split, len(got), len(rows))
		}
		for i := range rows {
			for j := range rows[i] {
				if !got[i][j].equal(rows[i][j]) {
					t.Fatalf("split %d: row %d column %d: %#v, want %#v", split, i, j, got[i][j], rows[i][j])
				}
			}
		}
	}
}

// The encoder hands out whole rows through reads of any size.
func TestCopyEncoderSmallReads(t *testing.T) {
	rows := [][]value{{integer(1), text("a\tb")}, {integer(2), null()}}
	i := 0
	enc := newCopyEncoder(func() ([]value, error) {
		if i == len(rows) {
			return nil, io.EOF
		}
		i++
		return rows[i-1], nil
	})
	var out bytes.Buffer
	buf := make([]byte, 3)
	for {
		n, err := enc.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if want := "1\ta\\tb\n2\t\\N\n"; out.String() != want {
		t.Fatalf("encoded %q, want %q", out.String(), want)
	}
}

// The encoder keeps the rows' own error for the caller.
func TestCopyEncoderKeepsNextError(t *testing.T) {
	boom := errors.New("boom")
	enc := newCopyEncoder(func() ([]value, error) { return nil, boom })
	if _, err := enc.Read(make([]byte, 10)); !errors.Is(err, boom) || !errors.Is(enc.err, boom) {
		t.Fatalf("Read: %v, kept %v; want boom", err, enc.err)
	}
}

// Escapes COPY reads but never writes (octal, hex) decode too.
func TestCopyDecoderEscapes(t *testing.T) {
	var got []value
	dec := newCopyDecoder([]kind{kindText, kindText, kindBlob}, func(r []value) error {
		got = append([]value(nil), r...)
		return nil
	})
	if _, err := dec.Write([]byte("\\101\\x42\\q\t\\N\t\\\\x00ff\n")); err != nil {
		t.Fatal(err)
	}
	if got[0].s != "ABq" || !got[1].isNull() || !bytes.Equal(got[2].b, []byte{0, 0xff}) {
		t.Fatalf("decoded %#v", got)
	}
}

// Lines with too few or too many fields, bad integers, bytea not in hex
// and a last line without its newline are errors, not rows.
func TestCopyDecoderRejects(t *testing.T) {
	for _, line := range []string{"1\n", "1\ta\tb\n", "x\ta\n", "1\tzz\n"} {
		dec := newCopyDecoder([]kind{kindInt, kindBlob}, func([]value) error { return nil })
		if _, err := dec.Write([]byte(line)); !errors.Is(err, errCopyFormat) {
			t.Errorf("%q: %v, want errCopyFormat", line, err)
		}
	}
	dec := newCopyDecoder([]kind{kindInt}, func([]value) error { return nil })
	if _, err := dec.Write([]byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := dec.finish(); !errors.Is(err, errCopyFormat) {
		t.Fatalf("finish: %v, want errCopyFormat", err)
	}
}

// Parameters become quoted literals; the same text inside literals,
// quoted identifiers, dollar quotes, comments and identifiers does not.
func TestInlineParams(t *testing.T) {
	q := `a = $1 AND b = '$1' AND "c$1" = $2 AND d$1 = E'\'$1' AND $$ $1 $$ = $tag$$1$tag$ -- $1
AND /* $1 /* $1 */ */ e IN ($2, $1)`
	got, err := inlineParams(q, []any{"it's", int64(7)})
	if err != nil {
		t.Fatal(err)
	}
	want := `a = 'it''s' AND b = '$1' AND "c$1" = 7 AND d$1 = E'\'$1' AND $$ $1 $$ = $tag$$1$tag$ -- $1
AND /* $1 /* $1 */ */ e IN (7, 'it''s')`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	for _, bad := range [][]any{{"x\x00"}, {1.5}, {[]byte("x")}} {
		if _, err := inlineParams("x = $1", bad); !errors.Is(err, errParam) {
			t.Errorf("args %v: %v, want errParam", bad, err)
		}
	}
	if _, err := inlineParams("x = $2", []any{"a"}); !errors.Is(err, errParam) {
		t.Errorf("$2 of one argument: %v, want errParam", err)
	}
}

// Types the target can hold are accepted; narrowing or converting ones
// are refused with the types named.
func TestPostgresCompatible(t *testing.T) {
	d := &pgDialect{}
	for _, c := range []struct {
		from, to string
		ok       bool
	}{
		{"integer", "integer", true},
		{"integer", "bigint", true},
		{"bigint", "integer", false},
		{"integer", "numeric", true},
		{"bigint", "numeric(20,0)", true},
		{"bigint", "numeric(10,0)", false},
		{"numeric(12,4)", "numeric(14,4)", true},
		{"numeric(12,4)", "numeric(12,2)", false},
		{"numeric(12,4)", "numeric", true},
		{"numeric", "numeric(12,4)", false},
		{"character varying(10)", "character varying(20)", true},
		{"character varying(20)", "character varying(10)", false},
		{"character varying(20)", "text", true},
		{"text", "character varying(20)", false},
		{"text", "character varying", true},
		{"timestamp with time zone", "timestamp without time zone", false},
		{"timestamp(3) with time zone", "timestamp with time zone", true},
		{"text[]", "text[]", true},
		{"integer[]", "bigint[]", true},
		{"text[]", "text", false},
		{"jsonb", "json", false},
		{"real", "double precision", true},
		{"double precision", "real", false},
	} {
		reason := d.compatible(c.from, c.to)
		if (reason == "") != c.ok {
			t.Errorf("%s -> %s: %q, want ok=%v", c.from, c.to, reason, c.ok)
		}
		if reason != "" && !strings.Contains(reason, c.to) {
			t.Errorf("%s -> %s: reason %q does not name the target type", c.from, c.to, reason)
		}
	}
}

// BenchmarkCopyDecoder is the client's share of a backup's read: COPY
// lines of a typical row decoded into values.
func BenchmarkCopyDecoder(b *testing.B) {
	line := []byte("acme\t123456\t42\ttask 123456 with some text\tt\t2026-05-04\t{\"plan\": \"pro\"}\t2026-02-01 00:00:00+00\n")
	var chunk []byte
	for range 100 {
		chunk = append(chunk, line...)
	}
	kinds := []kind{kindText, kindInt, kindInt, kindText, kindText, kindText, kindText, kindText}
	dec := newCopyDecoder(kinds, func([]value) error { return nil })
	for b.Loop() {
		if _, err := dec.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "rows/s")
}

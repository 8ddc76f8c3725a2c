package sqltenant

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// This file holds PostgreSQL's COPY text format, both ways: copyDecoder
// turns what COPY ... TO STDOUT writes into rows of values, copyEncoder
// turns rows into what COPY ... FROM STDIN reads. A row is one line,
// its fields separated by tabs; NULL is \N; a backslash escapes
// itself, the separators and control characters. Every value travels as
// the text of its type's output function, so nothing is converted on the
// way (numeric precision, time zones, JSON and arrays as written).

// errCopyFormat: COPY wrote something that is not the text format.
var errCopyFormat = errors.New("sqltenant: postgres: malformed COPY data")

// copyDecoder is the io.Writer COPY TO writes into: it splits lines
// (whatever the chunking), decodes each into a row of kinds and calls fn.
type copyDecoder struct {
	kinds []kind
	fn    func([]value) error
	row   []value
	part  []byte // a line not yet complete
	field []byte // scratch for unescaping
	rows  int64
	err   error // fn's error, returned again by Write
}

func newCopyDecoder(kinds []kind, fn func([]value) error) *copyDecoder {
	return &copyDecoder{kinds: kinds, fn: fn, row: make([]value, len(kinds))}
}

// Write decodes every complete line in p and keeps the rest for later.
func (d *copyDecoder) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n := len(p)
	if len(d.part) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.part = append(d.part, p...)
			return n, nil
		}
		d.part = append(d.part, p[:i]...)
		if d.err = d.line(d.part); d.err != nil {
			return 0, d.err
		}
		d.part, p = d.part[:0], p[i+1:]
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.part = append(d.part, p...)
			break
		}
		if d.err = d.line(p[:i]); d.err != nil {
			return 0, d.err
		}
		p = p[i+1:]
	}
	return n, nil
}

// finish reports a last line left without its newline.
func (d *copyDecoder) finish() error {
	if len(d.part) > 0 {
		return fmt.Errorf("%w: the last line is incomplete", errCopyFormat)
	}
	return nil
}

// line decodes one line into d.row and hands it to fn. The line becomes
// one string, of which text values are slices: one allocation a row.
func (d *copyDecoder) line(b []byte) error {
	s := string(b)
	for i, k := range d.kinds {
		end := strings.IndexByte(s, '\t')
		last := i == len(d.kinds)-1
		if last != (end < 0) {
			return fmt.Errorf("%w: row %d does not have %d fields", errCopyFormat, d.rows+1, len(d.kinds))
		}
		if last {
			end = len(s)
		}
		v, err := d.value(s[:end], k)
		if err != nil {
			return fmt.Errorf("%w (row %d, column %d)", err, d.rows+1, i+1)
		}
		d.row[i] = v
		if !last {
			s = s[end+1:]
		}
	}
	d.rows++
	return d.fn(d.row)
}

// value decodes one field as a value of kind k.
func (d *copyDecoder) value(f string, k kind) (value, error) {
	if f == `\N` {
		return null(), nil
	}
	if strings.IndexByte(f, '\\') >= 0 {
		var err error
		if d.field, err = unescapeCopy(d.field[:0], f); err != nil {
			return value{}, err
		}
		f = string(d.field)
	}
	return pgValue(f, k)
}

// pgValue converts the output text of a value to a value of kind k.
func pgValue(f string, k kind) (value, error) {
	switch k {
	case kindInt:
		i, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return value{}, fmt.Errorf("%w: integer %q", errCopyFormat, f)
		}
		return integer(i), nil
	case kindBlob:
		return decodeBytea(f)
	}
	return text(f), nil
}

// unescapeCopy appends the field f without its backslash escapes to dst.
func unescapeCopy(dst []byte, f string) ([]byte, error) {
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i == len(f) {
			return nil, fmt.Errorf("%w: a field ends in a backslash", errCopyFormat)
		}
		switch c = f[i]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'v':
			dst = append(dst, '\v')
		case 'x':
			n, j := 0, i+1
			for ; j < len(f) && j < i+3 && pgIsHex(f[j]); j++ {
				n = n*16 + pgHexVal(f[j])
			}
			if j == i+1 {
				dst = append(dst, 'x')
				continue
			}
			dst, i = append(dst, byte(n)), j-1
		case '0', '1', '2', '3', '4', '5', '6', '7':
			n, j := 0, i
			for ; j < len(f) && j < i+3 && f[j] >= '0' && f[j] <= '7'; j++ {
				n = n*8 + int(f[j]-'0')
			}
			dst, i = append(dst, byte(n)), j-1
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}

func pgIsHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func pgHexVal(c byte) int {
	switch {
	case c <= '9':
		return int(c - '0')
	case c >= 'a':
		return int(c-'a') + 10
	}
	return int(c-'A') + 10
}

// decodeBytea decodes bytea's hex output ("\x0a1b"), the form a session
// with bytea_output = hex gets.
func decodeBytea(f string) (value, error) {
	h, ok := strings.CutPrefix(f, `\x`)
	if !ok {
		return value{}, fmt.Errorf("%w: bytea not in hex form", errCopyFormat)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return value{}, fmt.Errorf("%w: bytea: %v", errCopyFormat, err)
	}
	return value{k: kindBlob, b: b}, nil
}

// copyEncoder is the io.Reader COPY FROM reads: each Read fills p with
// whole rows from next (a row longer than p is handed out in pieces).
type copyEncoder struct {
	next func() ([]value, error)
	buf  []byte // encoded, not yet read
	off  int
	rows int64
	err  error // next's error other than io.EOF, kept for the caller
	done bool
}

func newCopyEncoder(next func() ([]value, error)) *copyEncoder {
	return &copyEncoder{next: next}
}

// Read implements io.Reader.
func (e *copyEncoder) Read(p []byte) (int, error) {
	for e.off == len(e.buf) && !e.done {
		e.buf, e.off = e.buf[:0], 0
		for len(e.buf) < len(p) && !e.done {
			if err := e.fill(); err != nil {
				return 0, err
			}
		}
	}
	if e.off == len(e.buf) {
		return 0, io.EOF
	}
	n := copy(p, e.buf[e.off:])
	e.off += n
	return n, nil
}

// fill encodes the next row into buf, or marks the end.
func (e *copyEncoder) fill() error {
	row, err := e.next()
	if errors.Is(err, io.EOF) {
		e.done = true
		return nil
	}
	if err != nil {
		e.err = err
		return err
	}
	e.buf = appendCopyRow(e.buf, row)
	e.rows++
	return nil
}

// appendCopyRow appends row as one line of the text format.
func appendCopyRow(b []byte, row []value) []byte {
	for i, v := range row {
		if i > 0 {
			b = append(b, '\t')
		}
		b = appendCopyValue(b, v)
	}
	return append(b, '\n')
}

func appendCopyValue(b []byte, v value) []byte {
	switch v.k {
	case kindInt:
		return strconv.AppendInt(b, v.i, 10)
	case kindFloat:
		return pgAppendFloat(b, v.f)
	case kindText:
		return pgAppendEscaped(b, v.s)
	case kindBlob:
		b = append(b, `\\x`...)
		return hex.AppendEncode(b, v.b)
	}
	return append(b, `\N`...)
}

// pgAppendFloat writes f as PostgreSQL's float8 input reads it back
// exactly (only a SQLite backup has float values).
func pgAppendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// pgAppendEscaped writes s with the text format's escapes.
func pgAppendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '\t':
			b = append(b, `\t`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

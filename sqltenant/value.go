package sqltenant

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// kind is the type of a stored value.
type kind uint8

// The kinds a value has, which are also their tags in the row encoding.
const (
	kindNull  kind = 0
	kindInt   kind = 1 // i: a 64-bit integer
	kindFloat kind = 2 // f: an IEEE 754 double, bit for bit
	kindText  kind = 3 // s: text (any bytes; SQLite does not check UTF-8)
	kindBlob  kind = 4 // b: bytes (never nil for a blob: empty is not NULL)
)

// value is one column of one row, as the engine stores it. SQLite's five
// storage classes map one to one. An engine with richer types (PostgreSQL)
// stores a value as the text its own output function writes (numeric,
// timestamptz, json, arrays: exactly what COPY's text format carries) and
// bytes as a blob, so that its input function reads back the same value:
// precision, time zones and unicode are kept because nothing is
// converted on the way.
type value struct {
	k kind
	i int64
	f float64
	s string
	b []byte
}

// null, integer, float, text and blob make values.
func null() value              { return value{} }
func integer(i int64) value    { return value{k: kindInt, i: i} }
func float(f float64) value    { return value{k: kindFloat, f: f} }
func text(s string) value      { return value{k: kindText, s: s} }
func blob(b []byte) value      { return value{k: kindBlob, b: nonNil(b)} }
func nonNil(b []byte) []byte   { return append([]byte{}, b...) }
func (v value) isNull() bool   { return v.k == kindNull }
func (v value) String() string { return fmt.Sprintf("%v", v.arg()) }
func (v value) equal(w value) bool {
	return v.k == w.k && v.i == w.i && math.Float64bits(v.f) == math.Float64bits(w.f) && v.s == w.s && string(v.b) == string(w.b)
}

// arg returns v as a database/sql argument: nil, int64, float64, string
// or a non-nil []byte.
func (v value) arg() any {
	switch v.k {
	case kindInt:
		return v.i
	case kindFloat:
		return v.f
	case kindText:
		return v.s
	case kindBlob:
		return nonNilShared(v.b)
	}
	return nil
}

// nonNilShared returns b, or an empty non-nil slice for nil.
func nonNilShared(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// The row encoding of a table's module file ("<table>/rows"):
//
//	magic      "steward-rows\x00\x01"
//	columns    uvarint n, then n times: uvarint length, name bytes
//	rows       per row: 'r', then one value per column
//	end        'e', uvarint row count; nothing may follow
//
// A value is its kind's tag, then: nothing (NULL), a zigzag varint
// (integer), 8 bytes big-endian of the IEEE bits (float), or a uvarint
// length and the bytes (text, blob). Varints are minimal. The encoding
// of given rows is one byte string: decoding and encoding again gives
// the same bytes, so an unchanged table stores the same bytes and
// deduplicates, and its SHA-256 names its content.
const rowsMagic = "steward-rows\x00\x01"

const (
	tagRow = 'r'
	tagEnd = 'e'
	// maxValueLen bounds one text or blob (and a column name) a decoder
	// accepts: 1 GiB, SQLite's own default limit.
	maxValueLen = 1 << 30
)

// ErrCorruptRows: a table's stored rows cannot be decoded (truncated,
// an unknown tag, a varint not minimal, bytes after the end). The message
// names the table when it is known.
var ErrCorruptRows = errors.New("sqltenant: stored rows are corrupt")

// encoder writes the row encoding of one table.
type encoder struct {
	w    *bufio.Writer
	n    int // columns
	rows int64
	tmp  [binary.MaxVarintLen64]byte
}

// newEncoder writes the header of a table with columns to w.
func newEncoder(w io.Writer, columns []string) (*encoder, error) {
	e := &encoder{w: bufio.NewWriterSize(w, 64<<10), n: len(columns)}
	e.w.WriteString(rowsMagic)
	e.uvarint(uint64(len(columns)))
	for _, c := range columns {
		e.bytes([]byte(c))
	}
	return e, nil
}

func (e *encoder) uvarint(x uint64) {
	n := binary.PutUvarint(e.tmp[:], x)
	e.w.Write(e.tmp[:n])
}

func (e *encoder) bytes(b []byte) {
	e.uvarint(uint64(len(b)))
	e.w.Write(b)
}

// write appends one row; it must have one value per column.
func (e *encoder) write(row []value) error {
	if len(row) != e.n {
		return fmt.Errorf("sqltenant: row of %d values for %d columns", len(row), e.n)
	}
	e.w.WriteByte(tagRow)
	for _, v := range row {
		e.w.WriteByte(byte(v.k))
		switch v.k {
		case kindInt:
			n := binary.PutVarint(e.tmp[:], v.i)
			e.w.Write(e.tmp[:n])
		case kindFloat:
			binary.BigEndian.PutUint64(e.tmp[:8], math.Float64bits(v.f))
			e.w.Write(e.tmp[:8])
		case kindText:
			e.uvarint(uint64(len(v.s)))
			e.w.WriteString(v.s)
		case kindBlob:
			e.bytes(v.b)
		case kindNull:
		default:
			return fmt.Errorf("sqltenant: value of unknown kind %d", v.k)
		}
	}
	e.rows++
	return nil
}

// close writes the end and flushes; it returns the first write error.
func (e *encoder) close() error {
	e.w.WriteByte(tagEnd)
	e.uvarint(uint64(e.rows))
	return e.w.Flush()
}

// decoder reads the row encoding of one table.
type decoder struct {
	r       *bufio.Reader
	columns []string
	row     []value
	rows    int64
	done    bool
}

// newDecoder reads the header from r.
func newDecoder(r io.Reader) (*decoder, error) {
	d := &decoder{r: bufio.NewReaderSize(r, 64<<10)}
	magic := make([]byte, len(rowsMagic))
	if _, err := io.ReadFull(d.r, magic); err != nil || string(magic) != rowsMagic {
		return nil, fmt.Errorf("%w: not a rows file (bad header)", ErrCorruptRows)
	}
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if n > 1<<15 {
		return nil, fmt.Errorf("%w: %d columns", ErrCorruptRows, n)
	}
	for range n {
		b, err := d.bytes()
		if err != nil {
			return nil, err
		}
		d.columns = append(d.columns, string(b))
	}
	d.row = make([]value, n)
	return d, nil
}

// uvarint reads a minimal unsigned varint.
func (d *decoder) uvarint() (uint64, error) {
	var x uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		c, err := d.r.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrCorruptRows, unexpected(err))
		}
		if i == binary.MaxVarintLen64-1 && c > 1 {
			break // overflows 64 bits
		}
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, fmt.Errorf("%w: a varint is not minimal", ErrCorruptRows)
			}
			return x, nil
		}
	}
	return 0, fmt.Errorf("%w: a varint overflows 64 bits", ErrCorruptRows)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// bytes reads a length and that many bytes, growing its buffer only as
// bytes arrive (a corrupt length does not allocate a gigabyte).
func (d *decoder) bytes() ([]byte, error) {
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if n > maxValueLen {
		return nil, fmt.Errorf("%w: a value of %d bytes", ErrCorruptRows, n)
	}
	out := make([]byte, 0, min(n, 64<<10))
	for uint64(len(out)) < n {
		step := min(n-uint64(len(out)), 1<<20)
		start := len(out)
		out = append(out, make([]byte, step)...)
		if _, err := io.ReadFull(d.r, out[start:]); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorruptRows, unexpected(err))
		}
	}
	return out, nil
}

// next returns the next row (its slice is reused), or io.EOF after the
// end, checked: the row count matches and nothing follows.
func (d *decoder) next() ([]value, error) {
	if d.done {
		return nil, io.EOF
	}
	tag, err := d.r.ReadByte()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptRows, unexpected(err))
	}
	switch tag {
	case tagEnd:
		return nil, d.end()
	case tagRow:
	default:
		return nil, fmt.Errorf("%w: row tag %#x", ErrCorruptRows, tag)
	}
	for i := range d.row {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		d.row[i] = v
	}
	d.rows++
	return d.row, nil
}

func (d *decoder) end() error {
	n, err := d.uvarint()
	if err != nil {
		return err
	}
	if n != uint64(d.rows) {
		return fmt.Errorf("%w: %d rows, the end says %d", ErrCorruptRows, d.rows, n)
	}
	if _, err := d.r.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: bytes after the end", ErrCorruptRows)
	}
	d.done = true
	return io.EOF
}

func (d *decoder) value() (value, error) {
	tag, err := d.r.ReadByte()
	if err != nil {
		return value{}, fmt.Errorf("%w: %v", ErrCorruptRows, unexpected(err))
	}
	switch k := kind(tag); k {
	case kindNull:
		return null(), nil
	case kindInt:
		u, err := d.uvarint()
		if err != nil {
			return value{}, err
		}
		x := int64(u >> 1)
		if u&1 != 0 {
			x = ^x
		}
		return integer(x), nil
	case kindFloat:
		var b [8]byte
		if _, err := io.ReadFull(d.r, b[:]); err != nil {
			return value{}, fmt.Errorf("%w: %v", ErrCorruptRows, unexpected(err))
		}
		return float(math.Float64frombits(binary.BigEndian.Uint64(b[:]))), nil
	case kindText, kindBlob:
		b, err := d.bytes()
		if err != nil {
			return value{}, err
		}
		if k == kindText {
			return text(string(b)), nil
		}
		return value{k: kindBlob, b: b}, nil
	default:
		return value{}, fmt.Errorf("%w: value tag %#x", ErrCorruptRows, tag)
	}
}

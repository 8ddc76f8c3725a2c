package backup

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// Entry lists are JSON lines, one fileLine each, as json.Encoder writes
// them. Decoding them with encoding/json took a tenth of a small-files
// restore's CPU, before the first file could be written, and as much of an
// incremental backup's reading of its parent. lineReader reads the lines
// and parseFileLine decodes the common ones by hand: every field in the
// encoder's order, strings without escapes. Any other line — escapes,
// another order, unknown fields, anything malformed — goes to
// encoding/json, so both decode exactly the same lines to the same values
// and refuse the same ones (FuzzParseFileLine holds them to it).

// lineReader splits an entry list into lines.
type lineReader struct {
	br   *bufio.Reader
	long []byte // a line longer than the reader's buffer, assembled
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next non-empty line without its newline, valid until
// the following call, or io.EOF after the last one.
func (lr *lineReader) next() ([]byte, error) {
	for {
		line, err := lr.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			lr.long = append(lr.long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = lr.br.ReadSlice('\n')
				lr.long = append(lr.long, line...)
			}
			line = lr.long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if l := bytes.TrimSpace(line); len(l) > 0 {
			return l, nil
		}
		if err != nil {
			return nil, err // io.EOF
		}
	}
}

// decodeFileLine decodes one line of an entry list into l (zeroed first),
// as json.Unmarshal would.
func decodeFileLine(line []byte, l *fileLine) error {
	*l = fileLine{}
	if parseFileLine(line, l) {
		return nil
	}
	*l = fileLine{}
	return json.Unmarshal(line, l)
}

// parseFileLine decodes line by hand when it has the encoder's shape and
// reports whether it did; false leaves l in any state.
func parseFileLine(line []byte, l *fileLine) bool {
	p := lineParser{b: line}
	if !p.byte('{') {
		return false
	}
	ok := p.str(`"p":`, &l.P) && p.byte(',') &&
		p.int(`"s":`, &l.S) && p.byte(',') &&
		p.uint32(`"m":`, &l.M) && p.byte(',') &&
		p.int(`"t":`, &l.T)
	if !ok {
		return false
	}
	for _, f := range []func() bool{
		func() bool { return p.optStr(`,"h":`, &l.H) },
		func() bool { return optList(&p, `,"c":`, &l.C, p.rawStr) },
		func() bool { return optList(&p, `,"z":`, &l.Z, p.rawInt) },
		func() bool { return p.optStr(`,"l":`, &l.L) },
		func() bool { return p.optStr(`,"hl":`, &l.HL) },
	} {
		if !f() {
			return false
		}
	}
	return p.byte('}') && len(p.b) == 0
}

// lineParser consumes a line from the front. Each method returns false on
// anything it does not take for certain, leaving the rest to encoding/json.
type lineParser struct{ b []byte }

func (p *lineParser) byte(c byte) bool {
	if len(p.b) == 0 || p.b[0] != c {
		return false
	}
	p.b = p.b[1:]
	return true
}

func (p *lineParser) key(k string) bool {
	if !bytes.HasPrefix(p.b, []byte(k)) {
		return false
	}
	p.b = p.b[len(k):]
	return true
}

// rawStr takes a string without escapes or control characters and only
// ASCII (encoding/json replaces invalid UTF-8, which this does not check).
func (p *lineParser) rawStr() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	for i, c := range p.b {
		switch {
		case c == '"':
			s := string(p.b[:i])
			p.b = p.b[i+1:]
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
	}
	return "", false
}

// rawInt takes a JSON integer as encoding/json reads one into an int64.
func (p *lineParser) rawInt() (int64, bool) {
	i := 0
	if i < len(p.b) && p.b[i] == '-' {
		i++
	}
	start := i
	for i < len(p.b) && p.b[i] >= '0' && p.b[i] <= '9' {
		i++
	}
	if i == start || (p.b[start] == '0' && i > start+1) {
		return 0, false // no digits, or a leading zero JSON forbids
	}
	v, err := strconv.ParseInt(string(p.b[:i]), 10, 64)
	if err != nil {
		return 0, false
	}
	p.b = p.b[i:]
	return v, true
}

func (p *lineParser) str(k string, dst *string) bool {
	if !p.key(k) {
		return false
	}
	s, ok := p.rawStr()
	*dst = s
	return ok
}

func (p *lineParser) int(k string, dst *int64) bool {
	if !p.key(k) {
		return false
	}
	v, ok := p.rawInt()
	*dst = v
	return ok
}

func (p *lineParser) uint32(k string, dst *uint32) bool {
	var v int64
	if !p.int(k, &v) || v < 0 || v > 1<<32-1 {
		return false
	}
	*dst = uint32(v)
	return true
}

// optStr takes an omitempty string field when present (true when absent).
func (p *lineParser) optStr(k string, dst *string) bool {
	if !bytes.HasPrefix(p.b, []byte(k)) {
		return true
	}
	return p.str(k, dst)
}

// optList takes an omitempty list field when present (true when absent),
// each element with elem.
func optList[T any](p *lineParser, k string, dst *[]T, elem func() (T, bool)) bool {
	if !bytes.HasPrefix(p.b, []byte(k)) {
		return true
	}
	p.b = p.b[len(k):]
	return p.list(func() bool {
		v, ok := elem()
		*dst = append(*dst, v)
		return ok
	})
}

// list takes a non-empty JSON array whose elements elem takes (an empty
// one never comes from omitempty fields: encoding/json decides it).
func (p *lineParser) list(elem func() bool) bool {
	if !p.byte('[') {
		return false
	}
	for {
		if !elem() {
			return false
		}
		if p.byte(']') {
			return true
		}
		if !p.byte(',') {
			return false
		}
	}
}

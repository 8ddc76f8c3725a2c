package siem

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrMalformed: a line is not an RFC 5424 line with an event's structured
// data.
var ErrMalformed = errors.New("siem: malformed syslog line")

// ParseLine reads a line as Line.Append writes it (without framing): the
// RFC 5424 header, the first structured-data element (whose SD-ID it
// takes, whatever it is, and which must carry ParamSeq), any further
// elements (skipped), and the message. Parameters it does not know are
// ignored, so lines from a later version still read. Its errors match
// ErrMalformed and say where the line went wrong; it never panics.
//
// A SIEM or a test can use it to read lines back, e.g. to check that no
// sequence number is missing.
func ParseLine(b []byte) (*Line, error) {
	p := &parser{b: b}
	l, err := p.line()
	if err != nil {
		return nil, fmt.Errorf("%w: at byte %d: %v", ErrMalformed, p.i, err)
	}
	return l, nil
}

// parser reads b from i.
type parser struct {
	b []byte
	i int
}

func (p *parser) line() (*Line, error) {
	l := &Line{}
	if err := p.pri(l); err != nil {
		return nil, err
	}
	if err := p.header(l); err != nil {
		return nil, err
	}
	if err := p.structuredData(l); err != nil {
		return nil, err
	}
	if p.i < len(p.b) {
		if p.b[p.i] != ' ' {
			return nil, errors.New("no space before the message")
		}
		l.JSON = bytes.Clone(p.b[p.i+1:])
	}
	return l, nil
}

// pri reads "<PRI>1 ".
func (p *parser) pri(l *Line) error {
	if !p.skip("<") {
		return errors.New("no '<' opening the priority")
	}
	start := p.i
	for p.i < len(p.b) && p.i-start < 3 && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	n, err := strconv.Atoi(string(p.b[start:p.i]))
	if err != nil || n > 191 || (p.i-start > 1 && p.b[start] == '0') {
		return errors.New("priority is not a number from 0 to 191")
	}
	if !p.skip(">1 ") {
		return errors.New("no '>1 ' after the priority (not RFC 5424, version 1)")
	}
	l.Facility, l.Severity = n/8, n%8
	return nil
}

// header reads TIMESTAMP, HOSTNAME, APP-NAME, PROCID and MSGID, each
// followed by a space.
func (p *parser) header(l *Line) error {
	ts := p.field()
	if ts != "-" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return fmt.Errorf("timestamp %q: %v", ts, err)
		}
		l.Timestamp = t
	}
	for _, f := range [...]struct {
		dst *string
		max int
	}{{&l.Hostname, 255}, {&l.AppName, 48}, {&l.ProcID, 128}, {&l.MsgID, 32}} {
		s := p.field()
		if s == "" || len(s) > f.max {
			return fmt.Errorf("header field %q is empty or longer than %d bytes", s, f.max)
		}
		if s != "-" {
			*f.dst = s
		}
	}
	return nil
}

// field reads printable US-ASCII up to the next space, and the space.
func (p *parser) field() string {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= 33 && p.b[p.i] <= 126 {
		p.i++
	}
	s := string(p.b[start:p.i])
	if p.i < len(p.b) && p.b[p.i] == ' ' {
		p.i++
		return s
	}
	return "" // no space after it: callers refuse an empty field
}

// structuredData reads the elements, taking the first one's parameters.
func (p *parser) structuredData(l *Line) error {
	if p.skip("-") {
		return errors.New("no structured data (the event's fields)")
	}
	first := true
	for p.i < len(p.b) && p.b[p.i] == '[' {
		p.i++
		id, params, err := p.element()
		if err != nil {
			return err
		}
		if first {
			if err := l.setParams(id, params); err != nil {
				return err
			}
			first = false
		}
	}
	if first {
		return errors.New("no '[' opening the structured data")
	}
	return nil
}

// element reads an SD-ELEMENT after its '[', up to and including its ']'.
func (p *parser) element() (string, map[string]string, error) {
	id := p.name()
	if id == "" {
		return "", nil, errors.New("empty SD-ID")
	}
	params := map[string]string{}
	for {
		if p.skip("]") {
			return id, params, nil
		}
		if !p.skip(" ") {
			return "", nil, fmt.Errorf("element %s: no ' ' or ']' after a parameter", id)
		}
		name := p.name()
		if name == "" || !p.skip(`="`) {
			return "", nil, fmt.Errorf("element %s: a parameter is not name=\"value\"", id)
		}
		v, err := p.value()
		if err != nil {
			return "", nil, fmt.Errorf("element %s, parameter %s: %v", id, name, err)
		}
		params[name] = v
	}
}

// name reads an SD-NAME: 1 to 32 printable US-ASCII bytes but '=', ' ',
// ']' and '"'.
func (p *parser) name() string {
	start := p.i
	for p.i < len(p.b) && p.i-start < 32 {
		c := p.b[p.i]
		if c < 33 || c > 126 || c == '=' || c == ']' || c == '"' {
			break
		}
		p.i++
	}
	return string(p.b[start:p.i])
}

// value reads a PARAM-VALUE after its opening '"', and its closing one.
func (p *parser) value() (string, error) {
	var sb strings.Builder
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch {
		case c == '"':
			return sb.String(), nil
		case c == '\\' && p.i < len(p.b) && (p.b[p.i] == '"' || p.b[p.i] == '\\' || p.b[p.i] == ']'):
			sb.WriteByte(p.b[p.i])
			p.i++
		case c == ']':
			return "", errors.New("unescaped ']'")
		default:
			sb.WriteByte(c) // RFC 5424: a '\' before anything else is itself
		}
	}
	return "", errors.New("no closing '\"'")
}

// skip consumes s when the input continues with it.
func (p *parser) skip(s string) bool {
	if !bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		return false
	}
	p.i += len(s)
	return true
}

// setParams fills l's event fields from the first element.
func (l *Line) setParams(id string, params map[string]string) error {
	seq, err := strconv.ParseUint(params[ParamSeq], 10, 64)
	if err != nil {
		return fmt.Errorf("element %s: %s=%q is not a sequence number", id, ParamSeq, params[ParamSeq])
	}
	l.SDID, l.Seq = id, seq
	for _, f := range [...]struct {
		dst  *string
		name string
	}{
		{&l.ID, ParamID}, {&l.Type, ParamType}, {&l.Level, ParamLevel}, {&l.Outcome, ParamOutcome},
		{&l.Tenant, ParamTenant}, {&l.Principal, ParamPrincipal}, {&l.Action, ParamAction},
		{&l.Message, ParamMessage}, {&l.Hash, ParamHash}, {&l.Prev, ParamPrev},
	} {
		*f.dst = params[f.name]
	}
	return nil
}

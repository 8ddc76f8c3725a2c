package sqltenant

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// pgKindOID returns the kind a value of the type with OID oid is stored
// as: integers as integers, bytea as a blob, everything else as the text
// of its output function (what COPY writes).
func pgKindOID(oid uint32) kind {
	switch oid {
	case 20, 21, 23: // int8, int2, int4
		return kindInt
	case 17: // bytea
		return kindBlob
	}
	return kindText
}

// pgTypeName is a type as format_type writes it, split:
// "numeric(12,4)[]" is numeric, 12, 4, an array.
type pgTypeName struct {
	base   string
	m1, m2 int // modifiers, -1 when absent
	array  bool
}

var pgTypmod = regexp.MustCompile(`^(.*?)\((\d+)(?:,(\d+))?\)(.*)$`)

func parsePgType(t string) pgTypeName {
	p := pgTypeName{base: strings.TrimSpace(t), m1: -1, m2: -1}
	p.base, p.array = strings.CutSuffix(p.base, "[]")
	if m := pgTypmod.FindStringSubmatch(p.base); m != nil {
		p.base = m[1] + m[4] // "timestamp(3) with time zone"
		p.m1, _ = strconv.Atoi(m[2])
		if m[3] != "" {
			p.m2, _ = strconv.Atoi(m[3])
		}
	}
	return p
}

// pgIntDigits is each integer type's greatest number of digits.
var pgIntDigits = map[string]int{"smallint": 5, "integer": 10, "bigint": 19}

// pgTextual are the string types; a target of one of the first two holds
// any of them (within its length).
var pgTextual = map[string]bool{"text": true, "character varying": true, "character": true}

// compatible: the same type with modifiers no narrower, or a wider type
// whose input reads the backup's text back as the same value and whose
// output writes the same text (so a validation's sums still match):
// a wider integer, numeric wide enough for an integer, double precision
// for real, text or varchar for any string. Arrays follow their
// element type.
func (*pgDialect) compatible(from, to string) string {
	f, t := parsePgType(from), parsePgType(to)
	switch {
	case f.array != t.array:
	case f.base == t.base:
		if reason := pgModifiers(f, t); reason != "" {
			return fmt.Sprintf("a %s column %s than the backup's %s", to, reason, from)
		}
		return ""
	case pgWidens(f, t):
		return ""
	}
	return fmt.Sprintf("a %s column would convert or reject %s values", to, from)
}

func pgWidens(f, t pgTypeName) bool {
	fd, td := pgIntDigits[f.base], pgIntDigits[t.base]
	switch {
	case fd > 0 && td > fd:
		return true
	case fd > 0 && t.base == "numeric":
		return t.m1 < 0 || t.m1-max(t.m2, 0) >= fd
	case f.base == "real" && t.base == "double precision":
		return true
	case pgTextual[f.base] && pgTextual[t.base] && t.base != "character":
		return t.m1 < 0 || (f.m1 >= 0 && t.m1 >= f.m1)
	}
	return false
}

// pgModifiers compares the modifiers of one type: a length, or a
// precision's integer digits and its scale, must not shrink; none means
// unlimited. It returns "" or what is narrower.
func pgModifiers(f, t pgTypeName) string {
	switch {
	case t.m1 < 0:
		return ""
	case f.m1 < 0:
		return "is more limited"
	case f.base == "numeric" && (t.m1-max(t.m2, 0) < f.m1-max(f.m2, 0) || max(t.m2, 0) < max(f.m2, 0)):
		return "has fewer digits"
	case f.base == "character" && t.m1 != f.m1:
		return "pads to another length"
	case f.base != "numeric" && t.m1 < f.m1:
		return "is shorter"
	}
	return ""
}

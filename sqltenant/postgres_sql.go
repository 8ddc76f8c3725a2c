package sqltenant

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// errParam: a statement's parameters cannot be written into it as
// literals (a value of a type with no safe literal form, or a
// parameter without its argument).
var errParam = errors.New("sqltenant: postgres: cannot inline a parameter")

// inlineParams returns q with each parameter $n (outside string
// literals, quoted identifiers, dollar quotes and comments) replaced by
// args[n-1] as a SQL literal: COPY (SELECT ...) TO STDOUT takes no
// bind parameters, so the tenant's predicate gets its values this way.
// Literals are quoted by pgQuoteLiteral, never spliced in raw.
func inlineParams(q string, args []any) (string, error) {
	if len(args) == 0 {
		return q, nil
	}
	var b strings.Builder
	for i := 0; i < len(q); {
		skip := sqlSkip(q, i)
		if skip > i {
			b.WriteString(q[i:skip])
			i = skip
			continue
		}
		if q[i] == '$' && i+1 < len(q) && pgIsDigit(q[i+1]) && (i == 0 || !pgIsIdentByte(q[i-1])) {
			j := i + 1
			for j < len(q) && pgIsDigit(q[j]) {
				j++
			}
			n, err := strconv.Atoi(q[i+1 : j])
			if err != nil || n < 1 || n > len(args) {
				return "", fmt.Errorf("%w: $%s has no argument (%d given)", errParam, q[i+1:j], len(args))
			}
			lit, err := pgQuoteLiteral(args[n-1])
			if err != nil {
				return "", err
			}
			b.WriteString(lit)
			i = j
			continue
		}
		b.WriteByte(q[i])
		i++
	}
	return b.String(), nil
}

// sqlSkip returns the end of the literal, quoted identifier, dollar
// quote or comment starting at q[i], or i when none starts there. An
// unterminated one runs to the end of q (PostgreSQL then rejects q).
func sqlSkip(q string, i int) int {
	rest := q[i:]
	switch {
	case rest[0] == '\'':
		escapes := i > 0 && (q[i-1] == 'E' || q[i-1] == 'e') && (i < 2 || !pgIsIdentByte(q[i-2]))
		return i + quotedEnd(rest, '\'', escapes)
	case rest[0] == '"':
		return i + quotedEnd(rest, '"', false)
	case strings.HasPrefix(rest, "--"):
		if j := strings.IndexByte(rest, '\n'); j >= 0 {
			return i + j + 1
		}
		return len(q)
	case strings.HasPrefix(rest, "/*"):
		return i + blockCommentEnd(rest)
	case rest[0] == '$' && (i == 0 || !pgIsIdentByte(q[i-1])):
		if tag, ok := dollarTag(rest); ok {
			if j := strings.Index(rest[len(tag):], tag); j >= 0 {
				return i + len(tag) + j + len(tag)
			}
			return len(q)
		}
	}
	return i
}

// quotedEnd returns the length of the quoted text at the start of s,
// a doubled quote (and with escapes, a backslash) escaping.
func quotedEnd(s string, quote byte, escapes bool) int {
	for j := 1; j < len(s); j++ {
		switch {
		case escapes && s[j] == '\\':
			j++
		case s[j] == quote && j+1 < len(s) && s[j+1] == quote:
			j++
		case s[j] == quote:
			return j + 1
		}
	}
	return len(s)
}

// blockCommentEnd returns the length of the (nesting) comment at s.
func blockCommentEnd(s string) int {
	depth := 0
	for j := 0; j+1 < len(s); j++ {
		switch s[j : j+2] {
		case "/*":
			depth++
			j++
		case "*/":
			depth--
			j++
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(s)
}

// dollarTag returns the $tag$ opening a dollar quote at s.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '$':
			return s[:j+1], true
		case pgIsDigit(c) && j == 1, !pgIsIdentByte(c):
			return "", false
		}
	}
	return "", false
}

func pgIsDigit(c byte) bool { return c >= '0' && c <= '9' }

// pgIsIdentByte reports bytes that continue an unquoted identifier.
func pgIsIdentByte(c byte) bool {
	return c == '_' || c == '$' || pgIsDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') || c >= 0x80
}

// pgQuoteLiteral returns x as a SQL literal: a string in single quotes
// (each quote doubled; the sessions steward opens have
// standard_conforming_strings on, so a backslash is just a backslash),
// an integer in digits. NUL, which no PostgreSQL text holds, is refused.
func pgQuoteLiteral(x any) (string, error) {
	switch v := x.(type) {
	case string:
		if strings.IndexByte(v, 0) >= 0 {
			return "", fmt.Errorf("%w: a string holds NUL", errParam)
		}
		return "'" + strings.ReplaceAll(v, "'", "''") + "'", nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case int:
		return strconv.Itoa(v), nil
	case value:
		return pgQuoteLiteral(v.arg())
	}
	return "", fmt.Errorf("%w: an argument of type %T", errParam, x)
}

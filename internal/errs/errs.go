// Package errs formats the errors of steward's packages so that each
// layer names itself once: a message reads "backup: prune "acme": storage:
// get ...", never "backup: prune "acme": backup: storage: get ...".
package errs

import (
	"fmt"
	"strings"
)

// Errorf is fmt.Errorf(pkg+": "+format, args...), except that an error
// argument whose message already starts with pkg's prefix is shown without
// it. Wrapping (%w) is unchanged: errors.Is and errors.As see the argument
// itself.
func Errorf(pkg, format string, args ...any) error {
	p := pkg + ": "
	for i, a := range args {
		if e, ok := a.(error); ok && e != nil && strings.HasPrefix(e.Error(), p) {
			args[i] = trimmed{err: e, prefix: p}
		}
	}
	return fmt.Errorf(p+format, args...)
}

// trimmed shows err's message without prefix and unwraps to err.
type trimmed struct {
	err    error
	prefix string
}

func (t trimmed) Error() string { return strings.TrimPrefix(t.err.Error(), t.prefix) }
func (t trimmed) Unwrap() error { return t.err }

package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// ErrPartial: the backup committed a snapshot that leaves out entries the
// Source could not read (Snapshot.Skipped lists them with their reasons).
// Backup returns the snapshot together with an error matching ErrPartial;
// backing up again once the entries are readable takes them.
var ErrPartial = errors.New("backup: partial snapshot")

// Skipped is an entry a partial snapshot leaves out, and why: a file that
// could not be opened or read, or that changed while it was read (it is
// never stored torn), or a directory that could not be listed (its whole
// subtree is left out, the directory itself is kept).
type Skipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// partialError is the error of a partial snapshot: it matches ErrPartial
// and names the count and the first paths.
func partialError(s *Snapshot) error {
	const show = 3
	paths := make([]string, 0, show)
	for _, sk := range s.Skipped[:min(show, len(s.Skipped))] {
		paths = append(paths, fmt.Sprintf("%q", sk.Path))
	}
	more := ""
	if len(s.Skipped) > show {
		more = fmt.Sprintf(" and %d more", len(s.Skipped)-show)
	}
	return fmt.Errorf("%w: snapshot %s of %q left out %d %s the source could not read (%s%s); the snapshot lists each with its reason",
		ErrPartial, s.ID, s.Tenant, len(s.Skipped), plural(len(s.Skipped), "entry", "entries"), strings.Join(paths, ", "), more)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// sourceError marks an error of the Source about one entry (it could not
// be opened or read, or it changed): the entry is skipped unless the
// backup is fail-fast. Errors of the store and the context are not
// sourceErrors: they abort the backup.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// skips collects the skipped entries of one backup; safe for concurrent use.
type skips struct {
	mu   sync.Mutex
	list []Skipped
}

func (s *skips) add(path string, err error) {
	s.mu.Lock()
	s.list = append(s.list, Skipped{Path: path, Reason: err.Error()})
	s.mu.Unlock()
}

// sorted returns the skipped entries by path (nil for none).
func (s *skips) sorted() []Skipped {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.list)
	slices.SortFunc(out, func(a, b Skipped) int { return strings.Compare(a.Path, b.Path) })
	return out
}

type skipKey struct{}

// withSkip returns ctx carrying the function Skip calls during one walk.
func withSkip(ctx context.Context, fn func(path string, err error) error) context.Context {
	return context.WithValue(ctx, skipKey{}, fn)
}

// Skip is for a Source's Walk that cannot read an entry, one directory
// say: instead of failing the walk it calls Skip with the entry's path and
// the error, and goes on when Skip returns nil. During a backup that
// takes partial snapshots (Options.FailFast unset) Skip records the entry
// as skipped and returns nil; otherwise (FailFast, or a walk outside a
// backup) it returns err, which the Walk returns. DirSource and FSSource
// call it for a directory they cannot list. It is safe for concurrent use.
func Skip(ctx context.Context, path string, err error) error {
	if fn, ok := ctx.Value(skipKey{}).(func(string, error) error); ok && err != nil && ctx.Err() == nil {
		return fn(path, err)
	}
	return err
}

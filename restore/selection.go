package restore

import (
	"fmt"
	"path"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/snapshot"
)

// selection is what a restore covers: every path (Full, Merge), or a
// Selective restore's modules and named paths with what lies under them.
// The directories above a named path are not covered — the restore
// neither removes nor replaces what the target holds beside the named
// path — but are created when the target lacks them.
type selection struct {
	all     bool
	named   []string // the modules, then the paths, as the options list them
	modules map[string]bool
	paths   map[string]bool // named paths
	above   map[string]bool // directories above a named path
}

func newSelection(o *Options) *selection {
	s := &selection{all: o.Mode != Selective, modules: map[string]bool{}, paths: map[string]bool{}, above: map[string]bool{}}
	for _, m := range o.Modules {
		s.modules[m] = true
	}
	s.named = append(append(s.named, o.Modules...), o.Paths...)
	for _, p := range o.Paths {
		s.paths[p] = true
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			s.above[dir] = true
		}
	}
	return s
}

// covers tells whether the restore acts on p: restores it, or removes it
// when the snapshot lacks it.
func (s *selection) covers(p string) bool {
	if s.all || s.modules[snapshot.ModuleOf(p)] {
		return true
	}
	for q := p; q != "."; q = path.Dir(q) {
		if s.paths[q] {
			return true
		}
	}
	return false
}

// wants tells whether the restore reads the snapshot's entry f: one it
// covers, or a directory above a named path.
func (s *selection) wants(f backup.File) bool {
	return s.covers(f.Path) || f.Mode.IsDir() && s.above[f.Path]
}

// checkFound returns an error matching ErrInvalidOptions naming the first
// module or path the snapshot lacks: found holds the paths of the wanted
// entries, checksums the snapshot's modules.
func (s *selection) checkFound(snapshotID string, found map[string]bool, checksums map[string]string) error {
	for _, n := range s.named {
		if _, isModule := checksums[n]; found[n] || isModule && s.modules[n] {
			continue
		}
		what := "path"
		if s.modules[n] {
			what = "module"
		}
		return fmt.Errorf("%w: snapshot %s has no %s %q", ErrInvalidOptions, snapshotID, what, n)
	}
	return nil
}

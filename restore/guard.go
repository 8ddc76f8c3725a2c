package restore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/errs"
)

// MarkerDir is the directory at a target's root that marks the target as
// made by a restore: it holds one empty directory named for the tenant
// ("<MarkerDir>/acme"). A restore that starts on an empty target, or on one
// the same tenant's marker already names, writes the marker (before its
// first other write, so an interrupted restore run again still finds it);
// a later Full restore of that tenant may then remove what its snapshot
// lacks without Options.AllowDelete. A restore writes no marker into a
// target holding anything else, and replaces another tenant's marker only
// in a target that is otherwise empty.
//
// The marker is a directory, not a file, so that it adds no regular file to
// the restored tree (a deployed release, a comparison of file listings) and
// is written atomically, with no content to parse. A restore's plan never
// lists it: NewPlan ignores the marker in the target and in the snapshot
// (a snapshot of a restored directory may hold one), it is never removed as
// "not in the snapshot", never counted, and never part of a safety backup.
// Removing the directory by hand makes the target foreign again.
const MarkerDir = ".steward-restore"

// ErrWouldDelete: a Full restore would remove entries the snapshot lacks
// from a target that was neither empty nor marked by a restore of the same
// tenant (see MarkerDir), and Options.AllowDelete was not set. Nothing was
// written. The message counts the entries and names the first of them; a
// dry run (Options.DryRun) lists them all in its plan.
var ErrWouldDelete = errors.New("restore: removal not allowed")

// maxListed bounds the paths an error message names.
const maxListed = 10

// inMarker tells whether p is the marker directory or under it.
func inMarker(p string) bool {
	return p == MarkerDir || strings.HasPrefix(p, MarkerDir+"/")
}

// withoutMarker returns the entries of target outside the marker
// directory, and the tenants its marker names.
func withoutMarker(target []backup.File) ([]backup.File, []string) {
	var marks []string
	out := target[:0:0]
	for _, f := range target {
		switch {
		case !inMarker(f.Path):
			out = append(out, f)
		case path.Dir(f.Path) == MarkerDir && f.Mode.IsDir():
			marks = append(marks, path.Base(f.Path))
		}
	}
	return out, marks
}

// targetState is what a restore knows of its target before it writes.
type targetState struct {
	empty bool     // nothing outside the marker directory
	marks []string // the tenants the marker names
}

// ownedBy tells whether a restore of tenant may treat the target as its own.
func (s targetState) ownedBy(tenant string) bool {
	if s.empty {
		return true
	}
	for _, m := range s.marks {
		if m == tenant {
			return true
		}
	}
	return false
}

// refusal returns the error matching ErrWouldDelete when carrying out p
// would remove entries the caller did not allow, else nil.
func refusal(p *Plan, st targetState, tenant string, o *Options) error {
	if p.Mode != Full || p.EntriesRemoved == 0 || o.AllowDelete || st.ownedBy(tenant) {
		return nil
	}
	var names []string
	for _, d := range p.Decisions {
		if d.Action == ActionRemoved && len(names) < maxListed {
			names = append(names, fmt.Sprintf("%q", d.Path))
		}
	}
	more := ""
	if n := p.EntriesRemoved - len(names); n > 0 {
		more = fmt.Sprintf(" and %d more", n)
	}
	return fmt.Errorf("%w: a full restore of %q would remove %d entries the snapshot lacks (%s%s) from a target that holds other data and that no restore of the tenant created; nothing was written. Restore into an empty directory, or set Options.AllowDelete to remove them",
		ErrWouldDelete, tenant, p.EntriesRemoved, strings.Join(names, ", "), more)
}

// mark writes tenant's marker into dst when the target is the tenant's
// (empty, or already marked), removing the markers of other tenants of an
// empty target. It does nothing in a target that holds anything else.
func mark(ctx context.Context, dst Target, st targetState, tenant string) error {
	if !st.ownedBy(tenant) {
		return nil
	}
	has := false
	for _, m := range st.marks {
		if m == tenant {
			has = true
			continue
		}
		if err := dst.Remove(ctx, MarkerDir+"/"+m); err != nil {
			return errs.Errorf("restore", "remove the marker of %q: %w", m, err)
		}
	}
	if has {
		return nil
	}
	for _, p := range []string{MarkerDir, MarkerDir + "/" + tenant} {
		if _, err := dst.Create(ctx, backup.Entry{Path: p, Mode: fs.ModeDir | 0o755}); err != nil {
			return errs.Errorf("restore", "write the marker %q: %w", p, err)
		}
	}
	return nil
}

// unmarked is a target as a backup sees it: without its marker.
type unmarked struct{ Target }

func (u unmarked) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	return u.Target.Walk(ctx, func(e backup.Entry) error {
		if inMarker(e.Path) {
			return nil
		}
		return fn(e)
	})
}

package console

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/iluxsys/steward/backup"
)

// change is one path of a diff.
type change struct {
	Path             string
	Kind             string // added, removed, changed
	OldSize, NewSize int64
}

// snapshotDiff is the diff page's data.
type snapshotDiff struct {
	Tenant                  string
	From, To                *backup.Snapshot
	Changes                 []change
	Added, Removed, Changed int
}

// diff compares two snapshots of one tenant (?tenant=&a=&b=, a the older
// side): the paths added, removed and changed (size, content, mode or
// link target), with their sizes on each side.
func (c *console) diff(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Engine == nil {
		c.notConfigured(w, r, "snapshots", "The backup engine")
		return
	}
	ctx, q := r.Context(), r.URL.Query()
	d := snapshotDiff{Tenant: q.Get("tenant")}
	var err error
	if d.From, err = c.cfg.Engine.Snapshot(ctx, d.Tenant, q.Get("a")); err != nil {
		c.fail(w, r, err)
		return
	}
	if d.To, err = c.cfg.Engine.Snapshot(ctx, d.Tenant, q.Get("b")); err != nil {
		c.fail(w, r, err)
		return
	}
	if d.Changes, err = c.compare(ctx, d.Tenant, d.From.ID, d.To.ID); err != nil {
		c.fail(w, r, err)
		return
	}
	for _, ch := range d.Changes {
		switch ch.Kind {
		case "added":
			d.Added++
		case "removed":
			d.Removed++
		default:
			d.Changed++
		}
	}
	c.render(w, r, http.StatusOK, "diff", "", page{Title: "Diff", Nav: "snapshots", Data: d})
}

// compare lists the differences between two snapshots' entry lists, in
// path order.
func (c *console) compare(ctx context.Context, tenant, a, b string) ([]change, error) {
	old := map[string]backup.File{}
	for f, err := range c.cfg.Engine.Files(ctx, tenant, a) {
		if err != nil {
			return nil, err
		}
		old[f.Path] = f
	}
	var out []change
	for f, err := range c.cfg.Engine.Files(ctx, tenant, b) {
		if err != nil {
			return nil, err
		}
		o, ok := old[f.Path]
		delete(old, f.Path)
		switch {
		case !ok:
			out = append(out, change{Path: f.Path, Kind: "added", NewSize: f.Size})
		case differs(o, f):
			out = append(out, change{Path: f.Path, Kind: "changed", OldSize: o.Size, NewSize: f.Size})
		}
	}
	for p, o := range old {
		out = append(out, change{Path: p, Kind: "removed", OldSize: o.Size})
	}
	slices.SortFunc(out, func(x, y change) int { return strings.Compare(x.Path, y.Path) })
	return out, nil
}

// differs reports whether two entries of one path differ in what a user
// would call a change (a directory's mtime is not one).
func differs(a, b backup.File) bool {
	if a.Mode.Type() != b.Mode.Type() || a.LinkTarget != b.LinkTarget {
		return true
	}
	if a.Mode.IsDir() {
		return false
	}
	return a.Size != b.Size || a.SHA256 != b.SHA256 || a.Mode.Perm() != b.Mode.Perm()
}

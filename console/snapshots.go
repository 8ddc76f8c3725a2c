package console

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
)

// snapshotFilter is the Snapshots page's query: each field "" matches all.
type snapshotFilter struct {
	Tenant, Type, Tag string
}

func (f snapshotFilter) match(s *backup.Snapshot) bool {
	return (f.Type == "" || string(s.Type) == f.Type) && (f.Tag == "" || slices.Contains(s.Tags, f.Tag))
}

// snapshotList is the Snapshots page's data.
type snapshotList struct {
	Filter    snapshotFilter
	Tenants   []string
	Snapshots []backup.Snapshot // this page's
	Pager     pager
}

// snapshots lists the snapshots of the tenants the principal may read,
// newest first, filtered by tenant, type and tag.
func (c *console) snapshots(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Engine == nil {
		c.notConfigured(w, r, "snapshots", "The backup engine")
		return
	}
	q := r.URL.Query()
	d := snapshotList{Filter: snapshotFilter{Tenant: q.Get("tenant"), Type: q.Get("type"), Tag: q.Get("tag")}}
	var err error
	if d.Tenants, err = c.tenants(r.Context(), steward.ActionBackupList); err != nil {
		c.fail(w, r, err)
		return
	}
	scope := d.Tenants
	if d.Filter.Tenant != "" {
		if err := c.authorize(r.Context(), steward.ActionBackupList, d.Filter.Tenant); err != nil {
			c.fail(w, r, err)
			return
		}
		scope = []string{d.Filter.Tenant}
	}
	d.Snapshots, d.Pager, err = c.listSnapshots(r.Context(), scope, d.Filter, q)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "snapshots", "", page{Title: "Snapshots", Nav: "snapshots", Data: d})
}

// listSnapshots gathers the matching snapshots of tenants, newest first,
// and returns the page of them the query asks for with its pager. It
// filters pointers into the catalogs (see allSnapshots) and copies only
// the page's rows.
func (c *console) listSnapshots(ctx context.Context, tenants []string, f snapshotFilter, q url.Values) ([]backup.Snapshot, pager, error) {
	all, err := c.allSnapshots(ctx, tenants)
	if err != nil {
		return nil, pager{}, err
	}
	if f.Type != "" || f.Tag != "" {
		all = slices.DeleteFunc(slices.Clone(all), func(s *backup.Snapshot) bool { return !f.match(s) })
	}
	lo, hi, pg := paginate(c.cfg.BasePath+"/snapshots", q, len(all))
	out := make([]backup.Snapshot, 0, hi-lo)
	for _, s := range all[lo:hi] {
		out = append(out, *s)
	}
	return out, pg, nil
}

// allSnapshots returns pointers to the snapshots of tenants, newest first
// (read only). For several tenants of a principal that may use the shared
// cache, the merged list is kept until a catalog changes.
func (c *console) allSnapshots(ctx context.Context, tenants []string) ([]*backup.Snapshot, error) {
	shared := len(tenants) > 1 && c.useSharedCatalogs(ctx)
	var gen uint64
	if shared {
		var all []*backup.Snapshot
		if all, gen = c.shared.merged(tenants); all != nil {
			return all, nil
		}
	}
	per := make([][]*backup.Snapshot, len(tenants))
	err := forEach(ctx, tenants, func(ctx context.Context, i int, t string) error {
		snaps, err := c.catalogView(ctx, t)
		for j := range snaps {
			per[i] = append(per[i], &snaps[j])
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	all := slices.Concat(per...)
	slices.SortFunc(all, func(a, b *backup.Snapshot) int {
		return cmp.Or(b.Timestamp.Compare(a.Timestamp), cmp.Compare(b.ID, a.ID))
	})
	if shared {
		c.shared.putMerged(gen, tenants, all)
	}
	return all, nil
}

// module is one module of a snapshot's details.
type module struct {
	Name     string
	Files    int
	Bytes    int64
	Checksum string
}

// snapshotDetails is the details page's data.
type snapshotDetails struct {
	Snapshot *backup.Snapshot
	Modules  []module
	Others   []backup.Snapshot // the tenant's other snapshots, to diff against
}

// snapshotDetail shows one snapshot: metadata, modules with sizes and
// checksums, and a form to diff it against another.
func (c *console) snapshotDetail(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Engine == nil {
		c.notConfigured(w, r, "snapshots", "The backup engine")
		return
	}
	ctx, tenant := r.Context(), r.PathValue("tenant")
	s, err := c.cfg.Engine.Snapshot(ctx, tenant, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := snapshotDetails{Snapshot: s}
	if d.Modules, err = c.modules(ctx, s); err != nil {
		c.fail(w, r, err)
		return
	}
	others, err := c.catalog(ctx, tenant)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Others = slices.DeleteFunc(others, func(o backup.Snapshot) bool { return o.ID == s.ID })
	c.render(w, r, http.StatusOK, "snapshot", "", page{Title: "Snapshot " + s.ID, Nav: "snapshots", Data: d})
}

// modules sums the snapshot's files per module and pairs them with the
// manifest's checksums.
func (c *console) modules(ctx context.Context, s *backup.Snapshot) ([]module, error) {
	byName := map[string]*module{}
	get := func(name string) *module {
		if byName[name] == nil {
			byName[name] = &module{Name: name, Checksum: s.Checksums[name]}
		}
		return byName[name]
	}
	for f, err := range c.cfg.Engine.Files(ctx, s.Tenant, s.ID) {
		if err != nil {
			return nil, err
		}
		m := get(moduleOf(f.Path))
		if f.Mode.IsRegular() {
			m.Files++
			m.Bytes += f.Size
		}
	}
	for name := range s.Checksums {
		if name != "manifest" {
			get(name)
		}
	}
	out := make([]module, 0, len(byName))
	for _, m := range byName {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b module) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// moduleOf is a path's first element.
func moduleOf(p string) string {
	m, _, _ := strings.Cut(p, "/")
	return m
}

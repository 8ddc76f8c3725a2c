package console

import (
	"context"
	"errors"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
)

// tenants lists the tenants the principal may read with action, sorted.
// A principal allowed to list every tenant sees the Engine's; any other
// sees those of its Principal.Tenants that the Authorizer lets it read, so
// a tenant-scoped principal never learns the names of the others.
func (c *console) tenants(ctx context.Context, action steward.Action) ([]string, error) {
	var all []string
	if c.cfg.Authorizer.Authorize(ctx, steward.ActionBackupList, "") == nil {
		var err error
		if all, err = c.allTenants(ctx); err != nil {
			return nil, err
		}
	} else {
		all = slices.Clone(principal(ctx).Tenants)
		slices.Sort(all)
		all = slices.Compact(all)
	}
	out := all[:0]
	for _, t := range all {
		if c.allowed(ctx, action, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// allowed reports whether the principal may perform action on tenant.
func (c *console) allowed(ctx context.Context, action steward.Action, tenant string) bool {
	return c.cfg.Authorizer.Authorize(ctx, action, tenant) == nil
}

// authorize is allowed as an error, for handlers that refuse with 403.
func (c *console) authorize(ctx context.Context, action steward.Action, tenant string) error {
	return c.cfg.Authorizer.Authorize(ctx, action, tenant)
}

// allTenants is Engine.Tenants, kept in the shared cache when the
// principal may use it.
func (c *console) allTenants(ctx context.Context) ([]string, error) {
	if !c.useSharedCatalogs(ctx) {
		return c.cfg.Engine.Tenants(ctx)
	}
	all, gen := c.shared.tenantList()
	if all != nil {
		return all, nil
	}
	all, err := c.cfg.Engine.Tenants(ctx)
	if err == nil {
		c.shared.putTenantList(gen, all)
	}
	return all, err
}

// catalog is Engine.Catalog, kept in the shared cache when the principal
// may use it, with a tenant that has no repository yet (a tenant-scoped
// principal's tenant before its first backup) as empty. The caller owns
// the slice.
func (c *console) catalog(ctx context.Context, tenant string) ([]backup.Snapshot, error) {
	snaps, err := c.catalogView(ctx, tenant)
	return slices.Clone(snaps), err
}

// catalogView is catalog without the copy: the caller must not modify the
// slice, which the shared cache may hold. With the shared cache, a read of
// the same catalog in flight (warming's, another request's) is waited for
// rather than made again (shared.loadCatalog).
func (c *console) catalogView(ctx context.Context, tenant string) ([]backup.Snapshot, error) {
	if !c.useSharedCatalogs(ctx) {
		return c.readCatalog(ctx, tenant)
	}
	return c.shared.loadCatalog(ctx, tenant, c.readCatalog)
}

func (c *console) readCatalog(ctx context.Context, tenant string) ([]backup.Snapshot, error) {
	snaps, err := c.cfg.Engine.Catalog(ctx, tenant)
	if errors.Is(err, backup.ErrNotFound) {
		return nil, nil
	}
	return snaps, err
}

// ownTenants are the principal's own tenants that it may perform action on.
func (c *console) ownTenants(ctx context.Context, action steward.Action) []string {
	var out []string
	for _, t := range principal(ctx).Tenants {
		if c.allowed(ctx, action, t) {
			out = append(out, t)
		}
	}
	return out
}

// catalogReaders bounds the tenants whose catalogs one page reads at once:
// each is a List and a few reads on the store, mostly waiting on it.
const catalogReaders = 8

// forEach calls fn for each tenant, catalogReaders at a time, and returns
// the first error (which cancels the calls not yet started).
func forEach(ctx context.Context, tenants []string, fn func(ctx context.Context, i int, tenant string) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(catalogReaders)
	for i, t := range tenants {
		g.Go(func() error { return fn(ctx, i, t) })
	}
	return g.Wait()
}

package console

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
)

// handler is what New returns: the console's routes, with the console
// itself for the tests' hooks (export_test.go).
type handler struct {
	http.Handler
	c *console
}

// warm fills the shared cache as Config.WarmAs, then closes c.warmed. It
// first brings the cache up to date (which fixes the point in the log the
// cache is current from, as a request's first use does), then reads the
// log's history into the index while it reads the tenant list, each
// tenant's catalog and RPO, catalogReaders tenants at a time, and the
// merged list of every tenant's snapshots; and it walks the audit chain
// (warmChain).
//
// Warming only fills the cache: it goes through the same calls a request
// makes (useShared, catalogView, rpo, allSnapshots), with WarmAs in the
// context, so every SDK call it makes is authorized and audited for
// WarmAs, and it keeps a catalog only when WarmAs may list every tenant's
// backups (useSharedCatalogs), the right a request needs to take one from
// the cache. What a request takes from the cache is authorized for the
// request's own principal, tenant by tenant, exactly as when the request
// filled it (see shared): WarmAs never answers a request.
func (c *console) warm(ctx context.Context) {
	defer close(c.warmed)
	ctx = withRequestState(steward.WithPrincipal(ctx, c.warmAs))
	if !c.useShared(ctx, false) {
		return // no Log, or it fails to read: requests read for themselves
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.useShared(withRequestState(ctx), true) })
	wg.Go(func() { c.warmChain(withRequestState(ctx)) })
	c.warmCatalogs(ctx)
	wg.Wait()
}

// warmChain walks the whole audit chain once when the context's
// principal may verify it, so that the process's first Audit chain status
// checks only the events appended since. A problem it finds is kept
// (verifyChain): the next verification walks the whole chain again and
// reports it.
func (c *console) warmChain(ctx context.Context) {
	if !c.allowed(ctx, steward.ActionAuditRead, "") {
		return
	}
	if _, err := c.verifyChain(ctx, true); err != nil && ctx.Err() == nil {
		slog.WarnContext(ctx, "console: warming: the audit chain does not verify", "err", err)
	}
}

// warmCatalogs reads the tenant list, each tenant's catalog and RPO, and
// the merged list of their snapshots into the shared cache, when the
// context's principal may use it. A tenant that fails to read is logged
// and left to the first request that needs it.
func (c *console) warmCatalogs(ctx context.Context) {
	if !c.useSharedCatalogs(ctx) {
		return
	}
	tenants, err := c.tenants(ctx, steward.ActionBackupList)
	if err != nil {
		slog.WarnContext(ctx, "console: warming: listing the tenants failed", "err", err)
		return
	}
	_ = forEach(ctx, tenants, func(ctx context.Context, _ int, t string) error {
		if _, err := c.catalogView(ctx, t); err != nil && ctx.Err() == nil {
			slog.WarnContext(ctx, "console: warming: reading a catalog failed", "tenant", t, "err", err)
		}
		c.rpo(ctx, t)
		return ctx.Err()
	})
	if ctx.Err() == nil {
		_, _ = c.allSnapshots(ctx, tenants)
	}
}

// flight is a read of one tenant's catalog for the shared cache, in
// progress: others that need the same catalog at the same generation wait
// for it instead of reading it again.
type flight struct {
	gen   uint64        // the tenant's generation when it started
	done  chan struct{} // closed once snaps and err are set
	snaps []backup.Snapshot
	err   error
}

// readFunc reads tenant's catalog (console.readCatalog).
type readFunc func(ctx context.Context, tenant string) ([]backup.Snapshot, error)

// loadCatalog returns tenant's kept catalog (read only), or reads it with
// read and keeps it. When a read of it is already in flight at the
// tenant's current generation (another request's, or warming's), it waits
// for that read rather than reading the catalog twice at once: no event of
// the tenant came since that read started, so it is as current as a read
// of its own. If that read fails (its caller gave up, say), it reads for
// itself. The caller must be allowed to use the shared catalogs
// (useSharedCatalogs), as for the kept ones.
func (s *shared) loadCatalog(ctx context.Context, tenant string, read readFunc) ([]backup.Snapshot, error) {
	s.mu.Lock()
	t := s.state(tenant)
	if t.hasSnaps {
		defer s.mu.Unlock()
		return t.snaps, nil
	}
	gen, f := t.gen, t.reading
	if f != nil && f.gen == gen {
		s.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err == nil {
			return f.snaps, nil
		}
		snaps, err := read(ctx, tenant)
		if err == nil {
			snaps = s.putCatalog(tenant, gen, snaps)
		}
		return snaps, err
	}
	f = &flight{gen: gen, done: make(chan struct{})}
	t.reading = f
	s.mu.Unlock()
	return s.fly(ctx, t, tenant, f, read)
}

// errFlightAborted is a flight's error until its read returns: its
// waiters read for themselves if the read panics.
var errFlightAborted = errors.New("console: the catalog's read did not end")

// fly makes the read f stands for, keeps what it read, and lets its
// waiters go.
func (s *shared) fly(ctx context.Context, t *tenantState, tenant string, f *flight, read readFunc) ([]backup.Snapshot, error) {
	defer close(f.done)
	f.err = errFlightAborted
	f.snaps, f.err = read(ctx, tenant)
	if f.err == nil {
		f.snaps = s.putCatalog(tenant, f.gen, f.snaps)
	}
	s.mu.Lock()
	if t.reading == f {
		t.reading = nil
	}
	s.mu.Unlock()
	return f.snaps, f.err
}

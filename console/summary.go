package console

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
)

// retryAfter is how long the console reads without its shared cache after
// the audit log failed to read (a damaged chain, a store that fails): the
// Audit page says why.
const retryAfter = 15 * time.Second

// ttrWindow is how far back the Overview's times to restore go.
const ttrWindow = 30 * 24 * time.Hour

// shared is what the console reads once and keeps: the tenant list, each
// tenant's catalog and RPO, and what the audit log says of each tenant's
// backups and restores, with an index of every event.
//
// The audit log keeps it current. Every change to a catalog or a policy is
// an audited event of its tenant, so each request first reads the events
// appended since the last one (two reads when there are none, whoever
// appended them) and forgets the catalog and RPO of each tenant they
// name; a tenant it does not know makes it read the tenant list again.
// This needs the Engine and Policies to audit to Config.Log. Safe for
// concurrent use.
//
// The server follows the log with its own rights (audit.Log.Follow), not
// the principal's, so that a tenant-scoped principal's pages are served
// from it too; what a request takes from it is authorized for that
// principal, by tenant, exactly as the SDK would authorize the read:
//   - the catalogs and the tenant list, only with steward.ActionBackupList
//     on every tenant (useSharedCatalogs);
//   - a tenant's summed-up events (the Overview), only for the tenants
//     the principal may read the audit events of (backupEvents);
//   - the index (the Audit page), only for a filter of a tenant the
//     principal may read the events of, or of the whole log with the right
//     to read it; the events it names are then read with the principal's
//     own rights (audit.Log.At, which refuses a record of another tenant
//     than the filter's), so a mistake in the index cannot show another
//     tenant's event;
//   - the events kept whole (flags, deploys), only with the right to read
//     the whole log (typedEvents).
//
// Reading with the server's rights gives the process nothing it could not
// read (it holds the Log, its Store and its key), and nothing of it reaches
// a page but through those checks.
//
// Whoever filled an entry (a request's principal, or Config.WarmAs when
// the console warms it, see console.warm) does not matter to those
// checks: a catalog is kept only by a principal allowed to list every
// tenant's backups, the right the checks ask of a principal that takes
// it, and a read in flight is shared (loadCatalog) on the same terms.
type shared struct {
	follow   sync.Mutex // one reader of the log at a time
	mu       sync.Mutex
	started  bool             // point is set
	history  bool             // the events before point are summed up too
	point    audit.Checkpoint // the log is read up to here
	failedAt time.Time        // the last failure to read the log (wall clock)
	tenants  []string         // nil: to be read
	listGen  uint64           // bumped when the tenant list is forgotten
	byTenant map[string]*tenantState
	kept     []audit.Event // the events of keptTypes, oldest first (with history)
	events   []indexEntry  // every event, oldest first (with history)
	names    map[string]string

	catGen        uint64             // bumped when any catalog is forgotten
	mergedAll     []*backup.Snapshot // every kept catalog's snapshots, newest first
	mergedTenants []string           // whose snapshots merged holds
}

// keptTypes are the events shared keeps whole: few, and read by the flag
// history and the Releases page.
var keptTypes = []audit.EventType{audit.TypeFlagChanged, audit.TypeFlagDeleted, EventDeployRequested, EventRollbackRequested}

// tenantState is what shared keeps of one tenant.
type tenantState struct {
	gen      uint64 // bumped by each event of the tenant: a read started before is not kept
	snaps    []backup.Snapshot
	hasSnaps bool
	rpo      time.Duration // 0: to be read
	log      tenantLog
	reading  *flight // the read of the catalog in progress (nil: none)
}

// tenantLog holds the events the Overview sums up for one tenant.
type tenantLog struct {
	lastFailure *audit.Event  // the newest failure of an operation
	recent      []audit.Event // backups and restores of the last ttrWindow
}

// state returns tenant's state, created empty. Call with mu held.
func (s *shared) state(tenant string) *tenantState {
	if s.byTenant == nil {
		s.byTenant = map[string]*tenantState{}
	}
	t := s.byTenant[tenant]
	if t == nil {
		t = &tenantState{}
		s.byTenant[tenant] = t
	}
	return t
}

// forget drops what e changes: its tenant's catalog and RPO, and the
// tenant list when e names a tenant it does not hold.
func (s *shared) forget(e *audit.Event) {
	if e.Tenant == "" || e.Type == audit.TypeAccessDenied {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.tenants, e.Tenant) {
		s.tenants, s.listGen = nil, s.listGen+1
	}
	t := s.state(e.Tenant)
	t.gen++
	t.snaps, t.hasSnaps, t.rpo = nil, false, 0
	s.catGen++
	s.mergedAll, s.mergedTenants = nil, nil
}

// merged returns the kept merged list of tenants' snapshots (nil: none)
// and the generation a new one must be put back with.
func (s *shared) merged(tenants []string) ([]*backup.Snapshot, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Equal(s.mergedTenants, tenants) {
		return nil, s.catGen
	}
	return s.mergedAll, s.catGen
}

// putMerged keeps all, tenants' snapshots merged at generation gen,
// unless a catalog was forgotten since.
func (s *shared) putMerged(gen uint64, tenants []string, all []*backup.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.catGen == gen {
		s.mergedAll, s.mergedTenants = slices.Clip(all), slices.Clone(tenants)
	}
}

// keep records what the Overview, the flag history, the Releases page and
// the Audit page's filters need of r.
func (s *shared) keep(r *audit.Recorded, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index(r)
	e := r.Event
	if slices.Contains(keptTypes, e.Type) {
		s.kept = append(s.kept, e)
	}
	if e.Tenant == "" {
		return
	}
	t := s.state(e.Tenant)
	if e.Failed() && e.Type != audit.TypeAccessDenied {
		t.log.lastFailure = &e
	}
	if e.Type == audit.TypeBackupCreated || e.Type == audit.TypeBackupFailed || e.Type == audit.TypeRestoreCompleted {
		t.log.recent = slices.DeleteFunc(t.log.recent, func(o audit.Event) bool { return now.Sub(o.Timestamp) > ttrWindow })
		t.log.recent = append(t.log.recent, e)
	}
}

// hasHistory reports whether the events before the console's first
// request are summed up.
func (s *shared) hasHistory() bool {
	s.follow.Lock()
	defer s.follow.Unlock()
	return s.history
}

// keptEvents returns the kept events of types, oldest first.
func (s *shared) keptEvents(types ...audit.EventType) []audit.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []audit.Event
	for _, e := range s.kept {
		if slices.Contains(types, e.Type) {
			out = append(out, e)
		}
	}
	return out
}

// dropHistory forgets the events kept of the log's history, after a
// read of it stopped part way: the next one keeps them again from the
// first. Call with follow held.
func (s *shared) dropHistory() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kept, s.events, s.names = nil, nil, nil
	for _, t := range s.byTenant {
		t.log = tenantLog{}
	}
}

// reset forgets everything, after the log failed to read.
func (s *shared) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started, s.history, s.point, s.failedAt = false, false, audit.Checkpoint{}, time.Now()
	s.tenants, s.byTenant, s.kept, s.events, s.names = nil, nil, nil, nil, nil
	s.mergedAll, s.mergedTenants = nil, nil
	s.catGen++
	s.listGen++
}

// putCatalog keeps snaps, read at generation gen, unless an event of the
// tenant came since; it returns snaps clipped, so that an append by the
// caller cannot write into the kept array.
func (s *shared) putCatalog(tenant string, gen uint64, snaps []backup.Snapshot) []backup.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snaps = slices.Clip(snaps)
	if t := s.state(tenant); t.gen == gen {
		t.snaps, t.hasSnaps = snaps, true
	}
	return snaps
}

// rpo returns tenant's kept RPO (0: none) and its generation.
func (s *shared) rpo(tenant string) (time.Duration, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.state(tenant)
	return t.rpo, t.gen
}

func (s *shared) putRPO(tenant string, gen uint64, rpo time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.state(tenant); t.gen == gen {
		t.rpo = rpo
	}
}

// tenantList returns a copy of the kept tenant list (nil: none) and its
// generation.
func (s *shared) tenantList() ([]string, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tenants), s.listGen
}

func (s *shared) putTenantList(gen uint64, tenants []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listGen == gen {
		s.tenants = slices.Clip(slices.Clone(tenants))
	}
}

// summary sums up the kept events of tenants as of now.
func (s *shared) summary(tenants []string, now time.Time) map[string]*tenantEvents {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*tenantEvents, len(tenants))
	for _, name := range tenants {
		t := s.byTenant[name]
		if t == nil {
			continue
		}
		te := &tenantEvents{}
		for _, e := range t.log.recent {
			te.add(e, now)
		}
		te.lastFailure = t.log.lastFailure
		out[name] = te
	}
	return out
}

// requestKey is the context key of a request's requestState.
type requestKey struct{}

// requestState is what one request learned once: whether it may use the
// shared cache (after bringing it up to date), with the log's history.
type requestState struct {
	mu            sync.Mutex
	done, history bool
	ok            bool
}

// withRequestState gives the request its requestState.
func withRequestState(ctx context.Context) context.Context {
	return context.WithValue(ctx, requestKey{}, &requestState{})
}

// useShared reports whether the shared cache is current, for the
// caller to take from it what the principal may read (see shared). The
// first call of a request brings the cache up to date, reading the whole
// log once in the process's life when history is asked for (the events
// before the console's first request).
func (c *console) useShared(ctx context.Context, history bool) bool {
	st, ok := ctx.Value(requestKey{}).(*requestState)
	if !ok {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.done || (history && !st.history && !c.shared.hasHistory()) {
		st.ok = c.syncShared(ctx, history)
		st.done, st.history = true, st.history || history
	}
	return st.ok
}

// useSharedCatalogs is useShared for the tenant list and catalogs, which
// need the right to list every tenant's backups.
func (c *console) useSharedCatalogs(ctx context.Context) bool {
	return c.cfg.Engine != nil && c.allowed(ctx, steward.ActionBackupList, "") && c.useShared(ctx, false)
}

// syncShared reads the audit events appended since the last request into
// the shared cache (all of them, the first time history is asked for),
// with the server's rights (audit.Log.Follow; see shared for why that is
// sound). It reports false, and the request reads for itself, when there
// is no Log or the log fails to read (retried after retryAfter).
func (c *console) syncShared(ctx context.Context, history bool) bool {
	if c.cfg.Log == nil {
		return false
	}
	s := &c.shared
	s.follow.Lock()
	defer s.follow.Unlock()
	if time.Since(s.failedAt) < retryAfter {
		return false
	}
	if !s.started { // nothing is cached yet: no event before the head matters
		seq, hash := c.cfg.Log.Head()
		s.point, s.started = audit.Checkpoint{Seq: seq, Hash: hash}, true
	}
	from, readHistory := s.point, history && !s.history
	if readHistory {
		from = audit.Checkpoint{}
	}
	now := c.cfg.Clock.Now()
	for r, err := range c.cfg.Log.Follow(ctx, from) {
		if err != nil && ctx.Err() != nil { // the caller gave up (a request, warming): not the log's fault
			if readHistory {
				s.dropHistory()
			}
			return false
		}
		if err != nil {
			slog.WarnContext(ctx, "console: reading the audit log failed: pages read without the shared cache", "err", err)
			s.reset()
			return false
		}
		if r.Seq > s.point.Seq {
			s.forget(&r.Event)
			s.point = audit.Checkpoint{Seq: r.Seq, Hash: r.Hash}
		}
		if readHistory || s.history {
			s.keep(&r, now)
		}
	}
	s.history = s.history || readHistory
	return true
}

// backupEvents sums up what the audit log says of the tenants whose
// events the principal may read, of their backups and restores: from the
// shared cache when it is current; else one pass over the log for each
// of them. Reading the log fails quietly: the Overview then shows no
// failures, and the Audit page says why.
func (c *console) backupEvents(ctx context.Context, tenants []string, now time.Time) map[string]*tenantEvents {
	if c.cfg.Log == nil {
		return map[string]*tenantEvents{}
	}
	readable := tenants
	if !c.allowed(ctx, steward.ActionAuditRead, "") {
		readable = slices.DeleteFunc(slices.Clone(tenants), func(t string) bool {
			return !c.allowed(ctx, steward.ActionAuditRead, t)
		})
	}
	if c.useShared(ctx, true) {
		return c.shared.summary(readable, now)
	}
	out := map[string]*tenantEvents{}
	for _, t := range readable {
		c.scanEvents(ctx, audit.Filter{Tenant: t}, now, out)
	}
	return out
}

// scanEvents adds the events matching f to out, in log order. It reads
// them from the tail (audit.Log.Recent), which checks the records it reads
// without the whole chain's pinning walk that Events makes first.
func (c *console) scanEvents(ctx context.Context, f audit.Filter, now time.Time, out map[string]*tenantEvents) {
	evs, _, err := c.cfg.Log.Recent(ctx, f)
	if err != nil {
		return
	}
	for _, e := range slices.Backward(evs) {
		if out[e.Tenant] == nil {
			out[e.Tenant] = &tenantEvents{}
		}
		out[e.Tenant].add(e, now)
	}
}

package console

import (
	"context"
	"sync"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
)

// summaryTTL is how long the Overview reuses its reading of the whole
// audit log while the Log's head has not moved: events other processes
// append show within it.
const summaryTTL = 15 * time.Second

// summaryCache keeps the Overview's last reading of the whole audit log,
// for principals who may read all of it. Safe for concurrent use.
type summaryCache struct {
	mu   sync.Mutex
	seq  uint64
	hash string
	at   time.Time // when it was read (wall clock)
	data map[string]*tenantEvents
}

// get returns the cached summary if the head is still seq and hash and it
// is younger than summaryTTL.
func (s *summaryCache) get(seq uint64, hash string) (map[string]*tenantEvents, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data == nil || s.seq != seq || s.hash != hash || time.Since(s.at) > summaryTTL {
		return nil, false
	}
	return s.data, true
}

func (s *summaryCache) put(seq uint64, hash string, data map[string]*tenantEvents) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq, s.hash, s.at, s.data = seq, hash, time.Now(), data
}

// backupEvents reads the audit log and sums it up per tenant: nothing
// without a log or when the principal may not read it. A principal that
// may read the whole log shares one reading, kept while the log's head
// does not move and for at most summaryTTL; any other gets its tenants'
// events, one pass each. Reading the log fails quietly: the Overview then
// shows no failures, and the Audit page says why.
func (c *console) backupEvents(ctx context.Context, tenants []string, now time.Time) map[string]*tenantEvents {
	if c.cfg.Log == nil {
		return map[string]*tenantEvents{}
	}
	if c.allowed(ctx, steward.ActionAuditRead, "") {
		seq, hash := c.cfg.Log.Head()
		if data, ok := c.summary.get(seq, hash); ok {
			return data
		}
		data, err := c.scanEvents(ctx, audit.Filter{}, now, nil)
		if err == nil {
			c.summary.put(seq, hash, data)
		}
		return data
	}
	out := map[string]*tenantEvents{}
	for _, t := range tenants {
		if c.allowed(ctx, steward.ActionAuditRead, t) {
			_, _ = c.scanEvents(ctx, audit.Filter{Tenant: t}, now, out)
		}
	}
	return out
}

// scanEvents adds the events matching f to out (a new map when nil).
func (c *console) scanEvents(ctx context.Context, f audit.Filter, now time.Time, out map[string]*tenantEvents) (map[string]*tenantEvents, error) {
	if out == nil {
		out = map[string]*tenantEvents{}
	}
	for e, err := range c.cfg.Log.Events(ctx, f) {
		if err != nil {
			return out, err
		}
		if out[e.Tenant] == nil {
			out[e.Tenant] = &tenantEvents{}
		}
		out[e.Tenant].add(e, now)
	}
	return out, nil
}

package console

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
)

// defaultRPO is the RPO shown when no Policies are configured: the
// default of retention.Policy.RPOIncremental.
const defaultRPO = 24 * time.Hour

// tenantHealth is one row of the Overview.
type tenantHealth struct {
	Tenant      string
	Snapshots   int
	Last        *backup.Snapshot // newest snapshot that is not a safety backup
	Age         time.Duration
	RPO         time.Duration
	Stale       bool         // no backup, or the newest is older than the RPO
	LastFailure *audit.Event // newest failure, when newer than Last
}

// failing reports whether the row belongs at the top.
func (h tenantHealth) failing() bool { return h.LastFailure != nil || h.Stale }

// overview is the landing page: per tenant the last backup's age against
// its RPO and the snapshot count, failing tenants first.
func (c *console) overview(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Engine == nil {
		c.notConfigured(w, r, "overview", "The backup engine")
		return
	}
	rows, err := c.health(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "overview", "", page{Title: "Overview", Nav: "overview", Data: rows})
}

// health builds the Overview's rows, failing tenants first, then by name.
func (c *console) health(ctx context.Context) ([]tenantHealth, error) {
	tenants, err := c.tenants(ctx, steward.ActionBackupList)
	if err != nil {
		return nil, err
	}
	failures := c.lastFailures(ctx, tenants)
	now := c.cfg.Clock.Now()
	rows := make([]tenantHealth, 0, len(tenants))
	for _, t := range tenants {
		h, err := c.tenantHealth(ctx, t, now)
		if err != nil {
			return nil, err
		}
		if f, ok := failures[t]; ok && (h.Last == nil || f.Timestamp.After(h.Last.Timestamp)) {
			h.LastFailure = &f
		}
		rows = append(rows, h)
	}
	slices.SortStableFunc(rows, func(a, b tenantHealth) int {
		if a.failing() != b.failing() {
			if a.failing() {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Tenant, b.Tenant)
	})
	return rows, nil
}

// tenantHealth reads one tenant's catalog and RPO.
func (c *console) tenantHealth(ctx context.Context, tenant string, now time.Time) (tenantHealth, error) {
	snaps, err := c.catalog(ctx, tenant)
	if err != nil {
		return tenantHealth{}, err
	}
	h := tenantHealth{Tenant: tenant, Snapshots: len(snaps), RPO: c.rpo(ctx, tenant)}
	for i := range snaps {
		if !slices.Contains(snaps[i].Tags, backup.TagPreRestore) {
			h.Last = &snaps[i]
			break
		}
	}
	if h.Last != nil {
		h.Age = now.Sub(h.Last.Timestamp)
	}
	h.Stale = h.Last == nil || h.Age > h.RPO
	return h, nil
}

// rpo is tenant's RPO from its stored policy, or the default.
func (c *console) rpo(ctx context.Context, tenant string) time.Duration {
	if c.cfg.Policies == nil {
		return defaultRPO
	}
	p, err := c.cfg.Policies.Get(ctx, tenant)
	if err != nil || p.RPOIncremental <= 0 {
		return defaultRPO
	}
	return time.Duration(p.RPOIncremental)
}

// lastFailures returns the newest failure event of each tenant the audit
// log holds (none without a log, or when the principal may not read it).
func (c *console) lastFailures(ctx context.Context, tenants []string) map[string]audit.Event {
	out := map[string]audit.Event{}
	if c.cfg.Log == nil {
		return out
	}
	add := func(evs []audit.Event) {
		for _, e := range evs { // oldest first: the newest wins
			out[e.Tenant] = e
		}
	}
	if c.allowed(ctx, steward.ActionAuditRead, "") {
		evs, _ := c.cfg.Log.Query(ctx, audit.Filter{FailuresOnly: true})
		add(evs)
		return out
	}
	for _, t := range tenants {
		if c.allowed(ctx, steward.ActionAuditRead, t) {
			evs, _ := c.cfg.Log.Query(ctx, audit.Filter{Tenant: t, FailuresOnly: true, Limit: 1})
			add(evs)
		}
	}
	return out
}

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
	Day, Week   rate         // backups that succeeded in the last 24 hours and 7 days
}

// rate counts backups that succeeded out of those attempted.
type rate struct{ OK, Total int }

// Percent is the success rate, 0 when nothing was attempted.
func (r rate) Percent() int {
	if r.Total == 0 {
		return 0
	}
	return r.OK * 100 / r.Total
}

// severity orders the rows: failed, then stale, then healthy.
func (h tenantHealth) severity() int {
	switch {
	case h.LastFailure != nil:
		return 2
	case h.Stale:
		return 1
	}
	return 0
}

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

// health builds the Overview's rows: failed tenants first, then stale
// ones, then the rest, each by name.
func (c *console) health(ctx context.Context) ([]tenantHealth, error) {
	tenants, err := c.tenants(ctx, steward.ActionBackupList)
	if err != nil {
		return nil, err
	}
	now := c.cfg.Clock.Now()
	failures := c.auditQuery(ctx, tenants, audit.Filter{FailuresOnly: true})
	attempts := c.auditQuery(ctx, tenants, audit.Filter{From: now.Add(-7 * 24 * time.Hour),
		Types: []audit.EventType{audit.TypeBackupCreated, audit.TypeBackupFailed}})
	rows := make([]tenantHealth, 0, len(tenants))
	for _, t := range tenants {
		h, err := c.tenantHealth(ctx, t, now)
		if err != nil {
			return nil, err
		}
		if evs := failures[t]; len(evs) > 0 {
			if f := evs[len(evs)-1]; h.Last == nil || f.Timestamp.After(h.Last.Timestamp) {
				h.LastFailure = &f
			}
		}
		h.Day, h.Week = successRates(attempts[t], now)
		rows = append(rows, h)
	}
	slices.SortStableFunc(rows, func(a, b tenantHealth) int {
		return cmp.Or(cmp.Compare(b.severity(), a.severity()), cmp.Compare(a.Tenant, b.Tenant))
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

// auditQuery returns, per tenant, the events of the audit log matching f,
// oldest first: none without a log or when the principal may not read it.
// A principal that may not read the whole log gets its tenants' events,
// one query each.
func (c *console) auditQuery(ctx context.Context, tenants []string, f audit.Filter) map[string][]audit.Event {
	out := map[string][]audit.Event{}
	if c.cfg.Log == nil {
		return out
	}
	add := func(evs []audit.Event) {
		for _, e := range evs {
			out[e.Tenant] = append(out[e.Tenant], e)
		}
	}
	if c.allowed(ctx, steward.ActionAuditRead, "") {
		evs, _ := c.cfg.Log.Query(ctx, f)
		add(evs)
		return out
	}
	for _, t := range tenants {
		if c.allowed(ctx, steward.ActionAuditRead, t) {
			f.Tenant = t
			evs, _ := c.cfg.Log.Query(ctx, f)
			add(evs)
		}
	}
	return out
}

// successRates counts the backups of evs that succeeded in the 24 hours
// and the 7 days before now.
func successRates(evs []audit.Event, now time.Time) (day, week rate) {
	for _, e := range evs {
		ok := 0
		if e.Type == audit.TypeBackupCreated && !e.Failed() {
			ok = 1
		}
		week.OK, week.Total = week.OK+ok, week.Total+1
		if now.Sub(e.Timestamp) <= 24*time.Hour {
			day.OK, day.Total = day.OK+ok, day.Total+1
		}
	}
	return day, week
}

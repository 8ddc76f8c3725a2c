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
	TTR         ttr          // times to restore over the last 30 days
	Growth      growth       // the repository's size over the snapshots (drawn for the page's rows)

	snaps []backup.Snapshot // the catalog, read only
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

// overviewData is the Overview's page of rows.
type overviewData struct {
	Rows  []tenantHealth
	Pager pager
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
	lo, hi, pg := paginate(c.cfg.BasePath+"/", r.URL.Query(), len(rows))
	d := overviewData{Rows: rows[lo:hi], Pager: pg}
	for i := range d.Rows {
		d.Rows[i].Growth = newGrowth(d.Rows[i].snaps)
	}
	c.render(w, r, http.StatusOK, "overview", "", page{Title: "Overview", Nav: "overview", Data: d})
}

// health builds the Overview's rows: failed tenants first, then stale
// ones, then the rest, each by name.
func (c *console) health(ctx context.Context) ([]tenantHealth, error) {
	tenants, err := c.tenants(ctx, steward.ActionBackupList)
	if err != nil {
		return nil, err
	}
	now := c.cfg.Clock.Now()
	events := c.backupEvents(ctx, tenants, now)
	rows := make([]tenantHealth, len(tenants))
	err = forEach(ctx, tenants, func(ctx context.Context, i int, t string) (err error) {
		rows[i], err = c.tenantHealth(ctx, t, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := range rows {
		h := &rows[i]
		if ev := events[h.Tenant]; ev != nil {
			if f := ev.lastFailure; f != nil && (h.Last == nil || f.Timestamp.After(h.Last.Timestamp)) {
				h.LastFailure = f
			}
			h.Day, h.Week, h.TTR = ev.day, ev.week, newTTR(ev.ttrMS)
		}
	}
	slices.SortStableFunc(rows, func(a, b tenantHealth) int {
		return cmp.Or(cmp.Compare(b.severity(), a.severity()), cmp.Compare(a.Tenant, b.Tenant))
	})
	return rows, nil
}

// tenantHealth reads one tenant's catalog and RPO.
func (c *console) tenantHealth(ctx context.Context, tenant string, now time.Time) (tenantHealth, error) {
	snaps, err := c.catalogView(ctx, tenant)
	if err != nil {
		return tenantHealth{}, err
	}
	h := tenantHealth{Tenant: tenant, Snapshots: len(snaps), RPO: c.rpo(ctx, tenant), snaps: snaps}
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

// rpo is tenant's RPO from its stored policy, or the default; kept in the
// shared cache when the principal may use it.
func (c *console) rpo(ctx context.Context, tenant string) time.Duration {
	if c.cfg.Policies == nil {
		return defaultRPO
	}
	shared := c.useSharedCatalogs(ctx)
	var gen uint64
	if shared {
		var rpo time.Duration
		if rpo, gen = c.shared.rpo(tenant); rpo > 0 {
			return rpo
		}
	}
	rpo := defaultRPO
	p, err := c.cfg.Policies.Get(ctx, tenant)
	if err == nil && p.RPOIncremental > 0 {
		rpo = time.Duration(p.RPOIncremental)
	}
	if shared && err == nil {
		c.shared.putRPO(tenant, gen, rpo)
	}
	return rpo
}

// tenantEvents is what the audit log says of one tenant's backups.
type tenantEvents struct {
	lastFailure *audit.Event // newest failure of an operation (not an access denial)
	day, week   rate         // backups in the 24 hours and 7 days before now
	ttrMS       []float64    // times to restore of the last 30 days
}

// add counts e, an event of the tenant, in log order.
func (te *tenantEvents) add(e audit.Event, now time.Time) {
	if e.Failed() && e.Type != audit.TypeAccessDenied {
		te.lastFailure = &e
	}
	if v, ok := audit.Number(e.Data[audit.DataTTRMS]); ok && e.Type == audit.TypeRestoreCompleted &&
		!e.Failed() && now.Sub(e.Timestamp) <= 30*24*time.Hour {
		te.ttrMS = append(te.ttrMS, v)
	}
	if e.Type != audit.TypeBackupCreated && e.Type != audit.TypeBackupFailed {
		return
	}
	age := now.Sub(e.Timestamp)
	if age > 7*24*time.Hour {
		return
	}
	ok := 0
	if e.Type == audit.TypeBackupCreated && !e.Failed() {
		ok = 1
	}
	te.week.OK, te.week.Total = te.week.OK+ok, te.week.Total+1
	if age <= 24*time.Hour {
		te.day.OK, te.day.Total = te.day.OK+ok, te.day.Total+1
	}
}

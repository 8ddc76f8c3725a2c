package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"golang.org/x/sync/errgroup"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/retention"
)

// KindRPO is the kind of the leader's periodic RPO check.
const KindRPO = "steward_fleet_rpo"

// RPOArgs is the leader's periodic RPO check: its worker runs
// Member.CheckRPO.
type RPOArgs struct{}

// Kind returns KindRPO.
func (RPOArgs) Kind() string { return KindRPO }

// InsertOpts gives the check one attempt (the next tick is its retry),
// and no second check while one is queued or running.
func (RPOArgs) InsertOpts() river.InsertOpts { return onceAtATime() }

// RPOReport says what one CheckRPO did.
type RPOReport struct {
	// Checked counts the tenants whose RPOs were checked.
	Checked int `json:"checked"`
	// Breached counts the RPO breaches found (alerted now or before).
	Breached int `json:"breached"`
	// Alerts are the breaches this call entered and alerted.
	Alerts []retention.Alert `json:"alerts,omitempty"`
	// Overdue counts the tenants whose DR drills are overdue
	// (retention.DrillOverdue; alerted now or before).
	Overdue int `json:"overdue"`
	// DrillAlerts are the overdue drills this call entered and alerted.
	DrillAlerts []retention.DrillAlert `json:"drill_alerts,omitempty"`
	// Errors holds, per tenant, why it was not checked or its alert not
	// recorded (an unreadable policy or catalog, a failed audit record).
	Errors map[string]error `json:"-"`
}

func (r *RPOReport) fail(t string, err error) {
	if r.Errors == nil {
		r.Errors = map[string]error{}
	}
	r.Errors[t] = err
}

// CheckRPO checks every tenant's RPOs once for the fleet: the newest
// backup and newest full backup in its catalog against its policy
// (retention.RPOBreaches; a tenant never backed up counts from when the
// fleet first checked it). A breach is alerted once, when entered,
// however many members check and however often: it is audited
// (retention.RecordRPOBreach, the event notifiers pass on) and given to
// Config.Alert by the one call that claims it in PostgreSQL. A call that
// died between claiming and recording leaves the claim open; the next
// call looks for the event in Config.AuditLog before recording it, so
// the alert is neither lost nor, with an AuditLog, repeated. Tenants
// whose policy schedules drills are checked for an overdue drill
// (retention.DrillOverdue, counting from when the fleet first checked
// them when none succeeded), alerted once per breach the same way
// (retention.RecordDrillAlert, Config.DrillAlert). The leader
// calls it every Config.RPOInterval; hosts and tests may call it too.
// Tenants are checked Config.Workers at a time. A tenant that cannot be
// checked is in the report's Errors; the error is for a listing or a
// query that failed.
func (m *Member) CheckRPO(ctx context.Context) (*RPOReport, error) {
	ctx = m.jobCtx(ctx)
	now := m.cfg.Clock.Now()
	tenants, err := m.cfg.Tenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("fleet: list tenants: %w", err)
	}
	since, err := m.watchSince(ctx, tenants, now)
	if err != nil {
		return nil, err
	}
	rep := &RPOReport{}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(m.cfg.Workers)
	for _, t := range tenants {
		g.Go(func() error {
			tr, err := m.checkTenant(ctx, t, since[t], now)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.fail(t, err)
			}
			rep.add(tr)
			return nil
		})
	}
	_ = g.Wait()
	return rep, ctx.Err()
}

// tenantCheck is what checkTenant found of one tenant.
type tenantCheck struct {
	checked     bool
	breached    int
	alerts      []retention.Alert
	overdue     bool
	drillAlerts []retention.DrillAlert
}

// add counts tc in r.
func (r *RPOReport) add(tc tenantCheck) {
	if tc.checked {
		r.Checked++
		r.Breached += tc.breached
	}
	if tc.overdue {
		r.Overdue++
	}
	r.Alerts = append(r.Alerts, tc.alerts...)
	r.DrillAlerts = append(r.DrillAlerts, tc.drillAlerts...)
}

// checkTenant checks t's RPOs and whether its drills are overdue, and
// alerts the breaches it entered. It returns what it found and the
// first error.
func (m *Member) checkTenant(ctx context.Context, t string, since, now time.Time) (tenantCheck, error) {
	var tc tenantCheck
	p, err := m.cfg.Policies.Get(ctx, t)
	if err != nil {
		return tc, err
	}
	breaches, err := m.breaches(ctx, t, p, since, now)
	if err != nil {
		return tc, err
	}
	tc.checked, tc.breached = true, len(breaches)
	var first error
	for _, a := range breaches {
		entered, err := m.alertOnce(ctx, m.rpoClaim(a))
		first = cmp.Or(first, err)
		if entered {
			tc.alerts = append(tc.alerts, a)
		}
	}
	a, overdue, err := m.drillOverdue(ctx, t, p, since, now)
	if err != nil {
		return tc, cmp.Or(first, err)
	}
	if tc.overdue = overdue; overdue {
		entered, err := m.alertOnce(ctx, m.drillClaim(a))
		first = cmp.Or(first, err)
		if entered {
			tc.drillAlerts = append(tc.drillAlerts, a)
		}
	}
	return tc, first
}

// breaches returns the RPOs tenant t breaches at now under p.
func (m *Member) breaches(ctx context.Context, t string, p retention.Policy, since, now time.Time) ([]retention.Alert, error) {
	cat, err := m.cfg.Engine.Catalog(ctx, t)
	if err != nil && !errors.Is(err, backup.ErrNotFound) {
		return nil, err
	}
	newest, full := retention.NewestBackups(cat)
	return retention.RPOBreaches(t, p, newest, full, since, now), nil
}

// drillOverdue returns t's overdue alert under p at now and whether t is
// overdue (retention.DrillOverdue, counting from since when no drill of
// t succeeded).
func (m *Member) drillOverdue(ctx context.Context, t string, p retention.Policy, since, now time.Time) (retention.DrillAlert, bool, error) {
	if p.DrillSchedule == "" {
		return retention.DrillAlert{}, false, nil
	}
	d, err := m.cfg.Policies.DrillStatus(ctx, t)
	if errors.Is(err, retention.ErrNoDrill) {
		d, err = nil, nil
	}
	if err != nil {
		return retention.DrillAlert{}, false, err
	}
	a, overdue := retention.DrillOverdue(t, p, d, since, now)
	return a, overdue, nil
}

// watchSince records now as the time the fleet started watching each
// tenant not seen before and returns every tenant's.
func (m *Member) watchSince(ctx context.Context, tenants []string, now time.Time) (map[string]time.Time, error) {
	watch := m.table(tableWatch)
	if _, err := m.pool.Exec(ctx, `INSERT INTO `+watch+` (tenant, since) SELECT unnest($1::text[]), $2
		ON CONFLICT (tenant) DO NOTHING`, tenants, now); err != nil {
		return nil, fmt.Errorf("fleet: record the tenants watched: %w", err)
	}
	rows, _ := m.pool.Query(ctx, `SELECT tenant, since FROM `+watch+` WHERE tenant = ANY($1)`, tenants)
	out := map[string]time.Time{}
	var t string
	var since time.Time
	_, err := pgx.ForEachRow(rows, []any{&t, &since}, func() error { out[t] = since; return nil })
	if err != nil {
		return nil, fmt.Errorf("fleet: read the tenants watched: %w", err)
	}
	return out, nil
}

// claim is one breach to alert once for the fleet: its key in the
// alert table (tenant, kind, newest), how to record it, how to find it
// recorded by a member that died before marking it, and whom to tell.
type claim struct {
	tenant, kind, what string
	newest             time.Time
	record             func(context.Context) error
	recorded           func(context.Context) (bool, error)
	notify             func(context.Context)
}

// kindDrillOverdue is the alert table's kind of an overdue drill, whose
// newest is the tenant's last successful drill (zero: none).
const kindDrillOverdue = "drill-overdue"

// rpoClaim is the claim of RPO breach a.
func (m *Member) rpoClaim(a retention.Alert) claim {
	c := claim{tenant: a.Tenant, kind: a.Kind, what: "RPO alert", newest: a.Newest,
		record: func(ctx context.Context) error { return retention.RecordRPOBreach(ctx, m.cfg.Auditor, a) },
		recorded: func(ctx context.Context) (bool, error) {
			return m.inLog(ctx, audit.TypeRPOBreach, a.Tenant, func(e audit.Event) bool {
				return e.Data["kind"] == a.Kind && sameTime(e.Data[retention.DataNewest], a.Newest)
			})
		}}
	if m.cfg.Alert != nil {
		c.notify = func(ctx context.Context) { m.cfg.Alert(ctx, a) }
	}
	return c
}

// drillClaim is the claim of overdue drill alert a.
func (m *Member) drillClaim(a retention.DrillAlert) claim {
	c := claim{tenant: a.Tenant, kind: kindDrillOverdue, what: "drill alert", newest: a.LastSuccess,
		record: func(ctx context.Context) error { return retention.RecordDrillAlert(ctx, m.cfg.Auditor, a) },
		recorded: func(ctx context.Context) (bool, error) {
			return m.inLog(ctx, audit.TypeDrillAlert, a.Tenant, func(e audit.Event) bool {
				return e.Data[audit.DataCondition] == audit.DrillConditionOverdue && sameTime(e.Data[retention.DataLastSuccess], a.LastSuccess)
			})
		}}
	if m.cfg.DrillAlert != nil {
		c.notify = func(ctx context.Context) { m.cfg.DrillAlert(ctx, a) }
	}
	return c
}

// sameTime tells whether v, an event's RFC 3339 time ("" for the zero
// time), is t.
func sameTime(v any, t time.Time) bool {
	s, _ := v.(string)
	if s == "" {
		return t.IsZero()
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && at.Equal(t)
}

// alertOnce alerts c unless the fleet already did, and reports whether
// this call did. The claim (tenant, kind, newest) is committed first; the
// alert is recorded under its row lock, then marked done.
func (m *Member) alertOnce(ctx context.Context, c claim) (bool, error) {
	tbl := m.table(tableAlert)
	key := []any{c.tenant, c.kind, c.newest}
	fail := func(err error) (bool, error) { return false, fmt.Errorf("fleet: %s of %q: %w", c.what, c.tenant, err) }
	tag, err := m.pool.Exec(ctx, `INSERT INTO `+tbl+` (tenant, kind, newest) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, key...)
	if err != nil {
		return fail(fmt.Errorf("claim: %w", err))
	}
	fresh := tag.RowsAffected() == 1
	tx, err := m.pool.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var alerted bool
	if err := tx.QueryRow(ctx, `SELECT alerted FROM `+tbl+` WHERE tenant = $1 AND kind = $2 AND newest = $3 FOR UPDATE`, key...).Scan(&alerted); err != nil {
		return fail(err)
	}
	if alerted {
		return false, nil
	}
	recorded := false
	if !fresh { // an earlier claim that may have recorded the event before it died
		if recorded, err = c.recorded(ctx); err != nil {
			return fail(err)
		}
	}
	if !recorded {
		if err := c.record(ctx); err != nil {
			return fail(fmt.Errorf("record: %w", err))
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE `+tbl+` SET alerted = true WHERE tenant = $1 AND kind = $2 AND newest = $3`, key...); err != nil {
		return fail(err)
	}
	// Older claims of the kind were breaches the tenant has left.
	if _, err := tx.Exec(ctx, `DELETE FROM `+tbl+` WHERE tenant = $1 AND kind = $2 AND newest < $3`, key...); err != nil {
		return fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	if !recorded && c.notify != nil {
		c.notify(ctx)
	}
	return !recorded, nil
}

// inLog reports whether Config.AuditLog holds an event of typ for tenant
// that match accepts; false without an AuditLog.
func (m *Member) inLog(ctx context.Context, typ audit.EventType, tenant string, match func(audit.Event) bool) (bool, error) {
	if m.cfg.AuditLog == nil {
		return false, nil
	}
	evs, _, err := m.cfg.AuditLog.Recent(ctx, audit.Filter{Types: []audit.EventType{typ}, Tenant: tenant})
	if err != nil {
		return false, fmt.Errorf("look for the alert in the audit log: %w", err)
	}
	return slices.ContainsFunc(evs, match), nil
}

// rpoWorker runs CheckRPO for the leader's periodic job.
type rpoWorker struct {
	river.WorkerDefaults[RPOArgs]
	m *Member
}

func (w *rpoWorker) Work(ctx context.Context, _ *river.Job[RPOArgs]) error {
	rep, err := w.m.CheckRPO(ctx)
	if err != nil {
		return err
	}
	return river.RecordOutput(ctx, map[string]any{"checked": rep.Checked, "breached": rep.Breached, "alerts": rep.Alerts,
		"overdue": rep.Overdue, "drill_alerts": rep.DrillAlerts, "errors": errorStrings(rep.Errors)})
}

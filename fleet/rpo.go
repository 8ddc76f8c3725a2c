package fleet

import (
	"context"
	"errors"
	"fmt"
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
// the alert is neither lost nor, with an AuditLog, repeated. The leader
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
			alerts, breached, err := m.checkTenantRPO(ctx, t, since[t], now)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.fail(t, err)
			}
			if breached >= 0 {
				rep.Checked++
				rep.Breached += breached
			}
			rep.Alerts = append(rep.Alerts, alerts...)
			return nil
		})
	}
	_ = g.Wait()
	return rep, ctx.Err()
}

// checkTenantRPO checks t's RPOs and alerts the breaches it entered. It
// returns them, how many breaches t is in (-1 when it could not be
// checked), and the first error.
func (m *Member) checkTenantRPO(ctx context.Context, t string, since, now time.Time) ([]retention.Alert, int, error) {
	breaches, err := m.breaches(ctx, t, since, now)
	if err != nil {
		return nil, -1, err
	}
	var alerts []retention.Alert
	var first error
	for _, a := range breaches {
		entered, err := m.alertOnce(ctx, a)
		if err != nil && first == nil {
			first = err
		}
		if entered {
			alerts = append(alerts, a)
		}
	}
	return alerts, len(breaches), first
}

// breaches returns the RPOs tenant t breaches at now.
func (m *Member) breaches(ctx context.Context, t string, since, now time.Time) ([]retention.Alert, error) {
	p, err := m.cfg.Policies.Get(ctx, t)
	if err != nil {
		return nil, err
	}
	cat, err := m.cfg.Engine.Catalog(ctx, t)
	if err != nil && !errors.Is(err, backup.ErrNotFound) {
		return nil, err
	}
	newest, full := retention.NewestBackups(cat)
	return retention.RPOBreaches(t, p, newest, full, since, now), nil
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

// alertOnce alerts a unless the fleet already did, and reports whether
// this call did. The claim (tenant, kind, newest backup) is committed
// first; the alert is recorded under its row lock, then marked done.
func (m *Member) alertOnce(ctx context.Context, a retention.Alert) (bool, error) {
	tbl := m.table(tableAlert)
	key := []any{a.Tenant, a.Kind, a.Newest}
	tag, err := m.pool.Exec(ctx, `INSERT INTO `+tbl+` (tenant, kind, newest) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, key...)
	if err != nil {
		return false, fmt.Errorf("fleet: claim the RPO alert of %q: %w", a.Tenant, err)
	}
	fresh := tag.RowsAffected() == 1
	tx, err := m.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("fleet: RPO alert of %q: %w", a.Tenant, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var alerted bool
	if err := tx.QueryRow(ctx, `SELECT alerted FROM `+tbl+` WHERE tenant = $1 AND kind = $2 AND newest = $3 FOR UPDATE`, key...).Scan(&alerted); err != nil {
		return false, fmt.Errorf("fleet: RPO alert of %q: %w", a.Tenant, err)
	}
	if alerted {
		return false, nil
	}
	recorded := false
	if !fresh { // an earlier claim that may have recorded the event before it died
		if recorded, err = m.recorded(ctx, a); err != nil {
			return false, err
		}
	}
	if !recorded {
		if err := retention.RecordRPOBreach(ctx, m.cfg.Auditor, a); err != nil {
			return false, fmt.Errorf("fleet: record the RPO breach of %q: %w", a.Tenant, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE `+tbl+` SET alerted = true WHERE tenant = $1 AND kind = $2 AND newest = $3`, key...); err != nil {
		return false, fmt.Errorf("fleet: RPO alert of %q: %w", a.Tenant, err)
	}
	// Older claims of the kind were breaches the tenant has left.
	if _, err := tx.Exec(ctx, `DELETE FROM `+tbl+` WHERE tenant = $1 AND kind = $2 AND newest < $3`, key...); err != nil {
		return false, fmt.Errorf("fleet: RPO alert of %q: %w", a.Tenant, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("fleet: RPO alert of %q: %w", a.Tenant, err)
	}
	if !recorded && m.cfg.Alert != nil {
		m.cfg.Alert(ctx, a)
	}
	return !recorded, nil
}

// recorded reports whether Config.AuditLog holds a's rpo.breach event
// (same tenant, kind and newest backup); false without an AuditLog.
func (m *Member) recorded(ctx context.Context, a retention.Alert) (bool, error) {
	if m.cfg.AuditLog == nil {
		return false, nil
	}
	evs, _, err := m.cfg.AuditLog.Recent(ctx, audit.Filter{Types: []audit.EventType{audit.TypeRPOBreach}, Tenant: a.Tenant})
	if err != nil {
		return false, fmt.Errorf("fleet: look for the RPO alert of %q in the audit log: %w", a.Tenant, err)
	}
	for _, e := range evs {
		s, _ := e.Data[retention.DataNewest].(string)
		newest, err := time.Parse(time.RFC3339Nano, s)
		if s == "" {
			newest, err = time.Time{}, nil
		}
		if e.Data["kind"] == a.Kind && err == nil && newest.Equal(a.Newest) {
			return true, nil
		}
	}
	return false, nil
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
	return river.RecordOutput(ctx, map[string]any{"checked": rep.Checked, "breached": rep.Breached, "alerts": rep.Alerts, "errors": errorStrings(rep.Errors)})
}

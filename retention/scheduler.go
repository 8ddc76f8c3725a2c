package retention

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/restore"
)

// Alert reports an RPO breach: a tenant's newest backup (or newest full
// backup) is older than its policy allows.
type Alert struct {
	Tenant string        `json:"tenant"`
	Kind   string        `json:"kind"` // "incremental" or "full"
	Newest time.Time     `json:"newest"`
	Age    time.Duration `json:"age_ns"`
	RPO    time.Duration `json:"rpo_ns"`
}

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	// Engine takes the backups (required).
	Engine *backup.Engine
	// Policies give each tenant's schedule and retention (required).
	Policies *Policies
	// Source returns the data to back up for a tenant (required).
	Source func(ctx context.Context, tenant string) (backup.Source, error)
	// Tenants lists the tenants to schedule (default: Engine.Tenants).
	Tenants func(ctx context.Context) ([]string, error)
	// Options adjusts each backup (encryption, tags); Type is chosen by the
	// scheduler.
	Options backup.Options
	// Parallelism bounds the tenants backed up at once (default 4).
	Parallelism int
	// Alert is called once when a tenant enters an RPO breach (and again
	// only after it recovered and breached anew). An audit event of type
	// rpo.breach is recorded either way.
	Alert func(ctx context.Context, a Alert)
	// Clock drives the schedule and is retention's "now" (default: the
	// Policies' Clock).
	Clock steward.Clock
	// Auditor receives rpo.breach events, scheduled runs that failed and
	// retention runs (default: the Policies' Auditor). Retention runs are
	// authorized by the Policies' Authorizer.
	Auditor audit.Auditor
	// Restorer runs the DR drills of policies with a DrillSchedule
	// (Restorer.Drill: the tenant's newest snapshot restored into a
	// discarding target, streaming). Nil: no drill is run, and RunReport
	// lists the tenants whose drill was due in DrillsNotRun (their drills
	// then become overdue and alert as such).
	Restorer *restore.Restorer
	// DrillAlert is called once when a tenant enters a drill breach (a
	// failed drill, a TTR over the SLO, an overdue drill), and again only
	// after it recovered and breached anew. An audit event of type
	// audit.TypeDrillAlert is recorded either way.
	DrillAlert func(ctx context.Context, a DrillAlert)
}

// Scheduler runs scheduled backups and retention for many tenants. Drive
// it with Run (a ticker) or call RunDue yourself — tests do, on a fake
// clock. Safe for concurrent use; RunDue calls are serialised.
type Scheduler struct {
	cfg SchedulerConfig

	run      sync.Mutex
	mu       sync.Mutex
	lastRun  map[string]time.Time // last scheduled slot handled
	newest   map[string]time.Time // newest snapshot
	newestF  map[string]time.Time // newest full snapshot
	breached map[string]bool      // "tenant/kind" in breach
	started  time.Time

	drillSlot map[string]time.Time   // last drill slot handled
	drills    map[string]*drillState // drill status and breaches alerted
}

// NewScheduler checks cfg and returns a Scheduler whose schedules start
// now. The Scheduler keeps a copy of *cfg.
func NewScheduler(c *SchedulerConfig) (*Scheduler, error) {
	if c == nil {
		return nil, errors.New("retention: scheduler needs a config with Engine, Policies and Source")
	}
	cfg := *c
	if cfg.Engine == nil || cfg.Policies == nil || cfg.Source == nil {
		return nil, errors.New("retention: scheduler needs Engine, Policies and Source")
	}
	if cfg.Clock == nil {
		cfg.Clock = cfg.Policies.cfg.Clock
	}
	if cfg.Auditor == nil {
		cfg.Auditor = cfg.Policies.cfg.Auditor
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 4
	}
	if cfg.Tenants == nil {
		cfg.Tenants = cfg.Engine.Tenants
	}
	return &Scheduler{cfg: cfg, lastRun: map[string]time.Time{}, newest: map[string]time.Time{}, newestF: map[string]time.Time{},
		breached: map[string]bool{}, started: cfg.Clock.Now(), drillSlot: map[string]time.Time{}, drills: map[string]*drillState{}}, nil
}

// RunReport says what one RunDue did.
type RunReport struct {
	Full, Incremental, Failed int
	Alerts                    []Alert
	// Errors holds, per tenant, why its run failed or was not started
	// (source, backup, retention, an unreadable policy).
	Errors map[string]error

	// Drills counts the DR drills run, DrillsFailed those that failed.
	Drills, DrillsFailed int
	// DrillsNotRun lists the tenants whose drill was due but not run
	// because the Scheduler has no Restorer.
	DrillsNotRun []string
	// DrillAlerts are the drill breaches entered in this run.
	DrillAlerts []DrillAlert
	// DrillErrors holds, per tenant, why its drill could not run or its
	// status could not be read or stored (not a drill that failed: that
	// is a Validation, counted in DrillsFailed).
	DrillErrors map[string]error
}

func (r *RunReport) drillFail(tenant string, err error) {
	if r.DrillErrors == nil {
		r.DrillErrors = map[string]error{}
	}
	r.DrillErrors[tenant] = err
}

func (r *RunReport) fail(tenant string, err error) {
	r.Failed++
	if r.Errors == nil {
		r.Errors = map[string]error{}
	}
	r.Errors[tenant] = err
}

// RunDue runs every tenant whose schedule had a slot since its last run,
// then the DR drills whose drill schedule had a slot (see
// SchedulerConfig.Restorer), then checks every tenant's RPO and drill
// deadline (DrillDeadline). A tenant's failure (its source, backup,
// retention, or an unreadable stored policy) is counted, audited and kept
// in the report's Errors, and the other tenants still run; the error is
// for a run that could not start (listing tenants) or a cancelled ctx.
func (s *Scheduler) RunDue(ctx context.Context) (*RunReport, error) {
	s.run.Lock()
	defer s.run.Unlock()
	now := s.cfg.Clock.Now()
	tenants, err := s.cfg.Tenants(ctx)
	if err != nil {
		return nil, errs.Errorf("retention", "list tenants: %w", err)
	}
	rep := &RunReport{}
	policies := map[string]Policy{}
	var due []string
	var ok []string
	for _, t := range tenants {
		// One tenant's unreadable policy or catalog is that tenant's
		// failure, audited; the others still run.
		p, err := s.cfg.Policies.get(ctx, t)
		if err == nil {
			err = s.learn(ctx, t)
		}
		var sched Schedule
		if err == nil && p.Schedule != "" {
			sched, err = ParseSchedule(p.Schedule)
		}
		if err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			rep.fail(t, err)
			_ = s.cfg.Auditor.Record(context.WithoutCancel(ctx), audit.Event{Type: audit.TypeBackupFailed, Level: audit.LevelError, Tenant: t,
				UserID: steward.PrincipalID(ctx), Message: fmt.Sprintf("scheduled backup of %q not run: %v", t, err), Data: map[string]any{audit.DataError: err.Error()}})
			continue
		}
		policies[t] = p
		ok = append(ok, t)
		if sched.s == nil {
			continue
		}
		last, ok := s.lastRun[t]
		if !ok {
			last = s.started
		}
		if next := sched.Next(last); !next.After(now) {
			due = append(due, t)
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Parallelism)
	for _, t := range due {
		g.Go(func() error {
			typ, err := s.runTenant(gctx, t, policies[t], now)
			mu.Lock()
			defer mu.Unlock()
			s.lastRun[t] = now
			switch {
			case err != nil:
				rep.fail(t, err)
			case typ == backup.Full:
				rep.Full++
			default:
				rep.Incremental++
			}
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if err := s.runDrills(ctx, ok, policies, now, rep); err != nil {
		return rep, err
	}
	for _, t := range ok {
		rep.Alerts = append(rep.Alerts, s.checkRPO(ctx, t, policies[t], now)...)
	}
	return rep, nil
}

// learn reads a tenant's newest snapshot times on first sight.
func (s *Scheduler) learn(ctx context.Context, t string) error {
	s.mu.Lock()
	_, known := s.newest[t]
	s.mu.Unlock()
	if known {
		return nil
	}
	cat, err := s.cfg.Engine.Catalog(ctx, t)
	if err != nil && !errors.Is(err, backup.ErrNotFound) {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.newest[t], s.newestF[t] = NewestBackups(cat)
	return nil
}

func (s *Scheduler) runTenant(ctx context.Context, t string, p Policy, now time.Time) (backup.Type, error) {
	s.mu.Lock()
	lastFull := s.newestF[t]
	s.mu.Unlock()
	every := time.Duration(p.FullEvery)
	if every == 0 {
		every = 7 * 24 * time.Hour
	}
	typ := backup.Incremental
	if lastFull.IsZero() || now.Sub(lastFull) >= every {
		typ = backup.Full
	}
	src, err := s.cfg.Source(ctx, t)
	if err != nil {
		_ = s.cfg.Auditor.Record(context.WithoutCancel(ctx), audit.Event{Type: audit.TypeBackupFailed, Level: audit.LevelError, Tenant: t,
			UserID: steward.PrincipalID(ctx), Message: fmt.Sprintf("scheduled backup of %q: source: %v", t, err), Data: map[string]any{audit.DataError: err.Error()}})
		return typ, err
	}
	o := s.cfg.Options
	o.Type = typ
	o.Tags = append(slices.Clone(o.Tags), "scheduled")
	snap, err := s.cfg.Engine.Backup(ctx, t, src, &o)
	if err != nil {
		return typ, err
	}
	s.mu.Lock()
	s.newest[t] = snap.Timestamp
	if snap.Type == backup.Full {
		s.newestF[t] = snap.Timestamp
	}
	s.mu.Unlock()
	if err := p.Validate(); err == nil {
		if _, err := Apply(ctx, s.cfg.Engine, t, p, false, &Config{Clock: s.cfg.Clock, Auditor: s.cfg.Auditor, Authorizer: s.cfg.Policies.cfg.Authorizer}); err != nil {
			return snap.Type, fmt.Errorf("retention after backup: %w", err)
		}
	}
	return snap.Type, nil
}

// checkRPO returns the RPO breaches t entered at now (RPOBreaches, a
// tenant never backed up counted from the Scheduler's start), each
// audited (RecordRPOBreach) and passed to the Alert hook once.
func (s *Scheduler) checkRPO(ctx context.Context, t string, p Policy, now time.Time) []Alert {
	s.mu.Lock()
	newest, newestF := s.newest[t], s.newestF[t]
	s.mu.Unlock()
	in := map[string]Alert{}
	for _, a := range RPOBreaches(t, p, newest, newestF, s.started, now) {
		in[a.Kind] = a
	}
	var out []Alert
	for _, kind := range []string{RPOKindIncremental, RPOKindFull} {
		a, breached := in[kind]
		s.mu.Lock()
		was := s.breached[t+"/"+kind]
		s.breached[t+"/"+kind] = breached
		s.mu.Unlock()
		if !breached || was {
			continue
		}
		out = append(out, a)
		_ = RecordRPOBreach(ctx, s.cfg.Auditor, a)
		if s.cfg.Alert != nil {
			s.cfg.Alert(ctx, a)
		}
	}
	return out
}

// Run calls RunDue every interval (a minute when zero) until ctx ends;
// run errors go to onError when set.
func (s *Scheduler) Run(ctx context.Context, interval time.Duration, onError func(error)) {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.RunDue(ctx); err != nil && onError != nil && ctx.Err() == nil {
				onError(err)
			}
		}
	}
}

package retention_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

func master() context.Context {
	return steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
}

// TestSchedulerSixtyDays runs 20 tenants for 60 simulated days on a fake
// clock with the seed's default policy (nightly at 02:00, a full every 7
// days, retention after each run). One tenant's source fails from day 30.
func TestSchedulerSixtyDays(t *testing.T) {
	if testing.Short() {
		t.Skip("long simulation")
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := fakeclock.New(start)
	var mu sync.Mutex
	var rpoEvents []audit.Event
	aud := audit.AuditorFunc(func(_ context.Context, e audit.Event) error {
		if e.Type == audit.TypeRPOBreach {
			mu.Lock()
			rpoEvents = append(rpoEvents, e)
			mu.Unlock()
		}
		return nil
	})
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Clock: clock, Auditor: aud})
	require.NoError(t, err)
	policies := retention.NewPolicies(store, nil)
	var tenants []string
	for i := range 20 {
		tenants = append(tenants, fmt.Sprintf("t%02d", i))
	}
	failFrom := start.AddDate(0, 0, 30)
	var alerts []retention.Alert
	var alertTimes []time.Time
	s, err := retention.NewScheduler(&retention.SchedulerConfig{
		Engine: e, Policies: policies, Clock: clock, Auditor: aud, Parallelism: 4,
		Tenants: func(context.Context) ([]string, error) { return tenants, nil },
		Source: func(_ context.Context, tenant string) (backup.Source, error) {
			now := clock.Now()
			if tenant == "t07" && !now.Before(failFrom) {
				return nil, errors.New("database unreachable")
			}
			day := int(now.Sub(start).Hours() / 24)
			return backup.FSSource(fstest.MapFS{
				"users/list.json":   {Data: []byte(fmt.Sprintf(`{"tenant":%q,"day":%d}`, tenant, day)), Mode: 0o644, ModTime: now},
				"config/app.yaml":   {Data: []byte("locale: en\n"), Mode: 0o644, ModTime: start},
				"assets/static.css": {Data: []byte("body{margin:0}"), Mode: 0o644, ModTime: start},
			}), nil
		},
		Alert: func(_ context.Context, a retention.Alert) {
			alerts = append(alerts, a)
			alertTimes = append(alertTimes, clock.Now())
		},
	})
	require.NoError(t, err)

	full, incr, failed := 0, 0, 0
	ctx := master()
	for h := 1; h <= 60*24; h++ {
		clock.Set(start.Add(time.Duration(h) * time.Hour))
		rep, err := s.RunDue(ctx)
		require.NoError(t, err)
		full += rep.Full
		incr += rep.Incremental
		failed += rep.Failed
	}
	// Healthy tenants: 60 nightly runs, fulls on days 0, 7, ..., 56.
	// t07: the same until day 29 (5 fulls: 0..28, 25 incrementals), then 30 failures.
	require.Equal(t, 19*9+5, full)
	require.Equal(t, 19*51+25, incr)
	require.Equal(t, 30, failed)

	// RPO: exactly two alerts, both for t07: the incremental RPO (24 h after
	// its last good backup on day 29 at 02:00, seen at the 03:00 check of
	// day 30) and the full RPO (7 days after its last full on day 28).
	require.Len(t, alerts, 2, "%+v", alerts)
	require.Equal(t, "t07", alerts[0].Tenant)
	require.Equal(t, "incremental", alerts[0].Kind)
	require.Equal(t, start.AddDate(0, 0, 30).Add(3*time.Hour), alertTimes[0])
	require.Equal(t, "full", alerts[1].Kind)
	require.Equal(t, start.AddDate(0, 0, 35).Add(3*time.Hour), alertTimes[1])
	require.Len(t, rpoEvents, 2)

	// Retention ran after every backup: a healthy tenant keeps the last 7
	// days (53..59), the weekly fulls of days 35, 42, 49 (56 is within the
	// 7 days) and January's last full (day 28).
	for _, tn := range []string{"t00", "t19"} {
		cat, err := e.Catalog(ctx, tn)
		require.NoError(t, err)
		var days []int
		for _, snap := range cat {
			days = append(days, int(snap.Timestamp.Sub(start).Hours()/24))
		}
		require.ElementsMatch(t, []int{59, 58, 57, 56, 55, 54, 53, 49, 42, 35, 28}, days, tn)
	}
	// Every kept snapshot still restores.
	cat, _ := e.Catalog(ctx, "t07")
	require.NotEmpty(t, cat)
	chk, err := e.Check(ctx, "t00", &backup.CheckOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, chk.OK(), "%v", chk.Problems)
}

func TestApplyDryRunAndReal(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	store := storage.NewMemory()
	e, _ := backup.New(store, &backup.Config{Clock: clock})
	ctx := master()
	for d := range 10 {
		clock.Set(time.Date(2026, 3, 1+d, 2, 0, 0, 0, time.UTC))
		_, err := e.Backup(ctx, "acme", backup.FSSource(fstest.MapFS{"m/f": {Data: []byte(fmt.Sprint(d)), Mode: 0o644}}), &backup.Options{Type: backup.Full})
		require.NoError(t, err)
	}
	p := retention.Policy{KeepLast: 3}
	rc := &retention.Config{Clock: clock}
	rep, err := retention.Apply(ctx, e, "acme", p, true, rc)
	require.NoError(t, err)
	require.Len(t, rep.Forgotten, 7)
	cat, _ := e.Catalog(ctx, "acme")
	require.Len(t, cat, 10, "a dry run forgets nothing")
	rep, err = retention.Apply(ctx, e, "acme", p, false, rc)
	require.NoError(t, err)
	require.NotNil(t, rep.Prune)
	cat, _ = e.Catalog(ctx, "acme")
	require.Len(t, cat, 3)
	_, err = retention.Apply(ctx, e, "acme", retention.Policy{}, false, rc)
	require.ErrorIs(t, err, retention.ErrEmptyPolicy)

	viewer := steward.WithPrincipal(context.Background(), steward.Principal{ID: "v"})
	_, err = retention.Apply(viewer, e, "acme", p, false, rc)
	require.ErrorIs(t, err, steward.ErrForbidden)
}

func TestPoliciesStore(t *testing.T) {
	store := storage.NewMemory()
	ps := retention.NewPolicies(store, nil)
	ctx := master()
	p, err := ps.Get(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, retention.DefaultTenantPolicy(), p)
	g, err := ps.Get(ctx, backup.General)
	require.NoError(t, err)
	require.Equal(t, 12, g.MonthlyCount)
	custom := retention.Policy{KeepDaily: 14, Schedule: "0 */6 * * *"}
	require.NoError(t, ps.Set(ctx, "acme", custom))
	p, err = ps.Get(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, custom, p)
	require.ErrorIs(t, ps.Set(ctx, "acme", retention.Policy{}), retention.ErrEmptyPolicy)
	require.ErrorIs(t, ps.Set(ctx, "../x", custom), steward.ErrInvalidTenant)
	p, _ = ps.Get(ctx, "acme")
	require.Equal(t, custom, p, "refused changes write nothing")
}

// TestSchedulerIsolatesTenantFailures: one tenant's corrupt stored policy
// and another's failing source are their own failures (counted, reported
// per tenant, audited); the healthy tenant is still backed up.
func TestSchedulerIsolatesTenantFailures(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := fakeclock.New(start)
	store := storage.NewMemory()
	failures := &eventLog{typ: audit.TypeBackupFailed}
	e, err := backup.New(store, &backup.Config{Clock: clock, Auditor: failures})
	require.NoError(t, err)
	policies := retention.NewPolicies(store, nil)
	require.NoError(t, storage.PutBytes(context.Background(), store, "policies/bad.json", []byte(`{"keep_last":1,"schedule":"TZ=0"}`), nil))
	s, err := retention.NewScheduler(&retention.SchedulerConfig{
		Engine: e, Policies: policies, Clock: clock, Auditor: failures,
		Tenants: func(context.Context) ([]string, error) { return []string{"bad", "broken", "good"}, nil },
		Source: func(_ context.Context, tenant string) (backup.Source, error) {
			if tenant == "broken" {
				return nil, errors.New("database unreachable")
			}
			return backup.FSSource(fstest.MapFS{"users/a": {Data: []byte(tenant), Mode: 0o644}}), nil
		},
	})
	require.NoError(t, err)
	clock.Set(start.Add(3 * time.Hour)) // past the 02:00 slot
	rep, err := s.RunDue(master())
	require.NoError(t, err)
	require.Equal(t, 1, rep.Full)
	require.Equal(t, 2, rep.Failed)
	require.ErrorIs(t, rep.Errors["bad"], retention.ErrInvalidPolicy)
	require.ErrorContains(t, rep.Errors["broken"], "database unreachable")
	require.NotContains(t, rep.Errors, "good")
	cat, err := e.Catalog(master(), "good")
	require.NoError(t, err)
	require.Len(t, cat, 1)
	tenantsFailed := map[string]bool{}
	for _, ev := range failures.all() {
		tenantsFailed[ev.Tenant] = true
	}
	require.Equal(t, map[string]bool{"bad": true, "broken": true}, tenantsFailed)
}

// TestSchedulerRun: Run calls RunDue on every tick until ctx ends. A
// tenant is backed up once per slot of its schedule (ticks between slots
// do nothing), a run that cannot start goes to onError, and Run returns
// when ctx is cancelled.
func TestSchedulerRun(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := fakeclock.New(start)
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Clock: clock})
	require.NoError(t, err)
	errList := errors.New("tenant directory unreachable")
	var failList atomic.Bool
	s, err := retention.NewScheduler(&retention.SchedulerConfig{
		Engine: e, Policies: retention.NewPolicies(store, nil), Clock: clock,
		Tenants: func(context.Context) ([]string, error) {
			if failList.Load() {
				return nil, errList
			}
			return []string{"acme"}, nil
		},
		Source: func(_ context.Context, tenant string) (backup.Source, error) {
			return backup.FSSource(fstest.MapFS{"users/a": {Data: []byte(clock.Now().String()), Mode: 0o644}}), nil
		},
	})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(master())
	defer cancel()
	errs := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, time.Millisecond, func(err error) {
			select {
			case errs <- err:
			default:
			}
		})
	}()
	// snapshots lists acme's snapshot types, newest first (t.Error, not
	// require: Eventually calls it from another goroutine).
	snapshots := func() []backup.Type {
		cat, err := e.Catalog(master(), "acme")
		if err != nil {
			t.Error(err)
			return nil
		}
		var types []backup.Type
		for _, snap := range cat {
			types = append(types, snap.Type)
		}
		return types
	}

	// The default policy backs up nightly at 02:00, a full first.
	clock.Set(start.Add(3 * time.Hour))
	require.Eventually(t, func() bool { return len(snapshots()) == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond) // about twenty more ticks, no new slot
	require.Equal(t, []backup.Type{backup.Full}, snapshots(), "ticks between slots back up nothing")

	clock.Set(start.Add(27 * time.Hour)) // past the next night's slot
	require.Eventually(t, func() bool { return len(snapshots()) == 2 }, 5*time.Second, time.Millisecond)
	require.Equal(t, []backup.Type{backup.Incremental, backup.Full}, snapshots(), "newest first")

	failList.Store(true)
	select {
	case err := <-errs:
		require.ErrorIs(t, err, errList)
	case <-time.After(5 * time.Second):
		t.Fatal("a run that could not list tenants never reached onError")
	}

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	require.Len(t, snapshots(), 2)
}

package retention_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
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
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// stampedLog keeps every event with the fake clock's time when recorded.
type stampedLog struct {
	clock *fakeclock.Clock
	mu    sync.Mutex
	evs   []audit.Event
}

func (l *stampedLog) Record(_ context.Context, e audit.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Timestamp = l.clock.Now()
	l.evs = append(l.evs, e)
	return nil
}

func (l *stampedLog) of(types ...audit.EventType) []audit.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []audit.Event
	for _, e := range l.evs {
		for _, t := range types {
			if e.Type == t {
				out = append(out, e)
			}
		}
	}
	return out
}

// ttrClock is the restorer's clock: the scheduler's fake time plus the
// time the slow store has spent, so a drill's TTR grows without moving
// the scheduler's clock.
type ttrClock struct {
	base  *fakeclock.Clock
	extra atomic.Int64
}

func (c *ttrClock) Now() time.Time { return c.base.Now().Add(time.Duration(c.extra.Load())) }

// slowStore charges delay to clock for every ranged read of a pack under
// prefix while slow is set.
type slowStore struct {
	storage.Store
	clock  *ttrClock
	prefix string
	delay  time.Duration
	slow   atomic.Bool
}

func (s *slowStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if s.slow.Load() && strings.HasPrefix(key, s.prefix) {
		s.clock.extra.Add(int64(s.delay))
	}
	return s.Store.GetRange(ctx, key, off, n)
}

func (s *slowStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if s.slow.Load() && strings.HasPrefix(key, s.prefix) {
		s.clock.extra.Add(int64(s.delay))
	}
	return s.Store.Get(ctx, key)
}

func (s *slowStore) Unwrap() storage.Store { return s.Store }

// drillPolicy: daily backups, quarterly drills with a 30-minute TTR SLO.
func drillPolicy() retention.Policy {
	return retention.Policy{KeepLast: 3, Schedule: "0 2 * * *", FullEvery: retention.Duration(7 * 24 * time.Hour),
		RPOIncremental: retention.Duration(48 * time.Hour), RPOFull: retention.Duration(8 * 24 * time.Hour),
		DrillSchedule: retention.DefaultDrillSchedule, DrillTTRSLO: retention.Duration(30 * time.Minute)}
}

// tenantSource is a tenant's data on a day: a file that changes daily and
// an asset that never does (the largest object of the first pack).
func tenantSource(tenant string, day int, start time.Time) backup.Source {
	var seed [32]byte
	copy(seed[:], tenant)
	asset := make([]byte, 1<<20) // incompressible: the largest object, in chunks of 256 KiB or more
	_, _ = rand.NewChaCha8(seed).Read(asset)
	return backup.FSSource(fstest.MapFS{
		"users/list.json": {Data: []byte(fmt.Sprintf(`{"tenant":%q,"day":%d}`, tenant, day)), Mode: 0o644, ModTime: start.AddDate(0, 0, day)},
		"assets/app.css":  {Data: asset, Mode: 0o644, ModTime: start},
	})
}

// corrupt flips a byte every 64 KiB of b, so that every chunk of a pack
// is damaged, among them chunks too large for the repository's pack
// windows (recently read ranges of small chunks, kept in memory a few
// seconds of wall time since packs are never rewritten in place): the
// next read of the pack reads the damaged bytes from the store.
func corrupt(b []byte) []byte {
	bad := bytes.Clone(b)
	for i := 0; i < len(bad); i += 64 << 10 {
		bad[i] ^= 0xff
	}
	return bad
}

// largestPack returns the key and content of the largest pack of tenant.
func largestPack(t *testing.T, store storage.Store, tenant string) (string, []byte) {
	var key string
	var size int64
	for oi, err := range store.List(context.Background(), "tenants/"+tenant+"/packs/") {
		require.NoError(t, err)
		if oi.Size > size {
			key, size = oi.Key, oi.Size
		}
	}
	require.NotEmpty(t, key, "tenant %q has no pack", tenant)
	b, err := storage.ReadAll(context.Background(), store, key)
	require.NoError(t, err)
	return key, b
}

// TestSchedulerDrillsOneYear runs two tenants for a simulated year, hour
// by hour on a fake clock, with daily backups and the seed's quarterly
// drill. alpha's largest pack is corrupted from April 1 to April 15;
// bravo's store is slow during the July drill (40 simulated minutes per
// pack read, against a 30-minute SLO). Every tenant is drilled four
// times, at 03:00 on January 1, April 1, July 1 and October 1; alpha's
// April drill fails and alerts once; bravo's July drill passes over its
// SLO and alerts once; nothing else alerts (no RPO breach, no overdue
// drill), and the notifiers deliver exactly those two alerts.
func TestSchedulerDrillsOneYear(t *testing.T) {
	if testing.Short() {
		t.Skip("long simulation")
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := fakeclock.New(start)
	rclock := &ttrClock{base: clock}
	mem := storage.NewMemory()
	store := &slowStore{Store: mem, clock: rclock, prefix: "tenants/bravo/packs/", delay: 40 * time.Minute}
	events := &stampedLog{clock: clock}
	var mu sync.Mutex
	var notified []audit.Event
	// The default filter: a drill's failed validation is a warning, so
	// only the drill alerts notify.
	aud := audit.Notifying(events, audit.DefaultNotifyFilter, nil, notifierFunc(func(e audit.Event) {
		mu.Lock()
		defer mu.Unlock()
		notified = append(notified, e)
	}))
	e, err := backup.New(store, &backup.Config{Clock: clock, Auditor: aud})
	require.NoError(t, err)
	policies := retention.NewPolicies(store, &retention.Config{Clock: clock, Auditor: aud})
	ctx := master()
	tenants := []string{"alpha", "bravo"}
	for _, tn := range tenants {
		require.NoError(t, policies.Set(ctx, tn, drillPolicy()))
	}
	var alerts []retention.DrillAlert
	var alertTimes []time.Time
	s, err := retention.NewScheduler(&retention.SchedulerConfig{
		Engine: e, Policies: policies, Clock: clock, Auditor: aud,
		Restorer: restore.New(e, &restore.Config{Clock: rclock, Auditor: aud}),
		Tenants:  func(context.Context) ([]string, error) { return tenants, nil },
		Source: func(_ context.Context, tenant string) (backup.Source, error) {
			return tenantSource(tenant, int(clock.Now().Sub(start).Hours()/24), start), nil
		},
		DrillAlert: func(_ context.Context, a retention.DrillAlert) {
			alerts = append(alerts, a)
			alertTimes = append(alertTimes, clock.Now())
		},
	})
	require.NoError(t, err)

	corruptAt, repairAt := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 15, 0, 0, 0, 0, time.UTC)
	slowFrom, slowTo := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC)
	var packKey string
	var packBytes []byte
	drills, failedDrills, backupFailures := 0, 0, 0
	for h := 1; h <= 365*24; h++ {
		now := start.Add(time.Duration(h) * time.Hour)
		clock.Set(now)
		switch now {
		case corruptAt:
			packKey, packBytes = largestPack(t, mem, "alpha")
			require.NoError(t, storage.PutBytes(ctx, mem, packKey, corrupt(packBytes), nil))
		case repairAt:
			require.NoError(t, storage.PutBytes(ctx, mem, packKey, packBytes, nil))
		case slowFrom:
			store.slow.Store(true)
		case slowTo:
			store.slow.Store(false)
		}
		rep, err := s.RunDue(ctx)
		require.NoError(t, err)
		require.Empty(t, rep.DrillErrors, "at %v", now)
		require.Empty(t, rep.DrillsNotRun)
		require.Empty(t, rep.Alerts, "no RPO breach at %v", now)
		drills += rep.Drills
		failedDrills += rep.DrillsFailed
		backupFailures += rep.Failed
	}
	require.Zero(t, backupFailures, "every scheduled backup and retention run succeeded")
	require.Equal(t, 8, drills, "four drills per tenant")
	require.Equal(t, 1, failedDrills)

	// Four drills per tenant, at the scheduled times.
	slots := []time.Time{start.Add(3 * time.Hour), time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC),
		time.Date(2026, 7, 1, 3, 0, 0, 0, time.UTC), time.Date(2026, 10, 1, 3, 0, 0, 0, time.UTC)}
	for _, tn := range tenants {
		var at []time.Time
		var statuses []audit.EventType
		for _, ev := range events.of(audit.TypeDrillPassed, audit.TypeDrillFailed) {
			if ev.Tenant == tn {
				at = append(at, ev.Timestamp)
				statuses = append(statuses, ev.Type)
			}
		}
		require.Equal(t, slots, at, "drill times of %s", tn)
		want := []audit.EventType{audit.TypeDrillPassed, audit.TypeDrillPassed, audit.TypeDrillPassed, audit.TypeDrillPassed}
		if tn == "alpha" {
			want[1] = audit.TypeDrillFailed
		}
		require.Equal(t, want, statuses, "drill outcomes of %s", tn)
	}

	// Two alerts, each once: alpha's failed drill, bravo's slow one.
	require.Len(t, alerts, 2, "%+v", alerts)
	require.Equal(t, "alpha", alerts[0].Tenant)
	require.Equal(t, audit.DrillConditionFailed, alerts[0].Condition)
	require.Contains(t, alerts[0].Report, "data integrity")
	require.Equal(t, slots[1], alertTimes[0])
	require.Equal(t, "bravo", alerts[1].Tenant)
	require.Equal(t, audit.DrillConditionSlow, alerts[1].Condition)
	require.Greater(t, alerts[1].TTR, 30*time.Minute)
	require.Equal(t, 30*time.Minute, alerts[1].SLO)
	require.Equal(t, slots[2], alertTimes[1])
	alertEvents := events.of(audit.TypeDrillAlert, audit.TypeRPOBreach)
	require.Len(t, alertEvents, 2)
	for _, ev := range alertEvents {
		require.Equal(t, audit.LevelError, ev.Level)
	}
	require.Len(t, notified, 2, "the notifiers delivered only the two alerts: %+v", notified)
	require.Equal(t, audit.TypeDrillAlert, notified[0].Type)
	require.Equal(t, audit.DrillConditionFailed, notified[0].Data[audit.DataCondition])
	require.Equal(t, audit.DrillConditionSlow, notified[1].Data[audit.DataCondition])

	// The stored status: counts, the last success, TTR back under the SLO.
	a, err := policies.DrillStatus(ctx, "alpha")
	require.NoError(t, err)
	require.Equal(t, 3, a.Passed)
	require.Equal(t, 1, a.Failed)
	require.Equal(t, 0.75, a.SuccessRate())
	require.Equal(t, slots[3], a.LastSuccess)
	b, err := policies.DrillStatus(ctx, "bravo")
	require.NoError(t, err)
	require.Equal(t, 4, b.Passed)
	require.Equal(t, restore.StatusPassed, b.LastStatus)
	require.False(t, b.OverSLO(), "October's drill is within the SLO: TTR %v", time.Duration(b.TTR))
}

type notifierFunc func(audit.Event)

func (f notifierFunc) Notify(_ context.Context, e audit.Event) error { f(e); return nil }

// TestSchedulerDrillsWithoutRestorer: without a Restorer a due drill is
// not run and the report says so at each slot; once two slots have passed
// with no successful drill, the tenant is overdue, alerted once.
func TestSchedulerDrillsWithoutRestorer(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := fakeclock.New(start)
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Clock: clock})
	require.NoError(t, err)
	events := &stampedLog{clock: clock}
	policies := retention.NewPolicies(store, &retention.Config{Clock: clock})
	p := drillPolicy()
	p.DrillSchedule = "0 3 * * *" // daily
	require.NoError(t, policies.Set(master(), "acme", p))
	s, err := retention.NewScheduler(&retention.SchedulerConfig{
		Engine: e, Policies: policies, Clock: clock, Auditor: events,
		Tenants: func(context.Context) ([]string, error) { return []string{"acme"}, nil },
		Source: func(context.Context, string) (backup.Source, error) {
			return tenantSource("acme", int(clock.Now().Sub(start).Hours()/24), start), nil
		},
	})
	require.NoError(t, err)
	var notRun int
	var overdue []time.Time
	for h := 1; h <= 5*24; h++ {
		clock.Set(start.Add(time.Duration(h) * time.Hour))
		rep, err := s.RunDue(master())
		require.NoError(t, err)
		require.Zero(t, rep.Drills)
		notRun += len(rep.DrillsNotRun)
		for _, a := range rep.DrillAlerts {
			require.Equal(t, audit.DrillConditionOverdue, a.Condition)
			require.True(t, a.LastSuccess.IsZero())
			overdue = append(overdue, clock.Now())
		}
	}
	require.Equal(t, 5, notRun, "one drill due a day, each reported not run")
	// Started at 00:00 on day 0: slots at 03:00 on days 0 and 1; overdue
	// from the first run after day 1's slot.
	require.Equal(t, []time.Time{start.Add(28 * time.Hour)}, overdue)
	require.Len(t, events.of(audit.TypeDrillAlert), 1)
	_, err = policies.DrillStatus(master(), "acme")
	require.ErrorIs(t, err, retention.ErrNoDrill)
}

// TestDrillDeadline: the deadline is the second slot after the last
// success; no schedule, no deadline.
func TestDrillDeadline(t *testing.T) {
	p := retention.DefaultTenantPolicy()
	require.Equal(t, retention.DefaultDrillSchedule, p.DrillSchedule, "the default policy drills quarterly")
	last := time.Date(2026, 1, 1, 3, 0, 5, 0, time.UTC)
	d, err := retention.DrillDeadline(p, last)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 7, 1, 3, 0, 0, 0, time.UTC), d)
	p.DrillSchedule = ""
	d, err = retention.DrillDeadline(p, last)
	require.NoError(t, err)
	require.True(t, d.IsZero())
	_, err = retention.DrillDeadline(retention.Policy{DrillSchedule: "TZ=0"}, last)
	require.ErrorIs(t, err, retention.ErrInvalidPolicy)
}

// TestDrillPolicyJSON: the drill fields round-trip as the other durations
// do, stored policies without them still decode (no drills), and a bad
// drill schedule or a negative SLO is refused.
func TestDrillPolicyJSON(t *testing.T) {
	p, err := retention.DecodePolicy([]byte(`{"keep_last":1,"drill_schedule":"0 3 1 */3 *","drill_ttr_slo":"90m"}`))
	require.NoError(t, err)
	require.Equal(t, retention.Duration(90*time.Minute), p.DrillTTRSLO)
	require.Equal(t, "0 3 1 */3 *", p.DrillSchedule)
	old, err := retention.DecodePolicy([]byte(`{"keep_last":1,"schedule":"0 2 * * *"}`))
	require.NoError(t, err)
	require.Empty(t, old.DrillSchedule, "a policy stored before drills has none")
	for _, bad := range []string{`{"keep_last":1,"drill_schedule":"quarterly"}`, `{"keep_last":1,"drill_ttr_slo":"-1h"}`, `{"keep_last":1,"drill_ttr_slo":-5}`} {
		_, err := retention.DecodePolicy([]byte(bad))
		require.ErrorIs(t, err, retention.ErrInvalidPolicy, bad)
	}
}

// TestSchedulerDrillStateSurvivesRestart: a Scheduler started over a
// store where another recorded a failed drill does not alert that
// failure again when the next drill fails too, and counts the overdue
// deadline from the stored last success, not from its own start.
func TestSchedulerDrillStateSurvivesRestart(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := fakeclock.New(start)
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Clock: clock})
	require.NoError(t, err)
	policies := retention.NewPolicies(store, &retention.Config{Clock: clock})
	p := drillPolicy()
	p.DrillSchedule = "0 3 * * *" // daily
	require.NoError(t, policies.Set(master(), "acme", p))
	newScheduler := func(alerts *[]string) *retention.Scheduler {
		s, err := retention.NewScheduler(&retention.SchedulerConfig{
			Engine: e, Policies: policies, Clock: clock, Restorer: restore.New(e, &restore.Config{Clock: clock}),
			Tenants: func(context.Context) ([]string, error) { return []string{"acme"}, nil },
			Source: func(context.Context, string) (backup.Source, error) {
				return tenantSource("acme", 0, start), nil // unchanged: the pack stays corrupt
			},
			DrillAlert: func(_ context.Context, a retention.DrillAlert) {
				*alerts = append(*alerts, a.Condition+" "+clock.Now().Format("02 15:04"))
			},
		})
		require.NoError(t, err)
		return s
	}
	run := func(s *retention.Scheduler, from, to time.Duration) {
		for h := from; h <= to; h += time.Hour {
			clock.Set(start.Add(h))
			_, err := s.RunDue(master())
			require.NoError(t, err)
		}
	}
	var first, second []string
	s := newScheduler(&first)
	run(s, time.Hour, 4*time.Hour) // day 0: backup at 02:00, drill passes at 03:00
	key, b := largestPack(t, store, "acme")
	require.NoError(t, storage.PutBytes(context.Background(), store, key, corrupt(b), nil))
	run(s, 5*time.Hour, 28*time.Hour) // day 1: the drill fails
	require.Equal(t, []string{"failed 02 03:00"}, first)

	s = newScheduler(&second) // a restart
	run(s, 29*time.Hour, 52*time.Hour)
	require.Equal(t, []string{"overdue 03 04:00"}, second, "day 2's failed drill is the same breach; overdue two slots after day 0's success")
	st, err := policies.DrillStatus(master(), "acme")
	require.NoError(t, err)
	require.Equal(t, 1, st.Passed)
	require.Equal(t, 2, st.Failed)
	require.Equal(t, start.Add(3*time.Hour), st.LastSuccess)
}

// TestRecordDrill: drills run elsewhere (a fleet worker) and recorded
// with RecordDrill update the stored status and alert once per breach,
// derived from the previous stored drill; a principal without write
// access is refused and nothing is stored.
func TestRecordDrill(t *testing.T) {
	store := storage.NewMemory()
	events := &stampedLog{clock: fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	ps := retention.NewPolicies(store, &retention.Config{Auditor: events})
	p := drillPolicy() // SLO 30 minutes
	at := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	steps := []struct {
		status string
		ttr    time.Duration
		alert  string // "" none
	}{
		{restore.StatusPassed, time.Minute, ""},
		{restore.StatusFailed, time.Minute, audit.DrillConditionFailed},
		{restore.StatusFailed, time.Minute, ""},
		{restore.StatusPassed, time.Hour, audit.DrillConditionSlow},
		{restore.StatusPassed, 2 * time.Hour, ""},
		{restore.StatusPassed, time.Minute, ""},
	}
	for i, st := range steps {
		v := &restore.Validation{Tenant: "acme", SnapshotID: "s1", Status: st.status, Duration: st.ttr, Report: "report " + st.status}
		alerts, err := ps.RecordDrill(master(), v, p, at.AddDate(0, 3*i, 0))
		require.NoError(t, err)
		var got []string
		for _, a := range alerts {
			got = append(got, a.Condition)
		}
		if st.alert == "" {
			require.Empty(t, got, "step %d", i)
		} else {
			require.Equal(t, []string{st.alert}, got, "step %d", i)
		}
	}
	d, err := ps.DrillStatus(master(), "acme")
	require.NoError(t, err)
	require.Equal(t, 4, d.Passed)
	require.Equal(t, 2, d.Failed)
	require.Equal(t, at.AddDate(0, 15, 0), d.LastSuccess)
	require.Len(t, events.of(audit.TypeDrillPassed, audit.TypeDrillFailed), 6)
	require.Len(t, events.of(audit.TypeDrillAlert), 2)

	viewer := steward.WithPrincipal(context.Background(), steward.Principal{ID: "v"})
	_, err = ps.RecordDrill(viewer, &restore.Validation{Tenant: "beta", Status: restore.StatusPassed}, p, at)
	require.ErrorIs(t, err, steward.ErrForbidden)
	_, err = ps.DrillStatus(master(), "beta")
	require.ErrorIs(t, err, retention.ErrNoDrill)
	_, err = ps.RecordDrill(master(), &restore.Validation{Tenant: "../x"}, p, at)
	require.ErrorIs(t, err, steward.ErrInvalidTenant)
}

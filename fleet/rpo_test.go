package fleet_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/fleet"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/retention"
)

// rpoWorld is a world whose members audit to one audit.Log on the store
// and collect the alerts given to Config.Alert.
type rpoWorld struct {
	*world
	log     *audit.Log
	mu      sync.Mutex
	alerted []retention.Alert
	drilled []retention.DrillAlert // given to Config.DrillAlert
}

func newRPOWorld(t *testing.T, rpo time.Duration) *rpoWorld {
	w := &rpoWorld{world: newWorld(t)}
	var err error
	w.log, err = audit.NewLog(master(), w.store, &audit.LogConfig{Clock: w.clock})
	require.NoError(t, err)
	p := retention.Policy{IncrementalDays: 7, Schedule: "0 * * * *", RPOIncremental: retention.Duration(rpo)}
	for _, tn := range tenants {
		require.NoError(t, retention.NewPolicies(w.store, nil).Set(master(), tn, p))
	}
	return w
}

func (w *rpoWorld) member(id string, src func(context.Context, string) (backup.Source, error)) *fleet.Member {
	e, err := backup.New(w.store, &backup.Config{Clock: w.clock, Auditor: w.log})
	require.NoError(w.t, err)
	m, err := fleet.New(w.pool, &fleet.Config{
		Engine: e, Policies: retention.NewPolicies(w.store, nil), Source: src, Clock: w.clock,
		Auditor: w.log, AuditLog: w.log, MaxAttempts: 1,
		Alert: func(_ context.Context, a retention.Alert) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.alerted = append(w.alerted, a)
		},
		DrillAlert: func(_ context.Context, a retention.DrillAlert) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.drilled = append(w.drilled, a)
		},
		Tenants: func(context.Context) ([]string, error) { return tenants, nil },
		ID:      id, CatchUp: 20 * time.Minute, EnqueueInterval: time.Hour, PollInterval: 100 * time.Millisecond,
	})
	require.NoError(w.t, err)
	return m
}

// breachEvents returns the rpo.breach events of the log, oldest first.
func (w *rpoWorld) breachEvents() []audit.Event {
	evs, _, err := w.log.Recent(master(), audit.Filter{Types: []audit.EventType{audit.TypeRPOBreach}})
	require.NoError(w.t, err)
	slices.Reverse(evs) // Recent gives the newest first
	return evs
}

// Two members check RPOs after every hourly slot, both of them, as two
// leaders in turn would: alpha, whose backups fail from 02:00, enters its
// incremental RPO breach (2.5 h) at 04:00 and is alerted once, not once
// per member or per check; it recovers at 06:00, breaches anew at 09:00
// and is alerted again. bravo and charlie, backed up every hour, never.
func TestRPOAlertedOncePerBreach(t *testing.T) {
	w := newRPOWorld(t, 150*time.Minute)
	var down atomic.Bool
	src := func(ctx context.Context, t string) (backup.Source, error) {
		if t == "alpha" && down.Load() {
			return nil, errSourceDown
		}
		return dataSource(ctx, t)
	}
	a, b := w.member("a", src), w.member("b", src)
	w.run(a)
	w.run(b)
	// The leader runs a check when elected (RunOnStart), which a loaded
	// machine may delay into a later hour, where it would enter that
	// hour's alert before the test's own checks: wait for it at 00:30.
	waitFor(t, "the leader's first RPO check", settled(t, a, 1, fleet.KindRPO))
	wantAlerts := map[int]int{4: 1, 9: 1} // hour -> alerts entered then
	for h := 1; h <= 10; h++ {
		down.Store(h >= 2 && h != 6)
		w.clock.Set(time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC))
		_, err := a.EnqueueDue(t.Context())
		require.NoError(t, err)
		waitFor(t, fmt.Sprintf("slot %02d:00's backups", h), settled(t, a, 3*h, fleet.KindBackup))
		ra, err := a.CheckRPO(t.Context())
		require.NoError(t, err)
		rb, err := b.CheckRPO(t.Context())
		require.NoError(t, err)
		require.Empty(t, ra.Errors)
		require.Equal(t, [2]int{wantAlerts[h], 0}, [2]int{len(ra.Alerts), len(rb.Alerts)}, "alerts entered at %02d:00 by a, then b", h)
		require.Equal(t, ra.Breached, rb.Breached, "both members see the same breaches at %02d:00", h)
	}
	evs := w.breachEvents()
	require.Len(t, evs, 2, "rpo.breach events")
	for i, newest := range []string{"2026-01-01T01:00:00Z", "2026-01-01T06:00:00Z"} {
		require.Equal(t, "alpha", evs[i].Tenant)
		require.Equal(t, retention.RPOKindIncremental, evs[i].Data["kind"])
		require.Equal(t, newest, evs[i].Data[retention.DataNewest])
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	require.Len(t, w.alerted, 2, "alerts given to Config.Alert")
}

// A member that died after claiming an alert leaves the claim open: the
// next check finds the alert's event in the audit log and records none
// (bravo), or finds none and records it (charlie), once either way.
func TestRPOAlertFinishedAfterCrash(t *testing.T) {
	w := newRPOWorld(t, time.Hour)
	m := w.member("a", dataSource) // not started: no backups, CheckRPO only
	rep, err := m.CheckRPO(t.Context())
	require.NoError(t, err)
	require.Equal(t, [2]int{3, 0}, [2]int{rep.Checked, rep.Breached}, "at 00:30 nothing is breached; the tenants are watched from now")

	w.clock.Set(start.Add(2 * time.Hour)) // never backed up for 2 h: every tenant breaches
	for _, tn := range []string{"bravo", "charlie"} {
		_, err := w.pool.Exec(t.Context(), `INSERT INTO steward_fleet_rpo_alert (tenant, kind, newest) VALUES ($1, 'incremental', $2)`, tn, time.Time{})
		require.NoError(t, err)
	}
	// bravo's claimer recorded the event, then died.
	require.NoError(t, retention.RecordRPOBreach(master(), w.log, retention.Alert{Tenant: "bravo", Kind: retention.RPOKindIncremental, Age: 2 * time.Hour, RPO: time.Hour}))

	for range 2 {
		_, err = m.CheckRPO(t.Context())
		require.NoError(t, err)
	}
	perTenant := map[string]int{}
	for _, e := range w.breachEvents() {
		perTenant[e.Tenant]++
	}
	require.Equal(t, map[string]int{"alpha": 1, "bravo": 1, "charlie": 1}, perTenant, "rpo.breach events per tenant")
	w.mu.Lock()
	defer w.mu.Unlock()
	var got []string
	for _, a := range w.alerted {
		got = append(got, a.Tenant)
	}
	require.ElementsMatch(t, []string{"alpha", "charlie"}, got, "Config.Alert calls (bravo's was made before the crash)")
}

// The leader's check alerts an overdue DR drill once for the fleet, as a
// Scheduler would: alpha drills every two hours and is watched from
// 00:30, so with no drill it is overdue after 04:00 (the second drill slot
// after 00:30) and alerted at 04:30 by the first member to check, not by
// the second; a drill that passes at 05:30 ends the breach, and the
// second slot after it, 08:00, starts a new one, alerted at 08:30. The
// other tenants schedule no drills and are never overdue.
func TestDrillOverdueAlertedOncePerBreach(t *testing.T) {
	w := newRPOWorld(t, 24*time.Hour)
	ps := retention.NewPolicies(w.store, nil)
	p := retention.Policy{IncrementalDays: 7, Schedule: "0 * * * *", DrillSchedule: "0 */2 * * *"}
	require.NoError(t, ps.Set(master(), "alpha", p))
	a, b := w.member("a", dataSource), w.member("b", dataSource) // not started: CheckRPO only
	wantAlerts := map[int]int{4: 1, 8: 1}                        // hour -> alerts entered at hh:30
	for h := 0; h <= 9; h++ {
		w.clock.Set(time.Date(2026, 1, 1, h, 30, 0, 0, time.UTC))
		if h == 5 {
			_, err := ps.RecordDrill(master(), &restore.Validation{Tenant: "alpha", SnapshotID: "s", Status: restore.StatusPassed}, p, w.clock.Now())
			require.NoError(t, err)
		}
		ra, err := a.CheckRPO(t.Context())
		require.NoError(t, err)
		rb, err := b.CheckRPO(t.Context())
		require.NoError(t, err)
		require.Empty(t, ra.Errors)
		overdue := h == 4 || h >= 8
		require.Equal(t, [2]bool{overdue, overdue}, [2]bool{ra.Overdue == 1, rb.Overdue == 1}, "alpha overdue at %02d:30 (a, b)", h)
		require.Equal(t, [2]int{wantAlerts[h], 0}, [2]int{len(ra.DrillAlerts), len(rb.DrillAlerts)}, "drill alerts entered at %02d:30 by a, then b", h)
		require.Zero(t, ra.Breached, "no RPO breach within 24 h")
	}
	evs, _, err := w.log.Recent(master(), audit.Filter{Types: []audit.EventType{audit.TypeDrillAlert}})
	require.NoError(t, err)
	slices.Reverse(evs)
	require.Len(t, evs, 2, "drill.alert events")
	for i, want := range []struct{ last, deadline string }{
		{"", "2026-01-01T04:00:00Z"}, {"2026-01-01T05:30:00Z", "2026-01-01T08:00:00Z"},
	} {
		require.Equal(t, "alpha", evs[i].Tenant)
		require.Equal(t, audit.DrillConditionOverdue, evs[i].Data[audit.DataCondition])
		require.Equal(t, want.last, evs[i].Data[retention.DataLastSuccess])
		require.Equal(t, want.deadline, evs[i].Data["deadline"])
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	require.Len(t, w.drilled, 2, "alerts given to Config.DrillAlert")
	require.Empty(t, w.alerted, "no RPO alert")
}

// A member that died after claiming an overdue alert and recording its
// event leaves the claim open: the next check finds the event and records
// no second one.
func TestDrillOverdueAlertFinishedAfterCrash(t *testing.T) {
	w := newRPOWorld(t, 24*time.Hour)
	ps := retention.NewPolicies(w.store, nil)
	p := retention.Policy{IncrementalDays: 7, Schedule: "0 * * * *", DrillSchedule: "0 */2 * * *"}
	require.NoError(t, ps.Set(master(), "alpha", p))
	m := w.member("a", dataSource)
	_, err := m.CheckRPO(t.Context()) // 00:30: alpha watched from now
	require.NoError(t, err)
	w.clock.Set(time.Date(2026, 1, 1, 4, 30, 0, 0, time.UTC))
	_, err = w.pool.Exec(t.Context(), `INSERT INTO steward_fleet_rpo_alert (tenant, kind, newest) VALUES ('alpha', 'drill-overdue', $1)`, time.Time{})
	require.NoError(t, err)
	a, overdue := retention.DrillOverdue("alpha", p, nil, start, w.clock.Now())
	require.True(t, overdue)
	require.NoError(t, retention.RecordDrillAlert(master(), w.log, a))
	for range 2 {
		rep, err := m.CheckRPO(t.Context())
		require.NoError(t, err)
		require.Equal(t, 1, rep.Overdue)
		require.Empty(t, rep.DrillAlerts, "the crashed member's event was found")
	}
	evs, _, err := w.log.Recent(master(), audit.Filter{Types: []audit.EventType{audit.TypeDrillAlert}})
	require.NoError(t, err)
	require.Len(t, evs, 1, "drill.alert events")
}

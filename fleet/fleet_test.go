package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/fleet"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/internal/pgtest"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

var tenants = []string{"alpha", "bravo", "charlie"}

// start is half an hour before the first hourly slot; with CatchUp 20m
// nothing is due at start.
var start = time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)

func master() context.Context {
	return steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
}

// world is one store, one database and the audit events recorded: what
// every member of a test shares.
type world struct {
	t      *testing.T
	pool   *pgxpool.Pool
	store  storage.Store
	clock  *fakeclock.Clock
	mu     sync.Mutex
	events []audit.Event
}

func newWorld(t *testing.T) *world {
	pool := pgtest.DB(t)
	require.NoError(t, fleet.Migrate(t.Context(), pool, ""))
	w := &world{t: t, pool: pool, store: storage.NewMemory(), clock: fakeclock.New(start)}
	ps := retention.NewPolicies(w.store, nil)
	p := retention.Policy{IncrementalDays: 7, Schedule: "0 * * * *", FullEvery: retention.Duration(2 * time.Hour)}
	for _, tn := range tenants {
		require.NoError(t, ps.Set(master(), tn, p))
	}
	return w
}

func (w *world) Record(_ context.Context, e audit.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, e)
	return nil
}

func (w *world) engine() *backup.Engine {
	e, err := backup.New(w.store, &backup.Config{Clock: w.clock, Auditor: w})
	require.NoError(w.t, err)
	return e
}

func dataSource(context.Context, string) (backup.Source, error) {
	return backup.FSSource(fstest.MapFS{"users/a.json": {Data: []byte(`{"name":"a"}`)}}), nil
}

// member returns a member named id (not started) with its own engine on
// the shared store, as a separate host would have.
func (w *world) member(id string, src func(context.Context, string) (backup.Source, error), rescueAfter time.Duration) *fleet.Member {
	m, err := fleet.New(w.pool, &fleet.Config{
		Engine: w.engine(), Policies: retention.NewPolicies(w.store, nil), Source: src, Clock: w.clock, Auditor: w,
		Tenants: func(context.Context) ([]string, error) { return tenants, nil },
		ID:      id, CatchUp: 20 * time.Minute, EnqueueInterval: time.Hour, RescueAfter: rescueAfter,
		PollInterval: 100 * time.Millisecond, HandBack: 5 * time.Second,
	})
	require.NoError(w.t, err)
	return m
}

func (w *world) run(m *fleet.Member) {
	require.NoError(w.t, m.Start(context.Background()))
	w.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
	})
}

// jobs lists every job of kinds in any state.
func jobs(t *testing.T, m *fleet.Member, kinds ...string) []*rivertype.JobRow {
	res, err := m.Client().JobList(t.Context(), river.NewJobListParams().Kinds(kinds...).First(10000))
	require.NoError(t, err)
	return res.Jobs
}

// waitFor polls cond every 50 ms for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settled: n jobs of kinds exist and all are finished.
func settled(t *testing.T, m *fleet.Member, n int, kinds ...string) func() bool {
	return func() bool {
		js := jobs(t, m, kinds...)
		return len(js) == n && !slices.ContainsFunc(js, func(j *rivertype.JobRow) bool { return j.FinalizedAt == nil })
	}
}

// finalized waits until job id is finalized and returns it.
func finalized(t *testing.T, m *fleet.Member, id int64, what string) *rivertype.JobRow {
	var j *rivertype.JobRow
	waitFor(t, what, func() bool {
		var err error
		j, err = m.Client().JobGet(t.Context(), id)
		require.NoError(t, err)
		return j.FinalizedAt != nil
	})
	return j
}

func catalog(t *testing.T, e *backup.Engine, tenant string) []backup.Snapshot {
	cat, err := e.Catalog(master(), tenant)
	if errors.Is(err, backup.ErrNotFound) {
		return nil
	}
	require.NoError(t, err)
	return cat
}

// Two members on one database and one store, driven over four hourly
// slots for three tenants: each (tenant, slot) is backed up exactly once
// (one snapshot with the slot's tag, one backup.created audit event, one
// completed backup job), full or incremental by the policy's FullEvery,
// and each is followed by one retention run.
func TestTwoMembersBackUpEachSlotOnce(t *testing.T) {
	w := newWorld(t)
	a, b := w.member("a", dataSource, time.Hour), w.member("b", dataSource, time.Hour)
	w.run(a)
	w.run(b)
	// The leader's first enqueue (RunOnStart) finds nothing due at start.
	waitFor(t, "the leader's first enqueue", settled(t, a, 1, fleet.KindEnqueue))
	require.Empty(t, jobs(t, a, fleet.KindBackup))

	var slots []time.Time
	for i := range 4 {
		slot := start.Add(30*time.Minute + time.Duration(i)*time.Hour)
		w.clock.Set(slot)
		slots = append(slots, slot)
		ra, err := a.EnqueueDue(t.Context())
		require.NoError(t, err)
		rb, err := b.EnqueueDue(t.Context())
		require.NoError(t, err)
		// The first call inserts the three jobs, unless a new leader's own
		// enqueue (RunOnStart after a lost lease) came first.
		require.Equal(t, 3, ra.Inserted+ra.Duplicates, "first enqueue of slot %s", slot)
		require.Equal(t, [2]int{0, 3}, [2]int{rb.Inserted, rb.Duplicates}, "second enqueue of slot %s", slot)
		n := 3 * (i + 1)
		waitFor(t, fmt.Sprintf("slot %s's backups and retention runs", slot), settled(t, a, 2*n, fleet.KindBackup, fleet.KindRetention))
	}

	byState := map[string]int{}
	for _, j := range jobs(t, a, fleet.KindBackup, fleet.KindRetention) {
		byState[j.Kind+"/"+string(j.State)]++
	}
	require.Equal(t, map[string]int{fleet.KindBackup + "/completed": 12, fleet.KindRetention + "/completed": 12}, byState)

	st, err := fleet.Status(t.Context(), w.pool, "")
	require.NoError(t, err)
	want := []fleet.TenantStatus{}
	for _, tn := range tenants {
		want = append(want, fleet.TenantStatus{Tenant: tn, Completed: 8})
	}
	require.Equal(t, want, st, "Status: 4 backups and 4 retention runs per tenant")

	e := w.engine()
	for _, tn := range tenants {
		cat := catalog(t, e, tn)
		require.Len(t, cat, 4, "snapshots of %s", tn)
		var got []string
		var types []backup.Type
		for _, s := range slices.Backward(cat) { // oldest first
			got = append(got, s.Tags[len(s.Tags)-1])
			types = append(types, s.Type)
		}
		var want []string
		for _, s := range slots {
			want = append(want, fleet.SlotTag(s))
		}
		require.Equal(t, want, got, "slot tags of %s", tn)
		require.Equal(t, []backup.Type{backup.Full, backup.Incremental, backup.Full, backup.Incremental}, types, "types of %s (a full every 2h)", tn)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	created := map[string]int{}
	for _, ev := range w.events {
		if ev.Type == audit.TypeBackupCreated {
			created[ev.Tenant]++
		}
	}
	require.Equal(t, map[string]int{"alpha": 4, "bravo": 4, "charlie": 4}, created, "backup.created events per tenant")
}

// blockingSource's Walk reports on entered and waits for its context.
type blockingSource struct{ entered chan<- string }

func (s blockingSource) Walk(ctx context.Context, _ func(backup.Entry) error) error {
	s.entered <- "walk"
	<-ctx.Done()
	return ctx.Err()
}

func (blockingSource) Open(context.Context, string) (io.ReadCloser, error) {
	return nil, errors.New("blockingSource has no files")
}

// A member stopped with a short deadline while its backup blocks cancels
// the backup, which leaves no snapshot and hands the job back; another
// member then completes it, with one snapshot of the slot.
func TestStoppedMemberHandsBackItsJob(t *testing.T) {
	w := newWorld(t)
	entered := make(chan string, 10)
	a := w.member("a", func(context.Context, string) (backup.Source, error) { return blockingSource{entered}, nil }, time.Hour)
	require.NoError(t, a.Start(context.Background()))
	w.clock.Set(start.Add(30 * time.Minute))
	_, err := a.Client().Insert(t.Context(), fleet.BackupArgs{Tenant: "alpha", Slot: w.clock.Now()}, nil)
	require.NoError(t, err)
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("member a never started the backup")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = a.Stop(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "Stop past its deadline")
	require.ErrorIs(t, err, fleet.ErrHandedBack)
	js := jobs(t, a, fleet.KindBackup)
	require.Len(t, js, 1)
	require.NotEqual(t, rivertype.JobStateRunning, js[0].State, "the job is handed back, not left running")
	require.Empty(t, catalog(t, w.engine(), "alpha"), "the cancelled backup left a snapshot")

	b := w.member("b", dataSource, time.Hour)
	w.run(b)
	waitFor(t, "member b to complete the job", settled(t, b, 1, fleet.KindBackup))
	j := jobs(t, b, fleet.KindBackup)[0]
	require.Equal(t, rivertype.JobStateCompleted, j.State)
	require.Equal(t, "b", j.AttemptedBy[len(j.AttemptedBy)-1], "attempted by %v", j.AttemptedBy)
	cat := catalog(t, w.engine(), "alpha")
	require.Len(t, cat, 1)
	require.Contains(t, cat[0].Tags, fleet.SlotTag(w.clock.Now()))
}

// A job left running by a member that died (its row as a killed process
// leaves it: running, attempted long ago) is rescued after RescueAfter by
// a live member and completed.
func TestDeadMembersJobIsRescued(t *testing.T) {
	w := newWorld(t)
	b := w.member("b", dataSource, 2*time.Second)
	w.clock.Set(start.Add(30 * time.Minute))
	res, err := b.Client().Insert(t.Context(), fleet.BackupArgs{Tenant: "bravo", Slot: w.clock.Now()}, nil)
	require.NoError(t, err)
	_, err = w.pool.Exec(t.Context(), `UPDATE river_job SET state = 'running', attempt = 1,
		attempted_at = now() - interval '10 seconds', attempted_by = '{dead}' WHERE id = $1`, res.Job.ID)
	require.NoError(t, err)

	w.run(b)
	began := time.Now()
	var j *rivertype.JobRow
	waitFor(t, "the rescued job to complete", func() bool {
		j, err = b.Client().JobGet(t.Context(), res.Job.ID)
		require.NoError(t, err)
		return j.State == rivertype.JobStateCompleted
	})
	t.Logf("rescued and completed %s after member b started", time.Since(began).Round(time.Millisecond))
	require.Equal(t, []string{"dead", "b"}, j.AttemptedBy)
	require.Len(t, j.Errors, 1)
	require.Contains(t, j.Errors[0].Error, "Stuck job rescued")
	require.Len(t, catalog(t, w.engine(), "bravo"), 1, "one snapshot of the slot (the leader's own enqueue of it is the same job)")
}

// The same slot enqueued twice, by Insert or EnqueueDue, is one job,
// whatever state the first is in; another slot is another job.
func TestSlotIsUnique(t *testing.T) {
	w := newWorld(t)
	m := w.member("a", dataSource, time.Hour) // not started: nothing works the jobs
	slot := start.Add(30 * time.Minute)
	first, err := m.Client().Insert(t.Context(), fleet.BackupArgs{Tenant: "alpha", Slot: slot}, nil)
	require.NoError(t, err)
	require.False(t, first.UniqueSkippedAsDuplicate)
	for _, state := range []string{"available", "completed", "discarded", "cancelled"} {
		_, err := w.pool.Exec(t.Context(), `UPDATE river_job SET state = $1::river_job_state, finalized_at = CASE WHEN $1::text = 'available' THEN NULL ELSE now() END WHERE id = $2`, state, first.Job.ID)
		require.NoError(t, err)
		again, err := m.Client().Insert(t.Context(), fleet.BackupArgs{Tenant: "alpha", Slot: slot}, nil)
		require.NoError(t, err)
		require.True(t, again.UniqueSkippedAsDuplicate, "the slot inserted again while the first job is %s", state)
		require.Equal(t, first.Job.ID, again.Job.ID)
	}
	other, err := m.Client().Insert(t.Context(), fleet.BackupArgs{Tenant: "alpha", Slot: slot.Add(time.Hour)}, nil)
	require.NoError(t, err)
	require.False(t, other.UniqueSkippedAsDuplicate, "the next slot")
	ret, err := m.Client().Insert(t.Context(), fleet.RetentionArgs{Tenant: "alpha", Slot: slot}, nil)
	require.NoError(t, err)
	require.False(t, ret.UniqueSkippedAsDuplicate, "another kind of the same slot")

	w.clock.Set(slot.Add(time.Hour))
	rep, err := m.EnqueueDue(t.Context())
	require.NoError(t, err)
	require.Equal(t, [2]int{2, 1}, [2]int{rep.Inserted, rep.Duplicates}, "alpha's 01:30 slot was inserted above")
	rep, err = m.EnqueueDue(t.Context())
	require.NoError(t, err)
	require.Equal(t, [2]int{0, 3}, [2]int{rep.Inserted, rep.Duplicates})
	require.Len(t, jobs(t, m, fleet.KindBackup), 4)
}

func TestLatestSlot(t *testing.T) {
	now := time.Date(2026, 3, 1, 2, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		spec    string
		catchUp time.Duration
		want    time.Time
	}{
		{"0 * * * *", time.Hour, time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)},
		{"0 * * * *", 20 * time.Minute, time.Time{}},
		{"30 2 * * *", time.Minute, now},
		{"*/10 * * * *", 3 * time.Hour, now},
		{"0 2 * * *", 24 * time.Hour, time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)},
		{"0 3 * * *", 12 * time.Hour, time.Time{}},
		{"", time.Hour, time.Time{}},
	} {
		t.Run(c.spec, func(t *testing.T) {
			got, err := fleet.LatestSlot(c.spec, now, c.catchUp)
			require.NoError(t, err)
			require.True(t, c.want.Equal(got), "got %s, want %s", got, c.want)
		})
	}
	_, err := fleet.LatestSlot("61 * * * *", now, time.Hour)
	require.ErrorIs(t, err, retention.ErrInvalidPolicy)
}

// A policy with a drill schedule gets a drill job per drill slot on a
// member with a Restorer: enqueued beside the slot's backup, it waits
// (retrying) until the backup committed, then passes on that snapshot.
func TestDrillSlot(t *testing.T) {
	w := newWorld(t)
	p := retention.Policy{IncrementalDays: 7, Schedule: "0 * * * *", DrillSchedule: "0 */2 * * *"}
	require.NoError(t, retention.NewPolicies(w.store, nil).Set(master(), "alpha", p))
	e := w.engine()
	m, err := fleet.New(w.pool, &fleet.Config{
		Engine: e, Policies: retention.NewPolicies(w.store, nil), Source: dataSource, Clock: w.clock, Auditor: w,
		Restorer: restore.New(e, &restore.Config{Auditor: w, Clock: w.clock}),
		Tenants:  func(context.Context) ([]string, error) { return []string{"alpha"}, nil },
		CatchUp:  20 * time.Minute, EnqueueInterval: time.Hour, PollInterval: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	w.run(m)
	waitFor(t, "the leader's first enqueue", settled(t, m, 1, fleet.KindEnqueue))

	w.clock.Set(start.Add(30 * time.Minute)) // 01:00: a backup slot, no drill slot
	rep, err := m.EnqueueDue(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, rep.Inserted+rep.Duplicates)
	w.clock.Set(start.Add(90 * time.Minute)) // 02:00: both
	rep, err = m.EnqueueDue(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, rep.Inserted+rep.Duplicates)
	waitFor(t, "backups, retention runs and the drill", settled(t, m, 5, fleet.KindBackup, fleet.KindRetention, fleet.KindDrill))

	drills := jobs(t, m, fleet.KindDrill)
	require.Len(t, drills, 1)
	d := drills[0]
	require.Equal(t, rivertype.JobStateCompleted, d.State, "drill errors: %v", d.Errors)
	var out struct {
		Output fleet.DrillResult `json:"output"`
	}
	require.NoError(t, json.Unmarshal(d.Metadata, &out))
	v := out.Output.Validation
	require.Equal(t, restore.StatusPassed, v.Status, v.Report)
	newest := catalog(t, e, "alpha")[0].ID
	require.Equal(t, newest, v.SnapshotID, "the drill restored the newest snapshot")
	require.Empty(t, out.Output.Alerts)
	st, err := retention.NewPolicies(w.store, nil).DrillStatus(master(), "alpha")
	require.NoError(t, err)
	require.Equal(t, [3]any{restore.StatusPassed, 1, newest}, [3]any{st.LastStatus, st.Passed, st.SnapshotID}, "stored drill status %+v", st)
}

// A drill job that finds the tenant's data damaged (every pack's bytes
// altered in the store) is cancelled, not retried, and alerts the failed
// drill once: its audit event and one call of Config.DrillAlert.
func TestFailedDrillAlertsOnce(t *testing.T) {
	w := newWorld(t)
	p := retention.Policy{IncrementalDays: 7, Schedule: "0 * * * *", DrillSchedule: "0 */2 * * *"}
	require.NoError(t, retention.NewPolicies(w.store, nil).Set(master(), "alpha", p))
	e := w.engine()
	var alerts []retention.DrillAlert
	var mu sync.Mutex
	m, err := fleet.New(w.pool, &fleet.Config{
		Engine: e, Policies: retention.NewPolicies(w.store, &retention.Config{Auditor: w}), Source: dataSource,
		Clock: w.clock, Auditor: w, Restorer: restore.New(e, &restore.Config{Auditor: w, Clock: w.clock}),
		DrillAlert: func(_ context.Context, a retention.DrillAlert) {
			mu.Lock()
			defer mu.Unlock()
			alerts = append(alerts, a)
		},
		Tenants: func(context.Context) ([]string, error) { return []string{"alpha"}, nil },
		CatchUp: 20 * time.Minute, EnqueueInterval: time.Hour, PollInterval: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	src, _ := dataSource(t.Context(), "alpha")
	_, err = e.Backup(master(), "alpha", src, &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	damaged := 0
	for oi, err := range w.store.List(t.Context(), "") {
		require.NoError(t, err)
		if !strings.Contains(oi.Key, "/packs/") {
			continue
		}
		b, err := storage.ReadAllLimit(t.Context(), w.store, oi.Key, 1<<30)
		require.NoError(t, err)
		b[len(b)/2] ^= 0xff
		require.NoError(t, storage.PutBytes(t.Context(), w.store, oi.Key, b, nil))
		damaged++
	}
	require.NotZero(t, damaged, "packs damaged")

	res, err := m.Client().Insert(t.Context(), fleet.DrillArgs{Tenant: "alpha", Slot: w.clock.Now()}, nil)
	require.NoError(t, err)
	w.run(m)
	j := finalized(t, m, res.Job.ID, "the drill job")
	require.Equal(t, rivertype.JobStateCancelled, j.State, "a failed drill is not retried")
	var out struct {
		Output fleet.DrillResult `json:"output"`
	}
	require.NoError(t, json.Unmarshal(j.Metadata, &out))
	require.Equal(t, restore.StatusFailed, out.Output.Validation.Status)
	require.Len(t, out.Output.Alerts, 1)
	require.Equal(t, audit.DrillConditionFailed, out.Output.Alerts[0].Condition)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, alerts, 1, "Config.DrillAlert calls")
	require.Equal(t, [2]string{"alpha", audit.DrillConditionFailed}, [2]string{alerts[0].Tenant, alerts[0].Condition})
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, ev := range w.events {
		if ev.Type == audit.TypeDrillAlert {
			n++
			require.Equal(t, audit.DrillConditionFailed, ev.Data[audit.DataCondition])
		}
	}
	require.Equal(t, 1, n, "drill.alert events")
}

// A backup job whose slot's snapshot already exists (an earlier attempt
// committed it, then its member died before River heard) completes
// without a second snapshot, and still enqueues the slot's retention run.
func TestRetriedBackupTakesNoSecondSnapshot(t *testing.T) {
	w := newWorld(t)
	w.clock.Set(start.Add(30 * time.Minute))
	slot := w.clock.Now()
	e := w.engine()
	src, _ := dataSource(t.Context(), "alpha")
	first, err := e.Backup(master(), "alpha", src, &backup.Options{Type: backup.Full, Tags: []string{"scheduled", fleet.SlotTag(slot)}})
	require.NoError(t, err)

	m := w.member("a", dataSource, time.Hour)
	res, err := m.Client().Insert(t.Context(), fleet.BackupArgs{Tenant: "alpha", Slot: slot}, nil)
	require.NoError(t, err)
	w.run(m)
	j := finalized(t, m, res.Job.ID, "the backup job")
	require.Equal(t, rivertype.JobStateCompleted, j.State, "errors: %v", j.Errors)
	var out struct {
		Output fleet.BackupResult `json:"output"`
	}
	require.NoError(t, json.Unmarshal(j.Metadata, &out))
	require.Equal(t, fleet.BackupResult{SnapshotID: first.ID, Type: backup.Full, Repeated: true}, out.Output)
	cat := catalog(t, e, "alpha")
	require.Len(t, cat, 1, "a second snapshot of the slot")
	waitFor(t, "the slot's retention run", func() bool {
		for _, r := range jobs(t, m, fleet.KindRetention) {
			var a fleet.RetentionArgs
			require.NoError(t, json.Unmarshal(r.EncodedArgs, &a))
			if a.Tenant == "alpha" && a.Slot.Equal(slot) && r.State == rivertype.JobStateCompleted {
				return true
			}
		}
		return false
	})
}

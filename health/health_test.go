package health_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/health"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

func master() context.Context {
	return steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
}

var recordKey = []byte("health test record key, 32 bytes")

// flakyKeys is a key provider whose KMS can be made unreachable.
type flakyKeys struct {
	backup.KeyProvider
	down atomic.Bool
}

var errKMSDown = errors.New("kms: connection refused")

func (k *flakyKeys) Wrap(ctx context.Context, scope string, key []byte) ([]byte, error) {
	if k.down.Load() {
		return nil, errKMSDown
	}
	return k.KeyProvider.Wrap(ctx, scope, key)
}

// fixture is one tenant, acme, on a fault-injecting memory store, with
// an audit log, policies, a scheduler that backs it up nightly at 02:00
// and drills it daily at 03:00, and a Checker over all of it.
type fixture struct {
	clock   *fakeclock.Clock
	mem     storage.Store
	faults  *faultstore.Store
	keys    *flakyKeys
	engine  *backup.Engine
	sched   *retention.Scheduler
	checker *health.Checker
	reader  *sdkmetric.ManualReader
	cfg     health.Config
}

var day0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newFixture(t testing.TB) *fixture {
	f := &fixture{clock: fakeclock.New(day0), mem: storage.NewMemory()}
	f.faults = faultstore.New(f.mem, 1)
	f.keys = &flakyKeys{KeyProvider: backup.PassphraseWithOptions("p", backup.PassphraseOptions{Time: 1, MemoryKiB: 1024, Threads: 1})}
	ctx := context.Background()
	log, err := audit.NewLog(ctx, f.faults, &audit.LogConfig{Clock: f.clock, RecordKey: recordKey, CheckpointEvery: 10})
	require.NoError(t, err)
	f.engine, err = backup.New(f.faults, &backup.Config{Clock: f.clock, Auditor: log, Keys: f.keys})
	require.NoError(t, err)
	policies := retention.NewPolicies(f.faults, &retention.Config{Clock: f.clock, Auditor: log})
	require.NoError(t, policies.Set(master(), "acme", retention.Policy{KeepLast: 5, Schedule: "0 2 * * *",
		RPOIncremental: retention.Duration(24 * time.Hour), RPOFull: retention.Duration(7 * 24 * time.Hour),
		DrillSchedule: "0 3 * * *", DrillTTRSLO: retention.Duration(time.Hour)}))
	f.sched, err = retention.NewScheduler(&retention.SchedulerConfig{Engine: f.engine, Policies: policies, Clock: f.clock, Auditor: log,
		Restorer: restore.New(f.engine, &restore.Config{Clock: f.clock, Auditor: log}),
		Tenants:  func(context.Context) ([]string, error) { return []string{"acme"}, nil },
		Source: func(context.Context, string) (backup.Source, error) {
			return backup.FSSource(fstest.MapFS{"users/a.json": {Data: []byte(f.clock.Now().String()), Mode: 0o644}}), nil
		}})
	require.NoError(t, err)
	f.reader = sdkmetric.NewManualReader()
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.reader)).Meter("health-test")
	f.cfg = health.Config{Engine: f.engine, Policies: policies, Log: log, Keys: f.keys, KeyCheckEvery: -1, Clock: f.clock, Meter: meter}
	f.checker, err = health.New(&f.cfg)
	require.NoError(t, err)
	return f
}

// runAt moves the clock to at and runs the scheduler's due work.
func (f *fixture) runAt(t testing.TB, at time.Time) {
	f.clock.Set(at)
	rep, err := f.sched.RunDue(master())
	require.NoError(t, err)
	require.Zero(t, rep.Failed, "%v", rep.Errors)
	require.Empty(t, rep.DrillErrors)
}

// requireHealthy requires an ok report with every check present.
func requireHealthy(t *testing.T, f *fixture, why string) health.Report {
	t.Helper()
	rep := f.checker.Check(context.Background())
	require.Equal(t, health.StatusOK, rep.Status, "%s: degraded: %+v", why, rep.Degraded())
	var checks []string
	for _, r := range rep.Results {
		checks = append(checks, r.Check+"/"+r.Tenant)
		require.False(t, r.LastSuccess.IsZero(), "%s/%s never succeeded", r.Check, r.Tenant)
	}
	require.ElementsMatch(t, []string{"store/", "conditional_create/", "audit_chain/", "key_provider/", "tenants/",
		"locks/acme", "rpo/acme", "drill/acme"}, checks)
	return rep
}

// requireDegraded requires a degraded report whose only failing result
// is check for tenant, with a message containing want.
func requireDegraded(t *testing.T, f *fixture, check, tenant, want string) health.Result {
	t.Helper()
	rep := f.checker.Check(context.Background())
	require.Equal(t, health.StatusDegraded, rep.Status)
	bad := rep.Degraded()
	require.Len(t, bad, 1, "want only %s/%s degraded, got %+v", check, tenant, bad)
	require.Equal(t, check, bad[0].Check)
	require.Equal(t, tenant, bad[0].Tenant)
	require.Contains(t, bad[0].Message, want)
	return bad[0]
}

// TestReportDegradesAndRecovers turns each check degraded in turn and
// back: an unwritable store, a store ignoring conditional create, a
// stale lock, an RPO breach, an overdue drill, a tampered audit record,
// an unreachable key provider. Each time the report names exactly the
// failing check and tenant, and recovers when the cause is gone.
func TestReportDegradesAndRecovers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.runAt(t, day0.Add(3*time.Hour+30*time.Minute)) // the 02:00 backup and the 03:00 drill
	first := requireHealthy(t, f, "after the first backup and drill")
	require.NotZero(t, first.AuditVerifiedSeq)

	t.Run("store unwritable", func(t *testing.T) {
		f.faults.AddRule(&faultstore.Rule{Op: faultstore.OpPut, FromNth: 1, Permanent: true})
		r := requireDegraded(t, f, health.CheckStore, "", "refuses writes")
		require.Equal(t, first.CheckedAt, r.LastSuccess, "the last success is the first check's")
		f.faults.ClearRules()
		requireHealthy(t, f, "store writable again")
	})
	t.Run("conditional create ignored", func(t *testing.T) {
		f.faults.IgnoreIfNotExist = true
		requireDegraded(t, f, health.CheckConditionalCreate, "", "ignores conditional create")
		f.faults.IgnoreIfNotExist = false
		requireHealthy(t, f, "conditional create honoured again")
	})
	t.Run("stale lock", func(t *testing.T) {
		body := fmt.Sprintf(`{"owner":"backup by ops","exclusive":false,"created":%q,"refreshed":%q}`,
			f.clock.Now().Add(-time.Hour).Format(time.RFC3339), f.clock.Now().Add(-backup.LockStaleAfter-time.Minute).Format(time.RFC3339))
		require.NoError(t, storage.PutBytes(ctx, f.mem, "tenants/acme/locks/0123abcd", []byte(body), nil))
		requireDegraded(t, f, health.CheckLocks, "acme", `"backup by ops"`)
		removed, err := f.engine.Unlock(master(), "acme", false)
		require.NoError(t, err)
		require.Len(t, removed, 1)
		requireHealthy(t, f, "stale lock removed")
	})
	t.Run("RPO breached", func(t *testing.T) {
		f.clock.Set(day0.AddDate(0, 0, 1).Add(5 * time.Hour)) // the 02:00 backup was missed
		requireDegraded(t, f, health.CheckRPO, "acme", "newest backup is 25h30m0s old (RPO 24h0m0s)")
		_, err := f.engine.Backup(master(), "acme", backup.FSSource(fstest.MapFS{"users/a.json": {Data: []byte("x"), Mode: 0o644}}), &backup.Options{})
		require.NoError(t, err)
		requireHealthy(t, f, "backed up again")
	})
	t.Run("drill overdue", func(t *testing.T) {
		// Last successful drill day 0 03:00: the day 2 03:00 slot is the
		// deadline. A backup keeps the RPO.
		f.clock.Set(day0.AddDate(0, 0, 2).Add(4 * time.Hour))
		_, err := f.engine.Backup(master(), "acme", backup.FSSource(fstest.MapFS{"users/a.json": {Data: []byte("y"), Mode: 0o644}}), &backup.Options{})
		require.NoError(t, err)
		requireDegraded(t, f, health.CheckDrill, "acme", "drill overdue: last successful drill 2026-01-01T03:30:00Z, due by 2026-01-03T03:00:00Z")
		f.runAt(t, f.clock.Now()) // the scheduler catches up: a backup and a drill
		requireHealthy(t, f, "drilled again")
	})
	t.Run("audit chain broken", func(t *testing.T) {
		before := f.checker.Check(ctx).AuditVerifiedSeq
		_, err := f.engine.Unlock(master(), "acme", false) // one more audit event
		require.NoError(t, err)
		newest := fmt.Sprintf("audit/events/%020d", before+1)
		orig, err := storage.ReadAll(ctx, f.mem, newest)
		require.NoError(t, err)
		var rec map[string]any
		require.NoError(t, json.Unmarshal(orig, &rec))
		rec["prev"] = "0000"
		edited, _ := json.Marshal(rec)
		require.NoError(t, storage.PutBytes(ctx, f.mem, newest, edited, nil))
		r := requireDegraded(t, f, health.CheckAuditChain, "", fmt.Sprintf("does not verify after sequence %d", before))
		require.Contains(t, r.Message, fmt.Sprintf("log tampered at %d", before+1))
		require.Equal(t, before, f.checker.Check(ctx).AuditVerifiedSeq, "still verified only up to where it was")
		require.NoError(t, storage.PutBytes(ctx, f.mem, newest, orig, nil))
		rep := requireHealthy(t, f, "record restored")
		require.Equal(t, before+1, rep.AuditVerifiedSeq)
	})
	t.Run("key provider unreachable", func(t *testing.T) {
		f.keys.down.Store(true)
		requireDegraded(t, f, health.CheckKeyProvider, "", "connection refused")
		f.keys.down.Store(false)
		requireHealthy(t, f, "KMS back")
	})
}

// TestDrillFailedAndSlow: a failed latest drill and one over its SLO are
// each a degraded drill result for the tenant.
func TestDrillFailedAndSlow(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	clock := fakeclock.New(day0.Add(5 * time.Hour))
	e, err := backup.New(store, &backup.Config{Clock: clock})
	require.NoError(t, err)
	_, err = e.Backup(master(), "acme", backup.FSSource(fstest.MapFS{"users/a": {Data: []byte("a"), Mode: 0o644}}), nil)
	require.NoError(t, err)
	policies := retention.NewPolicies(store, nil)
	c, err := health.New(&health.Config{Engine: e, Policies: policies, Clock: clock})
	require.NoError(t, err)
	for _, st := range []struct {
		body, want string
	}{
		{`{"tenant":"acme","last_run":"2026-01-01T03:00:00Z","last_status":"failed","report":"data integrity: pack corrupt","failed":1}`, "latest drill (2026-01-01T03:00:00Z) failed: data integrity: pack corrupt"},
		{`{"tenant":"acme","last_run":"2026-01-01T03:00:00Z","last_status":"passed","last_success":"2026-01-01T03:00:00Z","ttr":"3h","slo":"1h","passed":1}`, "took 3h0m0s to restore, over its SLO of 1h0m0s"},
	} {
		require.NoError(t, storage.PutBytes(ctx, store, "policies/drills/acme.json", []byte(st.body), nil))
		rep := c.Check(ctx)
		bad := rep.Degraded()
		require.Len(t, bad, 1, "%+v", bad)
		require.Equal(t, health.CheckDrill, bad[0].Check)
		require.Equal(t, "acme", bad[0].Tenant)
		require.Contains(t, bad[0].Message, st.want)
	}
}

// TestHandler: the handler serves the report as JSON, 200 when ok and
// 503 when degraded, never cached; other methods are refused.
func TestHandler(t *testing.T) {
	f := newFixture(t)
	f.runAt(t, day0.Add(3*time.Hour+30*time.Minute))
	srv := httptest.NewServer(f.checker.Handler())
	defer srv.Close()
	get := func() (int, health.Report) {
		resp, err := http.Get(srv.URL)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		var rep health.Report
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&rep))
		return resp.StatusCode, rep
	}
	code, rep := get()
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, health.StatusOK, rep.Status)
	require.Len(t, rep.Results, 8)

	f.faults.AddRule(&faultstore.Rule{Op: faultstore.OpPut, FromNth: 1, Permanent: true})
	code, rep = get()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, health.StatusDegraded, rep.Status)
	require.Equal(t, health.CheckStore, rep.Degraded()[0].Check)
	f.faults.ClearRules()

	resp, err := http.Post(srv.URL, "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// TestGauges: one status gauge and one degraded-tenants gauge per check,
// with the check's name as the only attribute, from the newest report.
func TestGauges(t *testing.T) {
	f := newFixture(t)
	f.runAt(t, day0.Add(3*time.Hour+30*time.Minute))
	f.clock.Set(day0.AddDate(0, 0, 1).Add(5 * time.Hour)) // RPO breached
	f.checker.Check(context.Background())
	var rm metricdata.ResourceMetrics
	require.NoError(t, f.reader.Collect(context.Background(), &rm))
	status := map[string]int64{}
	tenants := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			g, ok := m.Data.(metricdata.Gauge[int64])
			require.True(t, ok, "%s is %T", m.Name, m.Data)
			for _, dp := range g.DataPoints {
				require.Equal(t, 1, dp.Attributes.Len(), "only the check attribute")
				check, _ := dp.Attributes.Value("check")
				switch m.Name {
				case health.MetricStatus:
					status[check.AsString()] = dp.Value
				case health.MetricDegradedTenants:
					tenants[check.AsString()] = dp.Value
				}
			}
		}
	}
	require.Equal(t, map[string]int64{"store": 1, "conditional_create": 1, "tenants": 1, "locks": 1, "rpo": 0, "drill": 1,
		"audit_chain": 1, "key_provider": 1}, status)
	require.Equal(t, int64(1), tenants["rpo"])
	require.Equal(t, int64(0), tenants["locks"])
}

// TestNewRefusesMissingEngine: New needs a Config with an Engine.
func TestNewRefusesMissingEngine(t *testing.T) {
	_, err := health.New(nil)
	require.ErrorIs(t, err, health.ErrConfig)
	_, err = health.New(&health.Config{})
	require.ErrorIs(t, err, health.ErrConfig)
}

// TestReadOnlyStore: a read-only store is degraded unless declared
// read-only, then it is listed, not written, and said so.
func TestReadOnlyStore(t *testing.T) {
	mem := storage.NewMemory()
	e, err := backup.New(storage.ReadOnly(mem), nil)
	require.NoError(t, err)
	c, err := health.New(&health.Config{Engine: e})
	require.NoError(t, err)
	rep := c.Check(context.Background())
	require.Equal(t, health.StatusDegraded, rep.Status)
	require.Contains(t, rep.Degraded()[0].Message, "set Config.ReadOnly")
	c, err = health.New(&health.Config{Engine: e, ReadOnly: true})
	require.NoError(t, err)
	rep = c.Check(context.Background())
	require.Equal(t, health.StatusOK, rep.Status, "%+v", rep.Degraded())
	require.Contains(t, rep.Results[0].Message, "read-only store reachable")
}

// BenchmarkCheck: a Check of ten tenants with every part configured, on
// a memory store: the store probe, the audit records appended since the
// last Check (none), the catalogs, policies and drill status, with the
// key provider checked every 5 minutes (the default) or at every Check
// (a passphrase's argon2id derivation, here with test parameters).
func BenchmarkCheck(b *testing.B) {
	f := newFixture(b)
	f.runAt(b, day0.Add(3*time.Hour+30*time.Minute))
	for i := range 9 {
		_, err := f.engine.Backup(master(), fmt.Sprintf("t%d", i), backup.FSSource(fstest.MapFS{"users/a": {Data: []byte("a"), Mode: 0o644}}), nil)
		require.NoError(b, err)
	}
	for _, every := range []time.Duration{0, -1} {
		cfg := f.cfg
		cfg.KeyCheckEvery, cfg.Meter = every, nil
		c, err := health.New(&cfg)
		require.NoError(b, err)
		name := "keys-every-5m"
		if every < 0 {
			name = "keys-every-check"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if rep := c.Check(ctx); rep.Status != health.StatusOK || len(rep.Results) != 35 {
					b.Fatalf("got %s with %d results, want ok with 35", rep.Status, len(rep.Results))
				}
			}
		})
	}
}

// TestAuditFullVerification: an edit to a record verified before is not
// seen by the incremental checks, and is by the full verification
// AuditFullEvery brings back; the record restored, the chain is ok again.
func TestAuditFullVerification(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New(day0)
	store := storage.NewMemory()
	log, err := audit.NewLog(ctx, store, &audit.LogConfig{Clock: clock, RecordKey: recordKey})
	require.NoError(t, err)
	e, err := backup.New(store, &backup.Config{Clock: clock, Auditor: log})
	require.NoError(t, err)
	for i := range 3 { // three events: record 1 is not the point verified
		_, err = e.Backup(master(), "acme", backup.FSSource(fstest.MapFS{"users/a": {Data: []byte{byte(i)}, Mode: 0o644}}), nil)
		require.NoError(t, err)
	}
	c, err := health.New(&health.Config{Engine: e, Log: log, Clock: clock})
	require.NoError(t, err)
	require.Equal(t, health.StatusOK, c.Check(ctx).Status)

	first := fmt.Sprintf("audit/events/%020d", 1)
	orig, err := storage.ReadAll(ctx, store, first)
	require.NoError(t, err)
	edited := bytes.Replace(orig, []byte(`backup.created`), []byte(`backup.deleted`), 1)
	require.NotEqual(t, orig, edited)
	require.NoError(t, storage.PutBytes(ctx, store, first, edited, nil))
	require.Equal(t, health.StatusOK, c.Check(ctx).Status, "an incremental check does not read record 1 again")

	clock.Advance(24 * time.Hour)
	rep := c.Check(ctx)
	bad := rep.Degraded()
	require.Len(t, bad, 1, "%+v", bad)
	require.Equal(t, health.CheckAuditChain, bad[0].Check)
	require.Contains(t, bad[0].Message, "audit chain does not verify: audit: log tampered at 1")

	require.NoError(t, storage.PutBytes(ctx, store, first, orig, nil))
	require.Equal(t, health.StatusOK, c.Check(ctx).Status)
}

package console

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/storage"
)

var internalRecordKey = []byte("console-test-record-key-32-bytes") // the bench's and the fixture's

var summaryEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// seedSummaryLog records n events over 40 days, spread over acme, globex
// and initech and of every kind the Overview sums up: backups (one in
// seven failed), restores with their time to restore, refusals, events of
// no tenant; the last ones through a second Log, as another process would.
func seedSummaryLog(t *testing.T, store storage.Store, n int) {
	t.Helper()
	ctx := context.Background()
	step := 40 * 24 * time.Hour / time.Duration(n)
	for w, part := range []int{n - 20, 20} {
		l, err := audit.NewLog(ctx, store, &audit.LogConfig{RecordKey: internalRecordKey, Authorizer: steward.TenantScoped()})
		require.NoError(t, err)
		for i := range part {
			i += w * (n - 20)
			e := audit.Event{Type: audit.TypeBackupCreated, Tenant: []string{"acme", "globex", "initech"}[i%3],
				UserID: "scheduler", Timestamp: summaryEpoch.Add(time.Duration(i) * step), Message: fmt.Sprint("event ", i)}
			switch i % 7 {
			case 1:
				e.Type, e.Level, e.Data = audit.TypeBackupFailed, audit.LevelError, map[string]any{audit.DataError: fmt.Sprint("disk full ", i)}
			case 2:
				e.Type, e.Data = audit.TypeRestoreCompleted, map[string]any{audit.DataTTRMS: 1000 + i}
			case 3:
				e.Type, e.Level = audit.TypeAccessDenied, audit.LevelWarning
			case 4:
				e.Type, e.Tenant = audit.TypeFlagChanged, ""
			}
			require.NoError(t, l.Record(ctx, e))
		}
	}
}

// summaryConsole is a console over log whose clock stands at now.
func summaryConsole(log *audit.Log, now time.Time) *console {
	return &console{cfg: Config{Log: log, Authorizer: steward.TenantScoped(), Clock: fixedNow(now)}}
}

type fixedNow time.Time

func (c fixedNow) Now() time.Time { return time.Time(c) }

// requestAs is a request's context for p.
func requestAs(p steward.Principal) context.Context {
	return withRequestState(steward.WithPrincipal(context.Background(), p))
}

// requireSummaryMatchesTheScan: what a tenant-scoped principal's Overview
// sums up of its tenant from the server's index is what the old path, a
// scan of the log with the principal's own rights (Log.Recent), sums up,
// whether the index was built for it or for the master before; and it
// holds nothing of the tenants the principal may not read, even when
// asked for them.
// It returns the summary.
func requireSummaryMatchesTheScan(t *testing.T, log *audit.Log, tenant, other string, now time.Time) *tenantEvents {
	t.Helper()
	acme := steward.Principal{ID: tenant + "-admin", Tenants: []string{tenant}}
	old := map[string]*tenantEvents{}
	summaryConsole(log, now).scanEvents(requestAs(acme), audit.Filter{Tenant: tenant}, now, old)
	require.NotNil(t, old[tenant])
	require.NotZero(t, old[tenant].week.Total)

	for _, first := range []string{"tenant", "master"} {
		c := summaryConsole(log, now)
		if first == "master" {
			all := c.backupEvents(requestAs(steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}}), []string{tenant, other}, now)
			require.NotNil(t, all[other], "the master sees %s", other)
		}
		got := c.backupEvents(requestAs(acme), []string{tenant, other}, now)
		require.True(t, c.shared.hasHistory(), "%s first: served from the index", first)
		require.Equal(t, old, got, "%s first", first)
		require.NotContains(t, got, other, "%s first", first)
	}
	return old[tenant]
}

func TestTenantSummaryFromTheIndexMatchesTheScan(t *testing.T) {
	store := storage.NewMemory()
	seedSummaryLog(t, store, 1500)
	log, err := audit.NewLog(context.Background(), store, &audit.LogConfig{RecordKey: internalRecordKey, Authorizer: steward.TenantScoped()})
	require.NoError(t, err)
	got := requireSummaryMatchesTheScan(t, log, "acme", "globex", summaryEpoch.Add(40*24*time.Hour))
	require.NotNil(t, got.lastFailure)
	require.Equal(t, "acme", got.lastFailure.Tenant)
	require.NotEmpty(t, got.ttrMS)
	require.NotZero(t, got.day.Total)
}

// The same on the benchmark's catalog (1,000 tenants, 10,000 events),
// when STEWARD_CONSOLE_BENCH_DIR names one that BenchmarkPages built.
func TestTenantSummaryFromTheIndexMatchesTheScanAtScale(t *testing.T) {
	dir := os.Getenv("STEWARD_CONSOLE_BENCH_DIR")
	if _, err := os.Stat(filepath.Join(dir, "complete")); dir == "" || err != nil {
		t.Skip("no benchmark catalog: run BenchmarkPages with STEWARD_CONSOLE_BENCH_DIR first")
	}
	ctx := context.Background()
	store, err := storage.Open(ctx, "file://"+filepath.ToSlash(dir))
	require.NoError(t, err)
	defer store.Close()
	log, err := audit.NewLog(ctx, store, &audit.LogConfig{RecordKey: internalRecordKey, Authorizer: steward.TenantScoped()})
	require.NoError(t, err)
	requireSummaryMatchesTheScan(t, log, "acme", "tenant-0001", time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC))
}

package console_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/console"
)

// warmedConsole is f's console warming its cache as warmAs, once warmed.
func warmedConsole(t *testing.T, f *fixture, warmAs steward.Principal) http.Handler {
	t.Helper()
	cfg := *f.cfg
	cfg.WarmAs, cfg.WarmContext = &warmAs, t.Context()
	h, err := console.New(&cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, console.WaitWarm(ctx, h))
	return h
}

// deniedTo returns the access.denied events of principal id.
func deniedTo(t *testing.T, log *audit.Log, id string) []audit.Event {
	t.Helper()
	evs, err := log.Query(masterCtx(), audit.Filter{Types: []audit.EventType{audit.TypeAccessDenied}, UserID: id})
	require.NoError(t, err)
	return evs
}

// Warmed by a principal of its own that may read everything, the console
// serves the master's first pages from memory, and a tenant's admin
// still sees only its tenant: what a page takes from the cache is
// authorized for the request's principal, not the one that warmed it.
func TestWarmedCacheServesEachPrincipalOnlyItsTenants(t *testing.T) {
	store := newCountingStore()
	f := newFixtureOn(t, store)
	require.NoError(t, f.log.Record(masterCtx(), audit.Event{Type: audit.TypeBackupFailed, Level: audit.LevelError,
		Tenant: "globex", Message: "globex secret failure"}))
	h := warmedConsole(t, f, steward.Principal{ID: "console-warm", Roles: []string{steward.RoleMaster}})
	require.Empty(t, deniedTo(t, f.log, "console-warm"))

	store.reset()
	for _, p := range []string{"/", "/snapshots", "/flags/new-ui/history", "/releases", "/audit?tenant=globex&type=backup.failed"} {
		body := get(t, h, userMaster, p).Body.String()
		gets, lists := store.reset()
		require.Zero(t, lists["tenants"], "%s listed a catalog after warming", p)
		require.Zero(t, gets["tenants"], "%s read a catalog after warming", p)
		require.LessOrEqual(t, gets["audit"], 3, "%s read %d audit records after warming", p, gets["audit"])
		if p == "/" || p == "/snapshots" {
			require.Contains(t, body, f.snaps["globex"][1].ID[:8], p)
			require.Contains(t, body, f.snaps["acme"][1].ID[:8], p)
		}
	}
	require.Contains(t, get(t, h, userMaster, "/").Body.String(), "globex secret failure")

	for _, p := range []string{"/", "/snapshots", "/audit", "/audit?type=backup.failed", "/restore", "/retention"} {
		w := get(t, h, userAcme, p)
		require.Equal(t, http.StatusOK, w.Code, p)
		require.NotContains(t, w.Body.String(), "globex", "%s shows another tenant to acme's admin", p)
	}
	require.Contains(t, get(t, h, userAcme, "/snapshots").Body.String(), f.snaps["acme"][1].ID[:8])
	for _, p := range []string{"/snapshots?tenant=globex", "/audit?tenant=globex", "/flags/new-ui/history", "/releases"} {
		w := get(t, h, userAcme, p)
		require.NotEqual(t, http.StatusOK, w.Code, p)
		require.NotContains(t, w.Body.String(), "globex secret", p)
	}
}

// A warm principal that may not list every tenant's backups keeps no
// catalog for the others (the master's first Overview reads them), and
// asks for nothing it would be refused; the log's history is warmed all
// the same (the server follows the log with its own rights).
func TestWarmingAsATenantAdminKeepsNoCatalog(t *testing.T) {
	store := newCountingStore()
	f := newFixtureOn(t, store)
	h := warmedConsole(t, f, steward.Principal{ID: "acme-warm", Tenants: []string{"acme"}})
	require.Empty(t, deniedTo(t, f.log, "acme-warm"))
	store.reset()
	require.Equal(t, http.StatusOK, get(t, h, userMaster, "/flags/new-ui/history").Code)
	gets, _ := store.reset()
	require.LessOrEqual(t, gets["audit"], 2, "the history was warmed")
	body := get(t, h, userMaster, "/").Body.String()
	_, lists := store.reset()
	require.NotZero(t, lists["tenants"], "the master's Overview read the catalogs itself")
	require.Contains(t, body, `data-testid="tenant-globex"`)
}

// Warming walks the audit chain once, so the first chain status of the
// process checks only what was appended since; an edit warming finds is
// still what that first status shows.
func TestWarmingWalksTheAuditChain(t *testing.T) {
	store := newCountingStore()
	f := newFixtureOn(t, store)
	h := warmedConsole(t, f, steward.Principal{ID: "console-warm", Roles: []string{steward.RoleMaster}})
	store.reset()
	body := get(t, h, userMaster, "/audit/verify").Body.String()
	gets, _ := store.reset()
	require.Contains(t, body, "chain verified")
	require.Contains(t, body, "0 new events checked since the last verification (every event checked ")
	require.LessOrEqual(t, gets["audit"], 3, "the first status read %d audit records", gets["audit"])
	warmedConsole(t, f, steward.Principal{ID: "acme-warm", Tenants: []string{"acme"}})
	require.Empty(t, deniedTo(t, f.log, "acme-warm"), "a tenant's admin does not try to walk the chain")

	key := "audit/events/00000000000000000003"
	rc, err := store.Get(masterCtx(), key)
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	edited := strings.Replace(string(b), `"tenant":"globex"`, `"tenant":"evil"`, 1)
	require.NotEqual(t, string(b), edited)
	require.NoError(t, store.Put(masterCtx(), key, strings.NewReader(edited), nil))
	h = warmedConsole(t, f, steward.Principal{ID: "console-warm", Roles: []string{steward.RoleMaster}})
	body = get(t, h, userMaster, "/audit/verify").Body.String()
	require.Contains(t, body, "not verified", "the edit warming found is reported")
	require.NotContains(t, body, "chain verified")
}

// Warming stops with its context, and leaves the console working: a
// request that finds nothing kept reads for itself and keeps it.
func TestWarmingStopsWithItsContext(t *testing.T) {
	store := newCountingStore()
	f := newFixtureOn(t, store)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	cfg := *f.cfg
	cfg.WarmAs, cfg.WarmContext = &steward.Principal{ID: "console-warm", Roles: []string{steward.RoleMaster}}, ctx
	h, err := console.New(&cfg)
	require.NoError(t, err)
	wait, stop := context.WithTimeout(t.Context(), 10*time.Second)
	defer stop()
	require.NoError(t, console.WaitWarm(wait, h))
	for range 2 {
		body := get(t, h, userMaster, "/").Body.String()
		require.Contains(t, body, `data-testid="tenant-globex"`)
		require.Contains(t, body, `data-testid="tenant-acme"`)
	}
	store.reset()
	get(t, h, userMaster, "/")
	_, lists := store.reset()
	require.Zero(t, lists["tenants"], "the cache works after warming stopped")

	_, err = console.New(&console.Config{Authenticate: authenticate, WarmAs: &steward.Principal{}})
	require.ErrorIs(t, err, console.ErrConfig, "a warm principal needs an ID")
	require.Error(t, console.WaitWarm(t.Context(), f.h), "f.h does not warm")
}

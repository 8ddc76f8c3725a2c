package console_test

import (
	"context"
	"io"
	"iter"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/console"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// countingStore counts Gets and Lists by key prefix.
type countingStore struct {
	storage.Store
	mu    sync.Mutex
	gets  map[string]int
	lists map[string]int
}

func newCountingStore() *countingStore {
	return &countingStore{Store: storage.NewMemory(), gets: map[string]int{}, lists: map[string]int{}}
}

func (s *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	s.count(s.gets, key)
	return s.Store.Get(ctx, key)
}

func (s *countingStore) List(ctx context.Context, prefix string) iter.Seq2[storage.ObjectInfo, error] {
	s.count(s.lists, prefix)
	return s.Store.List(ctx, prefix)
}

// count adds one under key's first element ("tenants", "audit", ...).
func (s *countingStore) count(m map[string]int, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	top, _, _ := strings.Cut(key, "/")
	m[top]++
}

// reset zeroes the counts and returns them.
func (s *countingStore) reset() (gets, lists map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gets, lists = s.gets, s.lists
	s.gets, s.lists = map[string]int{}, map[string]int{}
	return gets, lists
}

// Once the console has read the catalogs, a page reads none of them
// again, nor the audit log's history: only the events appended since
// (two reads when there are none).
func TestPagesReuseCatalogsUntilTheLogSaysOtherwise(t *testing.T) {
	store := newCountingStore()
	f := newFixtureOn(t, store)
	for _, p := range []string{"/", "/snapshots", "/flags/new-ui/history", "/releases"} {
		require.Equal(t, http.StatusOK, get(t, f.h, userMaster, p).Code, p)
	}
	store.reset()
	for _, p := range []string{"/", "/snapshots", "/flags/new-ui/history", "/releases"} {
		require.Equal(t, http.StatusOK, get(t, f.h, userMaster, p).Code, p)
		gets, lists := store.reset()
		require.Zero(t, lists["tenants"], "%s listed a catalog again", p)
		require.Zero(t, gets["tenants"], "%s read a catalog again", p)
		require.LessOrEqual(t, gets["audit"], 2, "%s read %d audit records with none new", p, gets["audit"])
	}
}

// A backup, a forget or a policy change, in this process or another one
// writing the same store, shows on the next request: its audit event
// makes the console forget what it kept of the tenant.
func TestPagesSeeChangesTheLogRecords(t *testing.T) {
	f := newFixture(t)
	require.Equal(t, 2, strings.Count(get(t, f.h, userMaster, "/snapshots?tenant=acme").Body.String(), `<tr data-testid="snapshot-`))
	require.Contains(t, get(t, f.h, userMaster, "/").Body.String(), `data-testid="tenant-acme"`)
	require.Equal(t, 4, strings.Count(get(t, f.h, userMaster, "/snapshots").Body.String(), `<tr data-testid="snapshot-`))

	// Another process: its own Log and Engine over the same store.
	ctx := masterCtx()
	log, err := audit.NewLog(ctx, f.store, &audit.LogConfig{RecordKey: recordKey, Authorizer: steward.TenantScoped()})
	require.NoError(t, err)
	other, err := backup.New(f.store, &backup.Config{Auditor: log, Authorizer: steward.TenantScoped()})
	require.NoError(t, err)
	s, err := other.Backup(ctx, "acme", backup.FSSource(fstest.MapFS{"users/dave.json": {Data: []byte("{}")}}), nil)
	require.NoError(t, err)
	_, err = other.Backup(ctx, "initech", backup.FSSource(fstest.MapFS{"a": {Data: []byte("a")}}), nil)
	require.NoError(t, err)
	body := get(t, f.h, userMaster, "/snapshots?tenant=acme").Body.String()
	require.Equal(t, 3, strings.Count(body, `<tr data-testid="snapshot-`))
	require.Contains(t, body, s.ID)
	require.Contains(t, get(t, f.h, userMaster, "/snapshots").Body.String(), s.ID, "the merged list of every tenant's")
	require.Contains(t, get(t, f.h, userMaster, "/").Body.String(), `data-testid="tenant-initech"`, "a new tenant")

	require.NoError(t, f.engine.Forget(ctx, "acme", s.ID))
	require.NotContains(t, get(t, f.h, userMaster, "/snapshots?tenant=acme").Body.String(), s.ID)
	require.NotContains(t, get(t, f.h, userMaster, "/snapshots").Body.String(), s.ID)

	p := retention.Policy{KeepLast: 3, RPOIncremental: retention.Duration(90 * time.Minute)}
	require.NoError(t, f.cfg.Policies.Set(ctx, "acme", p))
	require.Contains(t, get(t, f.h, userMaster, "/").Body.String(), "<td>1h 30m</td>", "the RPO of the new policy")
}

// A principal that may not read the audit log gets pages read for it
// alone, without the shared cache.
func TestPagesWorkWithoutTheRightToReadTheLog(t *testing.T) {
	f := newFixture(t)
	cfg := *f.cfg
	cfg.Authorizer = steward.AuthorizerFunc(func(ctx context.Context, a steward.Action, tenant string) error {
		if a == steward.ActionAuditRead {
			return steward.ErrForbidden
		}
		return steward.TenantScoped().Authorize(ctx, a, tenant)
	})
	h, err := console.New(&cfg)
	require.NoError(t, err)
	require.Contains(t, get(t, h, userMaster, "/snapshots?tenant=acme").Body.String(), f.snaps["acme"][1].ID)

	// The server follows the log for itself, but serves none of it to them.
	require.NoError(t, f.log.Record(masterCtx(), audit.Event{Type: audit.TypeBackupFailed, Level: audit.LevelError,
		Tenant: "globex", Message: "globex secret failure"}))
	for _, user := range []string{userMaster, userAcme} {
		w := get(t, h, user, "/")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.NotContains(t, w.Body.String(), "secret", user)
		require.Equal(t, http.StatusForbidden, get(t, h, user, "/audit").Code, user)
		require.Equal(t, http.StatusForbidden, get(t, h, user, "/audit?tenant=globex&before=9").Code, user)
	}
	require.Contains(t, get(t, f.h, userMaster, "/").Body.String(), "secret", "with the right, the failure shows")
}

// A filtered Audit page shows what the log holds, newest first, and once
// the console has followed the log it reads only the events it shows.
func TestFilteredAuditPageReadsOnlyWhatItShows(t *testing.T) {
	store := newCountingStore()
	f := newFixtureOn(t, store)
	for path, filter := range map[string]audit.Filter{
		"/audit?tenant=acme&type=backup.created": {Tenant: "acme", Types: []audit.EventType{audit.TypeBackupCreated}},
		"/audit?type=flag.changed":               {Types: []audit.EventType{audit.TypeFlagChanged}},
	} {
		want, err := f.log.Query(masterCtx(), filter)
		require.NoError(t, err)
		require.NotEmpty(t, want, path)
		get(t, f.h, userMaster, path) // follows the log
		store.reset()
		body := get(t, f.h, userMaster, path).Body.String()
		gets, _ := store.reset()
		require.LessOrEqual(t, gets["audit"], len(want)+2, "%s: %d audit reads for %d events", path, gets["audit"], len(want))
		last := -1
		for i := len(want) - 1; i >= 0; i-- { // newest first
			at := strings.Index(body, want[i].ID)
			require.Greater(t, at, last, "%s: event %s missing or out of order", path, want[i].ID)
			last = at
		}
	}
}

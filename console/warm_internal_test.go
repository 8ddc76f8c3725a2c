package console

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// blockedRead is a catalog read that waits for release, counted in calls.
func blockedRead(calls *atomic.Int32, started chan<- struct{}, release <-chan struct{}, snaps []backup.Snapshot, err error) readFunc {
	return func(ctx context.Context, _ string) ([]backup.Snapshot, error) {
		calls.Add(1)
		close(started)
		<-release
		return snaps, err
	}
}

// loadAsync runs loadCatalog in a goroutine; its result arrives on the
// channel.
func loadAsync(ctx context.Context, s *shared, read readFunc) <-chan error {
	out := make(chan error, 1)
	go func() {
		_, err := s.loadCatalog(ctx, "acme", read)
		out <- err
	}()
	return out
}

// A catalog being read for the shared cache is not read again by those
// that need it meanwhile: they wait for the read and get what it read.
// One that comes after an event of the tenant reads for itself, and the
// read from before is not kept.
func TestLoadCatalogWaitsForTheReadInFlight(t *testing.T) {
	ctx := context.Background()
	s := &shared{tenants: []string{"acme"}}
	want := []backup.Snapshot{{ID: "s1", Tenant: "acme"}}
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	first := loadAsync(ctx, s, blockedRead(&calls, started, release, want, nil))
	<-started
	var got []backup.Snapshot
	waited := make(chan error, 1)
	go func() {
		var err error
		got, err = s.loadCatalog(ctx, "acme", func(context.Context, string) ([]backup.Snapshot, error) {
			calls.Add(1)
			return nil, errors.New("read again")
		})
		waited <- err
	}()
	time.Sleep(50 * time.Millisecond) // the second call waits on the flight
	close(release)
	require.NoError(t, <-first)
	require.NoError(t, <-waited)
	require.Equal(t, want, got)
	require.EqualValues(t, 1, calls.Load(), "one read for both")

	// After an event of the tenant, a read in flight from before is not
	// waited for.
	s.forget(&audit.Event{Type: audit.TypeBackupCreated, Tenant: "acme"})
	started, release = make(chan struct{}), make(chan struct{})
	stale := loadAsync(ctx, s, blockedRead(&calls, started, release, want, nil))
	<-started
	s.forget(&audit.Event{Type: audit.TypeBackupCreated, Tenant: "acme"})
	fresh := []backup.Snapshot{{ID: "s2", Tenant: "acme"}}
	got, err := s.loadCatalog(ctx, "acme", func(context.Context, string) ([]backup.Snapshot, error) { return fresh, nil })
	require.NoError(t, err)
	require.Equal(t, fresh, got, "read for itself, not waiting for the stale read")
	close(release)
	require.NoError(t, <-stale)
	got, err = s.loadCatalog(ctx, "acme", nil)
	require.NoError(t, err)
	require.Equal(t, fresh, got, "the stale read was not kept")
}

// When the read in flight fails, its waiters read for themselves and keep
// what they read; a waiter that gives up returns at once.
func TestLoadCatalogWaiterOfAFailedRead(t *testing.T) {
	ctx := context.Background()
	s := &shared{tenants: []string{"acme"}}
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	failed := loadAsync(ctx, s, blockedRead(&calls, started, release, nil, context.Canceled))
	<-started

	gaveUp, cancel := context.WithCancel(ctx)
	cancel()
	_, err := s.loadCatalog(gaveUp, "acme", nil)
	require.ErrorIs(t, err, context.Canceled, "a waiter that gave up returns at once")

	want := []backup.Snapshot{{ID: "s1", Tenant: "acme"}}
	var got []backup.Snapshot
	waited := make(chan error, 1)
	go func() {
		var err error
		got, err = s.loadCatalog(ctx, "acme", func(context.Context, string) ([]backup.Snapshot, error) { return want, nil })
		waited <- err
	}()
	time.Sleep(50 * time.Millisecond) // the call waits on the flight
	close(release)
	require.ErrorIs(t, <-failed, context.Canceled)
	require.NoError(t, <-waited)
	require.Equal(t, want, got, "the waiter read for itself")
	got, err = s.loadCatalog(ctx, "acme", nil)
	require.NoError(t, err)
	require.Equal(t, want, got, "and kept it")
}

// cancelingStore cancels its context on the Get after the first left.
type cancelingStore struct {
	storage.Store
	left   atomic.Int32
	cancel context.CancelFunc
}

func (s *cancelingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if s.left.Add(-1) == 0 {
		s.cancel()
		return nil, ctx.Err()
	}
	return s.Store.Get(ctx, key)
}

// A read of the log's history that its caller (warming, a request) gives
// up part way is not the log's failure: the cache is not reset, and the
// next read of the history keeps each event once.
func TestHistoryReadGivenUpIsReadAgainWhole(t *testing.T) {
	mem := storage.NewMemory()
	seedSummaryLog(t, mem, 300)
	store := &cancelingStore{Store: mem}
	store.left.Store(1 << 30)
	log, err := audit.NewLog(context.Background(), store, &audit.LogConfig{RecordKey: internalRecordKey, Authorizer: steward.TenantScoped()})
	require.NoError(t, err)
	c := summaryConsole(log, summaryEpoch.Add(40*24*time.Hour))
	master := steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}}
	require.True(t, c.useShared(requestAs(master), false))

	ctx, cancel := context.WithCancel(steward.WithPrincipal(context.Background(), master))
	store.left.Store(100)
	store.cancel = cancel
	require.False(t, c.useShared(withRequestState(ctx), true), "given up")
	require.False(t, c.shared.hasHistory())
	require.True(t, c.shared.failedAt.IsZero(), "not taken for the log's failure")

	store.left.Store(1 << 30)
	require.True(t, c.useShared(requestAs(master), true))
	require.Len(t, c.shared.events, 300, "each event once")
}

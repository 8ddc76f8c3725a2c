package retention_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// eventLog collects audit events of one type.
type eventLog struct {
	mu     sync.Mutex
	typ    audit.EventType
	events []audit.Event
}

func (l *eventLog) Record(_ context.Context, e audit.Event) error {
	if e.Type == l.typ {
		l.mu.Lock()
		l.events = append(l.events, e)
		l.mu.Unlock()
	}
	return nil
}

func (l *eventLog) all() []audit.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]audit.Event(nil), l.events...)
}

// TestApplyAuditsSuccessAndFailure: a real Apply records retention.applied
// with the counts; an Apply whose forget fails in the store returns the
// store's error, records a failure event naming it, and forgets nothing.
func TestApplyAuditsSuccessAndFailure(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	mem := storage.NewMemory()
	fs := faultstore.New(mem, 1)
	log := &eventLog{typ: audit.TypeRetentionApplied}
	e, err := backup.New(fs, &backup.Config{Clock: clock, Auditor: log})
	require.NoError(t, err)
	rc := &retention.Config{Clock: clock, Auditor: log}
	ctx := master()
	for d := range 6 {
		clock.Set(time.Date(2026, 3, 1+d, 2, 0, 0, 0, time.UTC))
		_, err := e.Backup(ctx, "acme", backup.FSSource(fstest.MapFS{"m/f": {Data: []byte(fmt.Sprint(d)), Mode: 0o644}}), nil)
		require.NoError(t, err)
	}

	fs.AddRule(&faultstore.Rule{Op: faultstore.OpDelete, KeyPrefix: "tenants/acme/snapshots/", FromNth: 1, Permanent: true})
	_, err = retention.Apply(ctx, e, "acme", retention.Policy{KeepLast: 2}, false, rc)
	require.ErrorIs(t, err, storage.ErrPermission)
	cat, err := e.Catalog(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, cat, 6, "a failed forget deleted nothing")
	evs := log.all()
	require.Len(t, evs, 1)
	require.Equal(t, audit.LevelError, evs[0].Level)
	require.Equal(t, "ops", evs[0].UserID)
	require.Contains(t, evs[0].Data[audit.DataError], "permission")

	fs.ClearRules()
	rep, err := retention.Apply(ctx, e, "acme", retention.Policy{KeepLast: 2}, false, rc)
	require.NoError(t, err)
	require.Len(t, rep.Forgotten, 4)
	evs = log.all()
	require.Len(t, evs, 2)
	require.Equal(t, audit.LevelInfo, evs[1].Level)
	require.Equal(t, 4, evs[1].Data["forgotten"])
	require.Equal(t, 2, evs[1].Data["kept"])

	// A dry run records nothing and changes nothing.
	_, err = retention.Apply(ctx, e, "acme", retention.Policy{KeepLast: 1}, true, rc)
	require.NoError(t, err)
	require.Len(t, log.all(), 2)
	cat, _ = e.Catalog(ctx, "acme")
	require.Len(t, cat, 2)
}

// TestPoliciesSetAuditsFailure: a policy the store refuses is reported,
// audited as a failure, and the tenant keeps its previous policy.
func TestPoliciesSetAuditsFailure(t *testing.T) {
	mem := storage.NewMemory()
	fs := faultstore.New(mem, 1)
	log := &eventLog{typ: audit.TypePolicyChanged}
	ps := retention.NewPolicies(fs, &retention.Config{Auditor: log})
	ctx := master()
	require.NoError(t, ps.Set(ctx, "acme", retention.Policy{KeepDaily: 3}))
	fs.AddRule(&faultstore.Rule{Op: faultstore.OpPut, KeyPrefix: "policies/", FromNth: 1, Permanent: true})
	err := ps.Set(ctx, "acme", retention.Policy{KeepLast: 1})
	require.ErrorIs(t, err, storage.ErrPermission)
	require.Contains(t, err.Error(), `"acme"`)
	evs := log.all()
	require.Len(t, evs, 2)
	require.Equal(t, audit.LevelInfo, evs[0].Level)
	require.Equal(t, audit.LevelError, evs[1].Level)
	require.Equal(t, "ops", evs[1].UserID)
	p, err := ps.Get(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, retention.Policy{KeepDaily: 3}, p)

	// A stored policy that no longer decodes is reported, not replaced by
	// the defaults.
	fs.ClearRules()
	require.NoError(t, storage.PutBytes(context.Background(), mem, "policies/acme.json", []byte(`{"keep_last":-1}`), nil))
	_, err = ps.Get(ctx, "acme")
	require.ErrorIs(t, err, retention.ErrInvalidPolicy)
	require.Contains(t, err.Error(), `"acme"`)
}

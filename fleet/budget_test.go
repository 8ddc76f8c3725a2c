package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/fleet"
	"github.com/iluxsys/steward/retention"
)

// quickRetry retries a failed attempt after 50 ms.
type quickRetry struct{}

func (quickRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(50 * time.Millisecond)
}

var errSourceDown = errors.New("source down")

// A tenant whose source always fails is attempted exactly its policy's
// retry budget, then discarded, each attempt audited as backup.failed; a
// tenant whose policy sets no budget gets the member's default.
func TestPolicyRetryBudget(t *testing.T) {
	w := newWorld(t)
	ps := retention.NewPolicies(w.store, nil)
	p, err := ps.Get(master(), "alpha")
	require.NoError(t, err)
	p.MaxAttempts = 3
	require.NoError(t, ps.Set(master(), "alpha", p))
	got, err := ps.Get(master(), "alpha")
	require.NoError(t, err)
	require.Equal(t, 3, got.MaxAttempts, "the budget is stored with the policy")

	failing := func(context.Context, string) (backup.Source, error) { return nil, errSourceDown }
	m, err := fleet.New(w.pool, &fleet.Config{
		Engine: w.engine(), Policies: ps, Source: failing, Clock: w.clock, Auditor: w,
		Tenants: func(context.Context) ([]string, error) { return []string{"alpha", "bravo"}, nil },
		CatchUp: 20 * time.Minute, EnqueueInterval: time.Hour, PollInterval: 100 * time.Millisecond,
		MaxAttempts: 2, RetryPolicy: quickRetry{},
	})
	require.NoError(t, err)
	w.clock.Set(start.Add(30 * time.Minute))
	rep, err := m.EnqueueDue(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, rep.Inserted)
	w.run(m)
	waitFor(t, "both backup jobs to be discarded", settled(t, m, 2, fleet.KindBackup))

	want := map[string]int{"alpha": 3, "bravo": 2}
	for _, j := range jobs(t, m, fleet.KindBackup) {
		tenant := argsTenant(t, j)
		require.Equal(t, rivertype.JobStateDiscarded, j.State, "%s's job", tenant)
		require.Equal(t, want[tenant], j.MaxAttempts, "%s's job budget", tenant)
		require.Equal(t, want[tenant], j.Attempt, "%s's attempts", tenant)
		require.Len(t, j.Errors, want[tenant], "%s's attempt errors", tenant)
		require.Contains(t, j.Errors[len(j.Errors)-1].Error, errSourceDown.Error())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	failed := map[string]int{}
	for _, ev := range w.events {
		if ev.Type == audit.TypeBackupFailed {
			failed[ev.Tenant]++
		}
	}
	require.Equal(t, want, failed, "backup.failed events per tenant")
	for _, ev := range w.events {
		if ev.Type == audit.TypeBackupFailed && ev.Tenant == "alpha" {
			cause := `fleet: source of "alpha": ` + errSourceDown.Error()
			require.Equal(t, audit.Event{Type: audit.TypeBackupFailed, Level: audit.LevelError, UserID: "fleet", Tenant: "alpha",
				Message: `scheduled backup of "alpha" (slot 2026-01-01T01:00:00Z) not run: ` + cause,
				Data:    map[string]any{audit.DataError: cause, "slot": "2026-01-01T01:00:00Z"}}, ev)
			break
		}
	}
	require.Empty(t, jobs(t, m, fleet.KindRetention), "a failed backup enqueues no retention run")
}

// argsTenant is the tenant a fleet job's arguments name.
func argsTenant(t *testing.T, j *rivertype.JobRow) string {
	var a fleet.BackupArgs
	require.NoError(t, json.Unmarshal(j.EncodedArgs, &a))
	return a.Tenant
}

// A member whose principal may list a tenant's snapshots but not back
// it up opens no source: each attempt is denied and audited as
// access.denied, none as backup.failed.
func TestBackupDeniedOpensNoSource(t *testing.T) {
	w := newWorld(t)
	var opened atomic.Int32
	source := func(ctx context.Context, tn string) (backup.Source, error) {
		opened.Add(1)
		return dataSource(ctx, tn)
	}
	noCreate := steward.AuthorizerFunc(func(_ context.Context, a steward.Action, _ string) error {
		if a == steward.ActionBackupCreate {
			return steward.ErrForbidden
		}
		return nil
	})
	m, err := fleet.New(w.pool, &fleet.Config{
		Engine: w.engine(), Policies: retention.NewPolicies(w.store, nil), Source: source, Clock: w.clock, Auditor: w, Authorizer: noCreate,
		Tenants: func(context.Context) ([]string, error) { return []string{"alpha"}, nil },
		CatchUp: 20 * time.Minute, EnqueueInterval: time.Hour, PollInterval: 100 * time.Millisecond,
		MaxAttempts: 2, RetryPolicy: quickRetry{},
	})
	require.NoError(t, err)
	w.clock.Set(start.Add(30 * time.Minute))
	_, err = m.EnqueueDue(t.Context())
	require.NoError(t, err)
	w.run(m)
	waitFor(t, "the backup job to be discarded", settled(t, m, 1, fleet.KindBackup))
	require.Zero(t, opened.Load(), "sources opened")
	w.mu.Lock()
	defer w.mu.Unlock()
	types := map[audit.EventType]int{}
	for _, ev := range w.events {
		types[ev.Type]++
		if ev.Type == audit.TypeAccessDenied {
			require.Equal(t, string(steward.ActionBackupCreate), ev.Data[audit.DataAction])
			require.Equal(t, "alpha", ev.Tenant)
		}
	}
	require.Equal(t, map[audit.EventType]int{audit.TypeAccessDenied: 2}, types, "events recorded")
}

package restore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
)

// TestDrillFailsTenantWithOnlyManifestDeleted (issue 17, finding 4): a
// tenant Engine.Tenants lists whose only manifest was deleted gets a
// failed Validation saying it has nothing to restore, and it is audited.
func TestDrillFailsTenantWithOnlyManifestDeleted(t *testing.T) {
	_, _, store, id := setup(t)
	for oi, err := range store.List(context.Background(), "") {
		require.NoError(t, err)
		if strings.HasSuffix(oi.Key, "snapshots/"+id) {
			require.NoError(t, store.Delete(context.Background(), oi.Key))
		}
	}
	var evs []audit.Event
	rec := audit.AuditorFunc(func(_ context.Context, ev audit.Event) error { evs = append(evs, ev); return nil })
	e, err := backup.New(store, nil) // a fresh engine, as a new process would open
	require.NoError(t, err)
	tenants, err := e.Tenants(master())
	require.NoError(t, err)
	require.Contains(t, tenants, "acme")

	vs, err := restore.New(e, &restore.Config{Auditor: rec}).Drill(master(), []string{"acme"})
	require.NoError(t, err)
	require.Len(t, vs, 1, "got %d validations, want one for acme", len(vs))
	v := vs[0]
	require.Equal(t, "acme", v.Tenant)
	require.Equal(t, restore.StatusFailed, v.Status)
	require.Empty(t, v.SnapshotID)
	require.Contains(t, v.Report, `tenant "acme" has no snapshot to restore`)
	require.NotEmpty(t, evs, "the failed validation was not audited")
	last := evs[len(evs)-1]
	require.Equal(t, audit.TypeValidation, last.Type)
	require.Equal(t, audit.LevelWarning, last.Level, "a drill's failure is a warning: the scheduler's drill alert notifies")
	require.False(t, audit.DefaultNotifyFilter(&last), "the default filter leaves a drill's failure to the drill alert")
	require.Contains(t, last.Message, "no snapshot to restore")
}

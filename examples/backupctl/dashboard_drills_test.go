package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/storage"
)

// TestDashboardShowsDrills: the dashboard prints each drilled tenant's
// last drill, its time to restore against the SLO and the success rate,
// and --json carries them under "drills" beside the other figures.
func TestDashboardShowsDrills(t *testing.T) {
	dir := t.TempDir()
	url := "file://" + filepath.ToSlash(filepath.Join(dir, "store"))
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
	store, err := storage.Open(ctx, url)
	require.NoError(t, err)
	log, err := audit.NewLog(ctx, store, nil)
	require.NoError(t, err)
	for _, e := range []audit.Event{
		{Type: audit.TypeDrillPassed, Tenant: "acme", Data: map[string]any{audit.DataTTRMS: 900, audit.DataSLOMS: 1000}},
		{Type: audit.TypeDrillFailed, Level: audit.LevelWarning, Tenant: "acme", Data: map[string]any{audit.DataTTRMS: 1500, audit.DataSLOMS: 1000}},
	} {
		require.NoError(t, log.Record(ctx, e))
	}
	require.NoError(t, store.Close())

	out, err := run(t, "--store", url, "dashboard")
	require.NoError(t, err)
	require.Contains(t, out, "drills acme: last failed ")
	require.Contains(t, out, "time to restore 1.5s (SLO 1s, over), 1 passed, 1 failed, success 50.0%")

	out, err = run(t, "--store", url, "--json", "dashboard")
	require.NoError(t, err)
	var got struct {
		TenantBackups map[string]any       `json:"tenant_backups"`
		Drills        []audit.DrillMetrics `json:"drills"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.NotNil(t, got.TenantBackups, "the dashboard's own figures stay")
	require.Len(t, got.Drills, 1)
	d := got.Drills[0]
	require.Equal(t, []any{"acme", 1, 1, "failed", 1500.0, true, 0.5}, []any{d.Tenant, d.Passed, d.Failed, d.LastStatus, d.TTRMS, d.OverSLO, d.SuccessRate})
}

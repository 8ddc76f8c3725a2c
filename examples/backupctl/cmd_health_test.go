package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/health"
)

// TestHealth: health prints an ok report (text and --json) for a store
// with a fresh backup, exits with an error naming the check and tenant
// when a stale lock is left, lists instead of writing with --read-only,
// and refuses a store that does not exist without creating it.
func TestHealth(t *testing.T) {
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	store := "file://" + filepath.ToSlash(storeDir)
	src := filepath.Join(dir, "src")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "users"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "users", "a.txt"), []byte("alpha"), 0o644))
	unsetenv(t, "STEWARD_PASSPHRASE")
	_, err := run(t, "--store", store, "backup", "--tenant", "acme", "--source", src)
	require.NoError(t, err)

	out, err := run(t, "--store", store, "health", "--json")
	require.NoError(t, err, out)
	var rep health.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, health.StatusOK, rep.Status, "%+v", rep.Degraded())
	require.NotZero(t, rep.AuditVerifiedSeq)
	out, err = run(t, "--store", store, "health")
	require.NoError(t, err)
	require.Contains(t, out, "ok        locks acme")

	stale := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	require.NoError(t, os.MkdirAll(filepath.Join(storeDir, "tenants", "acme", "locks"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(storeDir, "tenants", "acme", "locks", "dead0001"),
		[]byte(`{"owner":"backup by ops","refreshed":"`+stale+`"}`), 0o644))
	out, err = run(t, "--store", store, "health")
	require.ErrorIs(t, err, errDegraded)
	require.ErrorContains(t, err, "locks acme")
	require.Contains(t, out, "degraded  locks acme")

	out, err = run(t, "--store", store, "health", "--read-only", "--json")
	require.ErrorIs(t, err, errDegraded)
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Contains(t, rep.Results[0].Message, "read-only store reachable")

	missing := filepath.Join(dir, "nowhere")
	_, err = run(t, "--store", "file://"+filepath.ToSlash(missing), "health")
	require.Error(t, err)
	require.NoDirExists(t, missing, "health created the store")
}

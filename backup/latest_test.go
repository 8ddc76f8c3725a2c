package backup_test

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// TestLatestPassesOverSafetyBackups: after a restore's safety backup (a
// snapshot of the target's old content, tagged pre-restore), Latest still
// names the tenant's newest real backup; the safety backup stays listed
// and can be named by its ID.
func TestLatestPassesOverSafetyBackups(t *testing.T) {
	ctx := master()
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	src := func(s string) backup.Source {
		return backup.FSSource(fstest.MapFS{"users/1": {Data: []byte(s)}})
	}
	safetyOnly, err := e.Backup(ctx, "beta", src("old target"), &backup.Options{Tags: []string{backup.TagPreRestore}})
	require.NoError(t, err)
	_, err = e.Snapshot(ctx, "beta", backup.Latest)
	require.ErrorIs(t, err, backup.ErrNotFound)
	require.ErrorContains(t, err, "only safety backups")

	real, err := e.Backup(ctx, "acme", src("tenant data"), nil)
	require.NoError(t, err)
	safety, err := e.Backup(ctx, "acme", src("target's old content"), &backup.Options{Tags: []string{backup.TagPreRestore}})
	require.NoError(t, err)
	got, err := e.Snapshot(ctx, "acme", backup.Latest)
	require.NoError(t, err)
	require.Equal(t, real.ID, got.ID, "latest is the real backup, not the newer safety backup")
	require.Equal(t, map[string][]byte{"users/1": []byte("tenant data")}, readBack(t, e, "acme", backup.Latest))
	cat, err := e.Catalog(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, cat, 2, "the safety backup is still listed")
	byID, err := e.Snapshot(ctx, "acme", safety.ID)
	require.NoError(t, err)
	require.Equal(t, []string{backup.TagPreRestore}, byID.Tags)
	_, err = e.Snapshot(ctx, "beta", safetyOnly.ID)
	require.NoError(t, err)
}

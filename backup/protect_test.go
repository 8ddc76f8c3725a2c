package backup_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// TestForgetRefusesProtectedUnlessForced: a snapshot tagged TagProtected,
// or one Config.Protect protects, is refused with ErrProtected naming it
// and nothing is forgotten; Force forgets it.
func TestForgetRefusesProtectedUnlessForced(t *testing.T) {
	for _, tc := range []struct {
		name string
		tags []string
		hook bool
	}{
		{"tagged", []string{backup.TagProtected}, false},
		{"hook", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := storage.NewMemory()
			var protected string
			cfg := &backup.Config{}
			var asked []string
			if tc.hook {
				cfg.Protect = func(_ context.Context, scope, id string) bool {
					asked = append(asked, scope+"/"+id)
					return id == protected
				}
			}
			e, err := backup.New(store, cfg)
			require.NoError(t, err)
			src := backup.FSSource(fstest.MapFS{"a.txt": {Data: []byte("artifact")}})
			keep, err := e.Backup(master(), backup.Releases, src, &backup.Options{Type: backup.Full, Tags: tc.tags})
			require.NoError(t, err)
			protected = keep.ID
			other, err := e.Backup(master(), backup.Releases, src, &backup.Options{Type: backup.Full})
			require.NoError(t, err)
			before := objects(t, store)

			err = e.Forget(master(), backup.Releases, other.ID, keep.ID)
			require.ErrorIs(t, err, backup.ErrProtected, "Forget of a protected snapshot: got %v", err)
			require.Contains(t, err.Error(), keep.ID, "the error names the snapshot")
			require.Equal(t, before, objects(t, store), "a refused Forget deleted something")
			err = e.ForgetWithOptions(master(), backup.Releases, []string{keep.ID}, &backup.ForgetOptions{DryRun: true})
			require.ErrorIs(t, err, backup.ErrProtected, "a dry run says what the Forget would")
			require.NoError(t, e.ForgetWithOptions(master(), backup.Releases, []string{other.ID}, &backup.ForgetOptions{DryRun: true}))
			require.Equal(t, before, objects(t, store), "a dry run deleted something")
			if tc.hook {
				require.Contains(t, asked, backup.Releases+"/"+keep.ID, "Protect was not asked about the snapshot")
			}

			require.NoError(t, e.ForgetWithOptions(master(), backup.Releases, []string{keep.ID}, &backup.ForgetOptions{Force: true}))
			cat, err := e.Catalog(master(), backup.Releases)
			require.NoError(t, err)
			require.Len(t, cat, 1, "Force forgets the protected snapshot only")
			require.Equal(t, other.ID, cat[0].ID)
		})
	}
}

// TestCheckReportsTenantWithoutSnapshot (issue 17, finding 4): a tenant
// whose only manifest was deleted has "0 snapshots", which Check reports
// as a problem.
func TestCheckReportsTenantWithoutSnapshot(t *testing.T) {
	store := storage.NewMemory()
	e, err := backup.New(store, nil)
	require.NoError(t, err)
	snap, err := e.Backup(master(), "acme", backup.FSSource(fstest.MapFS{"a.txt": {Data: []byte("a")}}), nil)
	require.NoError(t, err)
	rep, err := e.Check(master(), "acme", nil)
	require.NoError(t, err)
	require.True(t, rep.OK(), "a healthy repository: got problems %v", rep.Problems)

	deleteManifest(t, store, snap.ID)
	rep, err = e.Check(master(), "acme", nil)
	require.NoError(t, err)
	require.Equal(t, 0, rep.Snapshots)
	require.False(t, rep.OK(), "Check of a tenant without snapshots reported no problem")
	require.Len(t, rep.Problems, 1, "got problems %v", rep.Problems)
	require.Contains(t, rep.Problems[0], `"acme" has no snapshot`)
}

// deleteManifest deletes snapshot id's stored manifest behind the engine.
func deleteManifest(t *testing.T, s storage.Store, id string) {
	t.Helper()
	for k := range objects(t, s) {
		if strings.HasSuffix(k, "snapshots/"+id) {
			require.NoError(t, s.Delete(context.Background(), k))
			return
		}
	}
	t.Fatalf("no manifest of snapshot %s in the store", id)
}

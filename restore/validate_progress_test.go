package restore_test

import (
	"slices"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
)

// TestValidateAndDrillProgress checks that Config.Progress reaches the
// scratch restores of Validate and Drill: each ends on its snapshot's
// totals, and bytes done never go back within one.
func TestValidateAndDrillProgress(t *testing.T) {
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	sizes := map[string]int64{"acme": 3000, "beta": 5000}
	for tenant, n := range sizes {
		fsys := fstest.MapFS{"m/a.bin": {Data: make([]byte, n), Mode: 0o644}}
		_, err := e.Backup(master(), tenant, backup.FSSource(fsys), nil)
		require.NoError(t, err)
	}
	var got []backup.Progress
	r := restore.New(e, &restore.Config{Progress: func(p backup.Progress) { got = append(got, p) }})

	v, err := r.Validate(master(), "acme", "latest")
	require.NoError(t, err)
	require.Equal(t, restore.StatusPassed, v.Status, v.Report)
	require.NotEmpty(t, got, "Validate reported no progress")
	last := got[len(got)-1]
	require.Equal(t, sizes["acme"], last.BytesTotal)
	require.Equal(t, last.BytesTotal, last.BytesDone, "last report %+v, want every byte done", last)

	got = nil
	vs, err := r.Drill(master(), []string{"acme", "beta"})
	require.NoError(t, err)
	require.Len(t, vs, 2)
	var ends []int64 // BytesTotal of each report that ends a restore
	for i, p := range got {
		if i > 0 && p.BytesTotal == got[i-1].BytesTotal {
			require.GreaterOrEqual(t, p.BytesDone, got[i-1].BytesDone, "report %d: bytes done went back", i)
		}
		if p.BytesDone == p.BytesTotal && p.FilesDone == p.FilesTotal {
			ends = append(ends, p.BytesTotal)
		}
	}
	// A tick may repeat a restore's last report: one ending per tenant.
	require.Equal(t, []int64{sizes["acme"], sizes["beta"]}, slices.Compact(ends), "got reports %+v, want one restore ending per tenant, in order", got)
}

package backup

import (
	"context"
	"encoding/json"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// manySnapshots takes one real backup of tenant "acme" and copies its
// manifest under n-1 further IDs and timestamps (committing them the way
// Backup does), so catalog tests need not run n backups.
func manySnapshots(tb testing.TB, n int) (*Engine, context.Context) {
	tb.Helper()
	ctx := MasterContext()
	e, err := New(storage.NewMemory(), nil)
	require.NoError(tb, err)
	snap, err := e.Backup(ctx, "acme", FSSource(fstest.MapFS{"users/1.json": {Data: []byte(`{"n":1}`)}}), &Options{Type: Full})
	require.NoError(tb, err)
	m, r, err := e.manifest(ctx, "acme", snap.ID)
	require.NoError(tb, err)
	base := m.Timestamp
	for i := 1; i < n; i++ {
		c := *m
		c.Checksums = map[string]string{}
		for k, v := range m.Checksums {
			c.Checksums[k] = v
		}
		id, err := uuid.NewV7()
		require.NoError(tb, err)
		c.ID, c.Timestamp = id.String(), base.Add(time.Duration(i)*time.Minute)
		c.Checksums["manifest"] = manifestChecksum(&c)
		b, err := json.Marshal(&c)
		require.NoError(tb, err)
		require.NoError(tb, r.SaveSnapshot(ctx, c.ID, b))
	}
	return e, ctx
}

func TestCatalogOfThousandSnapshots(t *testing.T) {
	e, ctx := manySnapshots(t, 1000)
	fresh, err := New(e.Store(), nil)
	require.NoError(t, err)
	cat, err := fresh.Catalog(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, cat, 1000)
	for i := 1; i < len(cat); i++ {
		require.True(t, cat[i].Timestamp.Before(cat[i-1].Timestamp), "newest first at %d", i)
	}
	latest, err := fresh.Snapshot(ctx, "acme", "latest")
	require.NoError(t, err)
	require.Equal(t, cat[0].ID, latest.ID)
}

// BenchmarkCatalog lists 1,000 snapshots with a fresh engine each time
// (config, key and index loaded, then every manifest read and verified).
func BenchmarkCatalog(b *testing.B) {
	e, ctx := manySnapshots(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		fresh, _ := New(e.Store(), nil)
		cat, err := fresh.Catalog(ctx, "acme")
		if err != nil || len(cat) != 1000 {
			b.Fatal(len(cat), err)
		}
	}
}

package backup_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// catalogKeys lists the scope's catalog objects.
func catalogKeys(t *testing.T, s storage.Store) []string {
	t.Helper()
	var keys []string
	for oi, err := range s.List(context.Background(), "tenants/acme/catalog/") {
		require.NoError(t, err)
		keys = append(keys, oi.Key)
	}
	return keys
}

// TestCatalogFromCatalogObjects: after 70 backups a fresh engine lists the
// catalog reading the catalog object and the few manifests it does not
// cover, not 70; the list equals the one read from every manifest, and
// forgotten snapshots are not in it. A catalog object that does not open
// (forged or damaged: in an encrypted scope it is sealed under the data
// key, bound to its name) is ignored: the manifests answer.
func TestCatalogFromCatalogObjects(t *testing.T) {
	ctx := master()
	mem := storage.NewMemory()
	store := &manifestReads{Store: mem}
	fsys := smallTree()
	cfg := &backup.Config{Keys: cheapKeys("p")}
	ids := historyWith(t, store, cfg, fsys, 70)
	require.Len(t, catalogKeys(t, mem), 1, "compactions replace the catalog object")

	fromManifests := func() []backup.Snapshot {
		t.Helper()
		copyStore := storage.NewMemory()
		for oi, err := range mem.List(ctx, "") {
			require.NoError(t, err)
			if strings.Contains(oi.Key, "/catalog/") {
				continue
			}
			b, err := storage.ReadAll(ctx, mem, oi.Key)
			require.NoError(t, err)
			require.NoError(t, storage.PutBytes(ctx, copyStore, oi.Key, b, nil))
		}
		e, err := backup.New(copyStore, cfg)
		require.NoError(t, err)
		cat, err := e.Catalog(ctx, "acme")
		require.NoError(t, err)
		return cat
	}

	store.n.Store(0)
	e, err := backup.New(store, cfg)
	require.NoError(t, err)
	cat, err := e.Catalog(ctx, "acme")
	require.NoError(t, err)
	require.LessOrEqual(t, store.n.Load(), int64(33+2), "reads of manifests and catalog objects")
	require.Len(t, cat, 70)
	require.Equal(t, ids[len(ids)-1], cat[0].ID)
	require.Equal(t, fromManifests(), cat)

	err = e.Forget(ctx, "acme", ids[0], ids[40])
	require.NoError(t, err)
	fresh, err := backup.New(store, cfg)
	require.NoError(t, err)
	cat, err = fresh.Catalog(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, cat, 68)
	for _, s := range cat {
		require.NotContains(t, []string{ids[0], ids[40]}, s.ID)
	}

	for _, key := range catalogKeys(t, mem) {
		require.NoError(t, storage.PutBytes(ctx, mem, key, []byte(`{"snapshots":{"`+ids[5]+`":{"id":"`+ids[5]+`","tags":["forged"]}}}`), nil))
	}
	fresh, err = backup.New(store, cfg)
	require.NoError(t, err)
	cat, err = fresh.Catalog(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, fromManifests(), cat)
}

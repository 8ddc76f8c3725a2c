package console_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/console"
	"github.com/iluxsys/steward/storage"
)

// benchTenants × benchSnapshots is the catalog the page benchmarks serve
// (the target is 1,000 × 30 with every page under 50 ms).
const benchTenants, benchSnapshots = 100, 10

// benchConsole is a console over store holding benchTenants tenants of
// benchSnapshots small snapshots each.
func benchConsole(b *testing.B, store storage.Store) http.Handler {
	b.Helper()
	f := newFixtureOn(b, store)
	for i := range benchTenants {
		tenant := fmt.Sprintf("tenant-%04d", i)
		for j := range benchSnapshots {
			fsys := fstest.MapFS{"users/1.json": {Data: fmt.Appendf(nil, `{"v":%d}`, j)}}
			_, err := f.engine.Backup(masterCtx(), tenant, backup.FSSource(fsys), &backup.Options{Type: backup.Incremental})
			require.NoError(b, err)
		}
	}
	h, err := console.New(f.cfg)
	require.NoError(b, err)
	return h
}

// BenchmarkPages measures each page's server time over the bench catalog,
// in memory and in a directory (file://). The in-memory store sorts every
// key of the bucket on each List, which the catalogs call once per tenant.
func BenchmarkPages(b *testing.B) {
	b.Run("mem", func(b *testing.B) { benchPages(b, benchConsole(b, storage.NewMemory())) })
	b.Run("file", func(b *testing.B) {
		store, err := storage.Open(masterCtx(), "file://"+filepath.ToSlash(b.TempDir()))
		require.NoError(b, err)
		b.Cleanup(func() { store.Close() })
		benchPages(b, benchConsole(b, store))
	})
}

func benchPages(b *testing.B, h http.Handler) {
	for _, p := range []struct{ name, path string }{
		{"overview", "/"},
		{"snapshots", "/snapshots"},
		{"snapshots-one-tenant", "/snapshots?tenant=tenant-0042"},
		{"audit", "/audit"},
		{"restore", "/restore"},
		{"retention", "/retention?tenant=tenant-0042"},
	} {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				w := get(b, h, userMaster, p.path)
				if w.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", p.path, w.Code)
				}
			}
		})
	}
}

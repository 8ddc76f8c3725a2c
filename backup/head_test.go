package backup_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// manifestReads counts the reads of snapshot manifests.
type manifestReads struct {
	storage.Store
	n atomic.Int64
}

func (m *manifestReads) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.Contains(key, "/snapshots/") {
		m.n.Add(1)
	}
	return m.Store.Get(ctx, key)
}

// history backs up fsys n times (one file changed each time) and returns
// the snapshots' IDs, oldest first.
func history(t *testing.T, store storage.Store, fsys fstest.MapFS, n int) []string {
	t.Helper()
	return historyWith(t, store, nil, fsys, n)
}

// historyWith is history with an engine configured by cfg.
func historyWith(t *testing.T, store storage.Store, cfg *backup.Config, fsys fstest.MapFS, n int) []string {
	t.Helper()
	e, err := backup.New(store, cfg)
	require.NoError(t, err)
	var ids []string
	for i := range n {
		// A new mtime each time: size and mtime are what an incremental
		// backup compares.
		fsys["docs/000.txt"] = &fstest.MapFile{Data: fmt.Appendf(nil, "version %d", i), ModTime: time.Unix(int64(i), 0)}
		s, err := e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Incremental})
		require.NoError(t, err)
		ids = append(ids, s.ID)
	}
	return ids
}

func smallTree() fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := range 20 {
		fsys[fmt.Sprintf("docs/%03d.txt", i)] = &fstest.MapFile{Data: randBytes(uint64(i), 500)}
	}
	return fsys
}

// TestParentFoundWithoutReadingEveryManifest: a fresh engine's incremental
// backup in a scope of 60 snapshots reads two manifests (the parent the
// head hint names, and again when the hint advances), not 60.
func TestParentFoundWithoutReadingEveryManifest(t *testing.T) {
	store := &manifestReads{Store: storage.NewMemory()}
	fsys := smallTree()
	ids := history(t, store, fsys, 60)
	store.n.Store(0)
	e, err := backup.New(store, nil)
	require.NoError(t, err)
	fsys["docs/001.txt"] = &fstest.MapFile{Data: []byte("changed"), ModTime: time.Unix(1e6, 0)}
	s, err := e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Incremental})
	require.NoError(t, err)
	require.Equal(t, ids[len(ids)-1], s.Parent)
	require.LessOrEqual(t, store.n.Load(), int64(2), "manifests read")
	require.Equal(t, files(fsys), readBack(t, e, "acme", s.ID))
}

// TestBadHeadHintCostsNothingButReads: a head hint that names an older
// snapshot, a forgotten one, another object or nothing well-formed never
// makes a backup wrong: it compares against the snapshot named when that
// loads, and against the newest otherwise.
func TestBadHeadHintCostsNothingButReads(t *testing.T) {
	for _, c := range []struct {
		name   string
		hint   func(ids []string) string
		parent func(ids []string) string
	}{
		{"older", func(ids []string) string { return ids[0] }, func(ids []string) string { return ids[0] }},
		{"forgotten", func([]string) string { return "01a22f85-0000-7000-8000-000000000000" }, func(ids []string) string { return ids[len(ids)-1] }},
		{"another object", func([]string) string { return "../config" }, func(ids []string) string { return ids[len(ids)-1] }},
		{"garbage", func([]string) string { return strings.Repeat("x", 4096) }, func(ids []string) string { return ids[len(ids)-1] }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := master()
			store := storage.NewMemory()
			fsys := smallTree()
			ids := history(t, store, fsys, 3)
			require.NoError(t, storage.PutBytes(ctx, store, "tenants/acme/head", []byte(c.hint(ids)), nil))
			e, err := backup.New(store, nil)
			require.NoError(t, err)
			fsys["docs/002.txt"] = &fstest.MapFile{Data: []byte("changed again"), ModTime: time.Unix(1e6, 0)}
			s, err := e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Incremental})
			require.NoError(t, err)
			require.Equal(t, c.parent(ids), s.Parent)
			require.Equal(t, files(fsys), readBack(t, e, "acme", s.ID))
			latest, err := e.Snapshot(ctx, "acme", backup.Latest)
			require.NoError(t, err)
			require.Equal(t, s.ID, latest.ID, "latest never trusts the hint")
		})
	}
}

// files returns fsys's regular files' contents by path.
func files(fsys fstest.MapFS) map[string][]byte {
	out := map[string][]byte{}
	for p, f := range fsys {
		out[p] = f.Data
	}
	return out
}

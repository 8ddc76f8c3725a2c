package backup_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/internal/repo"
	"github.com/iluxsys/steward/internal/snapshot"
	"github.com/iluxsys/steward/storage"
)

func sampleFS(n int, seed uint64) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := range n {
		fsys[fmt.Sprintf("m%d/f%03d.bin", i%3, i)] = &fstest.MapFile{Data: randBytes(seed+uint64(i), 1000+i*37), Mode: 0o644, ModTime: time.Unix(1e9, 0)}
	}
	return fsys
}

func TestIncrementalSinceChoosesParent(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e, err := backup.New(storage.NewMemory(), &backup.Config{Clock: clock})
	require.NoError(t, err)
	fsys := sampleFS(6, 3)
	first, err := e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	clock.Advance(24 * time.Hour)
	second, err := e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	clock.Advance(24 * time.Hour)

	for _, tc := range []struct {
		name  string
		since time.Time
		want  string
	}{
		{"newest", time.Time{}, second.ID},
		{"between", first.Timestamp.Add(time.Hour), first.ID},
		{"exactly the first", first.Timestamp, first.ID},
		{"after both", second.Timestamp.Add(time.Hour), second.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Incremental, Since: tc.since})
			require.NoError(t, err)
			require.Equal(t, backup.Incremental, s.Type)
			require.Equal(t, tc.want, s.Parent)
		})
	}
	t.Run("before every snapshot is a full", func(t *testing.T) {
		s, err := e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Incremental, Since: first.Timestamp.Add(-time.Hour)})
		require.NoError(t, err)
		require.Equal(t, backup.Full, s.Type, "nothing to compare against: every file is read")
		require.Empty(t, s.Parent)
	})
}

func TestGeneralAndReleasesScopes(t *testing.T) {
	store := storage.NewMemory()
	e, err := backup.New(store, nil)
	require.NoError(t, err)
	css := fstest.MapFS{"css/app.css": {Data: []byte("body{}")}, "i18n/en.json": {Data: []byte(`{"hi":"Hi"}`)}}
	comps := []backup.Component{{Name: "css", Version: "2.1.0"}, {Name: "i18n", Version: "1.4.0", Dependencies: []string{"css"}}}
	snap, err := e.Backup(master(), backup.General, backup.FSSource(css), &backup.Options{
		Type: backup.Full, Components: comps, PlatformVersion: "5.2.0", SchemaVersion: "42", Tags: []string{"pre-deploy"},
	})
	require.NoError(t, err)
	got, err := e.Snapshot(master(), backup.General, snap.ID)
	require.NoError(t, err)
	require.Equal(t, comps, got.Components)
	require.Equal(t, "5.2.0", got.Metadata.PlatformVersion)
	require.Equal(t, "42", got.Metadata.SchemaVersion)
	require.Equal(t, []string{"pre-deploy"}, got.Tags)
	require.Equal(t, backup.General, got.Tenant)
	require.Equal(t, map[string][]byte{"css/app.css": []byte("body{}"), "i18n/en.json": []byte(`{"hi":"Hi"}`)}, readBack(t, e, backup.General, snap.ID))

	_, err = e.Backup(master(), backup.Releases, backup.FSSource(fstest.MapFS{"r1/app.tar": {Data: []byte("artifact")}}), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{"r1/app.tar": []byte("artifact")}, readBack(t, e, backup.Releases, "latest"))

	tenants, err := e.Tenants(master())
	require.NoError(t, err)
	require.Empty(t, tenants, "General and Releases are not tenants")
	for oi, err := range store.List(context.Background(), "") {
		require.NoError(t, err)
		require.False(t, strings.HasPrefix(oi.Key, "tenants/"), "no tenant object written: %s", oi.Key)
	}
}

func TestChecksumsAreRecomputable(t *testing.T) {
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	fsys := sampleFS(12, 4)
	snap, err := e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	c := snapshot.NewChecksummer()
	for f, err := range e.Files(master(), "acme", snap.ID) {
		require.NoError(t, err)
		if f.Mode.IsRegular() {
			require.Equal(t, fmt.Sprintf("%x", sha256Of(fsys[f.Path].Data)), f.SHA256, f.Path)
		}
		c.Add(f.Path, f.Mode, f.Size, f.SHA256)
	}
	sums := c.Sums()
	require.Len(t, sums, 3)
	for m, s := range sums {
		require.Equal(t, snap.Checksums[m], s, "module %s", m)
	}
	require.Len(t, snap.Checksums["manifest"], 64)
}

func TestNotFound(t *testing.T) {
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	cat, err := e.Catalog(master(), "ghost")
	require.NoError(t, err)
	require.Empty(t, cat, "a tenant without backups has an empty catalog")
	_, err = e.Snapshot(master(), "ghost", "latest")
	require.ErrorIs(t, err, backup.ErrNotFound)
	_, err = e.Backup(master(), "acme", backup.FSSource(sampleFS(1, 5)), nil)
	require.NoError(t, err)
	for _, id := range []string{"0190d2a4-0000-7000-8000-000000000000", "../config", ""} {
		_, err = e.Snapshot(master(), "acme", id)
		require.ErrorIs(t, err, backup.ErrNotFound, "snapshot %q", id)
	}
}

// countingStore counts reads of pack objects.
type countingStore struct {
	storage.Store
	packReads atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.Contains(key, "/packs/") {
		c.packReads.Add(1)
	}
	return c.Store.Get(ctx, key)
}

func (c *countingStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if strings.Contains(key, "/packs/") {
		c.packReads.Add(1)
	}
	return c.Store.GetRange(ctx, key, off, n)
}

func TestCatalogReadsNoEntries(t *testing.T) {
	mem := storage.NewMemory()
	e, err := backup.New(mem, nil)
	require.NoError(t, err)
	for i := range 5 {
		_, err := e.Backup(master(), "acme", backup.FSSource(sampleFS(20, uint64(i*100))), &backup.Options{Type: backup.Full})
		require.NoError(t, err)
	}
	cs := &countingStore{Store: mem}
	fresh, err := backup.New(cs, nil)
	require.NoError(t, err)
	cat, err := fresh.Catalog(master(), "acme")
	require.NoError(t, err)
	require.Len(t, cat, 5)
	for i := 1; i < len(cat); i++ {
		require.False(t, cat[i].Timestamp.After(cat[i-1].Timestamp), "newest first")
	}
	require.Zero(t, cs.packReads.Load(), "the catalog reads manifests only, never packs")
}

func TestConcurrentBackupsOfOneTenant(t *testing.T) {
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Parallelism: 2})
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	fss := make([]fstest.MapFS, 4)
	for i := range fss {
		fss[i] = sampleFS(8, uint64(i*1000))
	}
	for i := range 4 {
		wg.Go(func() {
			_, errs[i] = e.Backup(master(), "acme", backup.FSSource(fss[i]), &backup.Options{Type: backup.Full})
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err, "backups hold shared locks and run side by side")
	}
	cat, err := e.Catalog(master(), "acme")
	require.NoError(t, err)
	require.Len(t, cat, 4)
	fresh, _ := backup.New(store, nil)
	seen := map[string]bool{}
	for _, s := range cat {
		got := readBack(t, fresh, "acme", s.ID)
		for i, fsys := range fss {
			if len(got) == len(fsys) && string(got["m0/f000.bin"]) == string(fsys["m0/f000.bin"].Data) {
				seen[fmt.Sprint(i)] = true
				require.Equal(t, wantOf(fsys), got)
			}
		}
	}
	require.Len(t, seen, 4, "each backup's data reads back")
	locks := 0
	for range store.List(context.Background(), "tenants/acme/locks/") {
		locks++
	}
	require.Zero(t, locks, "every lock was released")
}

func sha256Of(b []byte) [32]byte { return sha256.Sum256(b) }

func TestIncrementalWithUnsetModTimes(t *testing.T) {
	// fstest.MapFS and many host Sources leave ModTime zero: an unchanged
	// file must still be recognised and not opened.
	fsys := fstest.MapFS{"m/a.txt": {Data: []byte("a")}, "m/b.txt": {Data: []byte("bb")}, "m/far.txt": {Data: []byte("far"), ModTime: time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC)}}
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	_, err = e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	src := &countingSource{Source: backup.FSSource(fsys)}
	s, err := e.Backup(master(), "acme", src, &backup.Options{Type: backup.Incremental})
	require.NoError(t, err)
	require.Zero(t, src.opens.Load(), "unchanged files are not opened")
	require.Equal(t, wantOf(fsys), readBack(t, e, "acme", s.ID))
	for f, err := range e.Files(master(), "acme", s.ID) {
		require.NoError(t, err)
		if f.Path == "m/a.txt" {
			require.True(t, f.ModTime.IsZero(), "a zero mtime round-trips as zero")
		}
	}
	fsys["m/b.txt"] = &fstest.MapFile{Data: []byte("cc")}
	fsys["m/a.txt"] = &fstest.MapFile{Data: []byte("a"), ModTime: time.Unix(5, 0)}
	src = &countingSource{Source: backup.FSSource(fsys)}
	_, err = e.Backup(master(), "acme", src, &backup.Options{Type: backup.Incremental})
	require.NoError(t, err)
	require.Equal(t, int64(1), src.opens.Load(), "only the file whose mtime changed is opened (same size, zero mtime: unchanged by the rule)")
}

// TestSnapshotIDsFollowTheEngineClock: a snapshot's ID is a UUIDv7 whose
// time is the engine clock's at commit (the catalog lists snapshots by
// it), IDs made under a frozen clock still increase, and a clock set back
// by more than a second is followed, not overridden by an earlier ID.
func TestSnapshotIDsFollowTheEngineClock(t *testing.T) {
	at := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	clock := fakeclock.New(at)
	e, err := backup.New(storage.NewMemory(), &backup.Config{Clock: clock})
	require.NoError(t, err)
	fsys := sampleFS(3, 1)
	idAt := func() (string, uint64) {
		s, err := e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full})
		require.NoError(t, err)
		u, err := uuid.Parse(s.ID)
		require.NoError(t, err)
		require.Equal(t, uuid.Version(7), u.Version())
		require.Equal(t, uuid.RFC4122, u.Variant())
		ms, ok := repo.IDTime(s.ID)
		require.True(t, ok)
		return s.ID, ms
	}
	first, t1 := idAt()
	second, t2 := idAt()
	require.Equal(t, uint64(at.UnixMilli()), t1)
	require.Equal(t, t1, t2, "a frozen clock: the same millisecond")
	require.Less(t, first, second, "IDs made under one clock increase")

	clock.Set(at.Add(-48 * time.Hour))
	_, back := idAt()
	require.Equal(t, uint64(at.Add(-48*time.Hour).UnixMilli()), back, "a clock set back is followed")
}

package backup

import (
	"context"
	"encoding/json"
	"io"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/internal/repo"
	"github.com/iluxsys/steward/storage"
)

// catalogOps counts what touches a scope's catalog: the keys listings of
// snapshots/ yield, and the bytes read from and written to catalog/.
type catalogOps struct {
	storage.Store
	snapListed, catRead, catWritten atomic.Int64
}

func (c *catalogOps) List(ctx context.Context, prefix string) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) {
		for oi, err := range c.Store.List(ctx, prefix) {
			if strings.Contains(prefix, "/snapshots/") {
				c.snapListed.Add(1)
			}
			if !yield(oi, err) {
				return
			}
		}
	}
}

func (c *catalogOps) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := c.Store.Get(ctx, key)
	if err != nil || !strings.Contains(key, "/catalog/") {
		return rc, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	c.catRead.Add(int64(len(b)))
	return io.NopCloser(strings.NewReader(string(b))), err
}

func (c *catalogOps) Put(ctx context.Context, key string, r io.Reader, opts *storage.PutOptions) error {
	if !strings.Contains(key, "/catalog/") {
		return c.Store.Put(ctx, key, r, opts)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	c.catWritten.Add(int64(len(b)))
	return c.Store.Put(ctx, key, strings.NewReader(string(b)), opts)
}

// addSnapshots commits n copies of tenant acme's newest manifest under new
// IDs and later timestamps, as Backup would, and returns their IDs.
func addSnapshots(tb testing.TB, e *Engine, n int) []string {
	tb.Helper()
	ctx := MasterContext()
	m, r, err := e.manifest(ctx, "acme", "latest")
	require.NoError(tb, err)
	var ids []string
	for i := range n {
		id, err := uuid.NewV7()
		require.NoError(tb, err)
		ids = append(ids, saveCopy(tb, r, m, id.String(), m.Timestamp.Add(time.Duration(i+1)*time.Second)))
	}
	return ids
}

// idAt returns a new UUIDv7 whose time field is t's.
func idAt(tb testing.TB, t time.Time) string {
	id, err := uuid.NewV7()
	require.NoError(tb, err)
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		id[i] = byte(ms >> (8 * (5 - i)))
	}
	return id.String()
}

// saveCopy commits a copy of m under id and timestamp ts.
func saveCopy(tb testing.TB, r *repo.Repo, m *manifest, id string, ts time.Time) string {
	tb.Helper()
	c := *m
	c.Checksums = map[string]string{}
	for k, v := range m.Checksums {
		c.Checksums[k] = v
	}
	c.ID, c.Timestamp = id, ts
	delete(c.Checksums, "manifest")
	c.Checksums["manifest"] = manifestChecksum(&c)
	b, err := json.Marshal(&c)
	require.NoError(tb, err)
	require.NoError(tb, r.SaveSnapshot(MasterContext(), c.ID, b))
	return id
}

// compact runs one catalog compaction of acme by a fresh engine on store.
func compact(tb testing.TB, store storage.Store) error {
	tb.Helper()
	e, err := New(store, nil)
	require.NoError(tb, err)
	ctx := MasterContext()
	r, err := e.repo(ctx, "acme", false, false)
	require.NoError(tb, err)
	return e.compactCatalog(ctx, r)
}

// catalogTruth is acme's catalog read from every manifest: by a fresh
// engine on a copy of store without catalog objects.
func catalogTruth(tb testing.TB, store storage.Store) []Snapshot {
	tb.Helper()
	ctx := MasterContext()
	bare := storage.NewMemory()
	for oi, err := range store.List(ctx, "") {
		require.NoError(tb, err)
		if strings.Contains(oi.Key, "/catalog/") {
			continue
		}
		b, err := storage.ReadAll(ctx, store, oi.Key)
		require.NoError(tb, err)
		require.NoError(tb, storage.PutBytes(ctx, bare, oi.Key, b, nil))
	}
	return freshCatalog(tb, bare)
}

func freshCatalog(tb testing.TB, store storage.Store) []Snapshot {
	tb.Helper()
	e, err := New(store, nil)
	require.NoError(tb, err)
	cat, err := e.Catalog(MasterContext(), "acme")
	require.NoError(tb, err)
	return cat
}

// segments lists acme's catalog objects as their keys describe them.
func segments(tb testing.TB, store storage.Store) []repo.CatalogSegment {
	tb.Helper()
	e, err := New(store, nil)
	require.NoError(tb, err)
	r, err := e.repo(MasterContext(), "acme", false, false)
	require.NoError(tb, err)
	segs, err := r.CatalogSegments(MasterContext())
	require.NoError(tb, err)
	return segs
}

// TestCompactCatalogCostDoesNotGrowWithHistory: a compaction after 33 new
// snapshots lists only those 33 snapshot keys (and at most one more) and
// writes about their 33 summaries, with 100 or 3,000 earlier snapshots
// covered: before segments it listed every snapshot and rewrote every
// summary.
func TestCompactCatalogCostDoesNotGrowWithHistory(t *testing.T) {
	for _, hist := range []int{100, 3000} {
		e, ctx := manySnapshots(t, 1)
		m, r, err := e.manifest(ctx, "acme", "latest")
		require.NoError(t, err)
		// The history is a day old: its IDs are in no block of ID times
		// the next compaction lists, however long these steps take.
		dayAgo := time.Now().Add(-24 * time.Hour)
		for i := range hist - 1 {
			at := dayAgo.Add(time.Duration(i) * time.Second)
			saveCopy(t, r, m, idAt(t, at), at)
		}
		store := &catalogOps{Store: e.Store()}
		require.NoError(t, compact(t, store))
		addSnapshots(t, e, 33)
		store.snapListed.Store(0)
		store.catRead.Store(0)
		store.catWritten.Store(0)
		require.NoError(t, compact(t, store))
		// 33, and the history's first snapshot when it is in the block
		// listed first (it was taken just before, by a backup).
		require.LessOrEqual(t, store.snapListed.Load(), int64(34), "snapshot keys listed after %d", hist)
		require.GreaterOrEqual(t, store.snapListed.Load(), int64(33))
		require.Zero(t, store.catRead.Load(), "no catalog object is read after %d", hist)
		require.Less(t, store.catWritten.Load(), int64(33*300), "catalog bytes written after %d", hist)
		require.Len(t, segments(t, store), 2)
		require.Equal(t, catalogTruth(t, store), freshCatalog(t, store))
	}
}

// TestCompactCatalogMergesDropForgottenAndAddLate: a compaction that
// merges a segment lists its range again: a forgotten snapshot's summary
// is dropped, and a manifest that appeared in that range after the
// segment was written (a concurrent backup's slow commit, a writer whose
// clock is behind) is added. Readers then read no manifest.
func TestCompactCatalogMergesDropForgottenAndAddLate(t *testing.T) {
	e, ctx := manySnapshots(t, 40)
	store := &manifestCount{Store: e.Store()}
	require.NoError(t, compact(t, store))
	first := freshCatalog(t, store)
	time.Sleep(5 * time.Millisecond)
	addSnapshots(t, e, 10)
	require.NoError(t, e.Forget(ctx, "acme", first[3].ID, first[20].ID))
	m, r, err := e.manifest(ctx, "acme", first[10].ID)
	require.NoError(t, err)
	late := first[10].ID[:24] + "0123456789ab"
	saveCopy(t, r, m, late, m.Timestamp.Add(time.Millisecond))

	require.NoError(t, compact(t, store))
	segs := segments(t, store)
	require.Len(t, segs, 1, "the 40-summary segment is merged")
	require.Equal(t, 40+10-2+1, segs[0].Count)
	store.n.Store(0)
	cat := freshCatalog(t, store)
	require.Zero(t, store.n.Load(), "manifests read by a reader")
	require.Equal(t, catalogTruth(t, store), cat)
	require.Len(t, cat, 49)
}

type manifestCount struct {
	storage.Store
	n atomic.Int64
}

func (m *manifestCount) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.Contains(key, "/snapshots/") {
		m.n.Add(1)
	}
	return m.Store.Get(ctx, key)
}

// TestCatalogAfterDeletedOrDamagedSegment: readers answer from the
// manifests for what a damaged segment held and use the others; a deleted
// segment leaves a gap the next compaction lists again, so a segment
// covers its snapshots again.
func TestCatalogAfterDeletedOrDamagedSegment(t *testing.T) {
	e, ctx := manySnapshots(t, 70)
	store := &manifestCount{Store: e.Store()}
	require.NoError(t, compact(t, store))
	for range 2 {
		time.Sleep(5 * time.Millisecond)
		addSnapshots(t, e, 40)
		require.NoError(t, compact(t, store))
	}
	segs := segments(t, store)
	require.Len(t, segs, 2, "70, then 40 and 40 merged")
	oldest := segs[0]
	require.Zero(t, oldest.Lo)

	require.NoError(t, storage.PutBytes(ctx, e.Store(), oldest.Key, []byte(`{"snapshots":{}}`), nil))
	require.Equal(t, catalogTruth(t, store), freshCatalog(t, store))

	require.NoError(t, e.Store().Delete(ctx, oldest.Key))
	require.Equal(t, catalogTruth(t, store), freshCatalog(t, store))
	time.Sleep(5 * time.Millisecond)
	addSnapshots(t, e, 5)
	require.NoError(t, compact(t, store))
	segs = segments(t, store)
	require.Len(t, segs, 1)
	require.Equal(t, 155, segs[0].Count)
	store.n.Store(0)
	cat := freshCatalog(t, store)
	require.Zero(t, store.n.Load(), "manifests read by a reader")
	require.Equal(t, catalogTruth(t, store), cat)
}

// TestCompactCatalogFailedMidwayOrConcurrent: a compaction whose deletes
// fail leaves the replaced segments beside their replacement, and
// concurrent compactions write overlapping segments: readers still see
// every snapshot once, and later compactions merge the overlap away.
func TestCompactCatalogFailedMidwayOrConcurrent(t *testing.T) {
	e, _ := manySnapshots(t, 50)
	faults := faultstore.New(e.Store(), 1)
	require.NoError(t, compact(t, faults))
	time.Sleep(5 * time.Millisecond)
	addSnapshots(t, e, 20)
	faults.AddRule(&faultstore.Rule{Op: faultstore.OpDelete, KeyPrefix: "tenants/acme/catalog/", FromNth: 1, Permanent: true})
	require.Error(t, compact(t, faults))
	faults.ClearRules()
	require.Len(t, segments(t, faults), 2, "the merged segment and the one it replaces")
	require.Equal(t, catalogTruth(t, faults), freshCatalog(t, faults))

	for round := range 3 {
		time.Sleep(5 * time.Millisecond)
		addSnapshots(t, e, 30)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { _ = compact(t, faults) })
		}
		wg.Wait()
		cat := freshCatalog(t, faults)
		require.Equal(t, catalogTruth(t, faults), cat)
		require.Len(t, cat, 50+20+30*(round+1))
	}
	time.Sleep(5 * time.Millisecond)
	addSnapshots(t, e, 1)
	require.NoError(t, compact(t, faults))
	total := 0
	for _, s := range segments(t, faults) {
		total += s.Count
	}
	require.Equal(t, 50+20+90+1, total, "no summary is held twice")
}

// TestCompactCatalogReplacesFirstFormatObjects: a scope an older version
// compacted (one catalog object of the first format, not covering the
// newest snapshots) gets one segment covering every snapshot, and the old
// object is deleted.
func TestCompactCatalogReplacesFirstFormatObjects(t *testing.T) {
	e, ctx := manySnapshots(t, 50)
	r, err := e.repo(ctx, "acme", false, false)
	require.NoError(t, err)
	ss, err := e.summaries(ctx, r)
	require.NoError(t, err)
	old := map[string]json.RawMessage{}
	for _, s := range ss[10:] {
		b, err := json.Marshal(&s)
		require.NoError(t, err)
		old[s.ID] = b
	}
	require.NoError(t, r.WriteCatalog(ctx, old, nil))
	require.NoError(t, compact(t, e.Store()))
	segs := segments(t, e.Store())
	require.Len(t, segs, 1)
	require.False(t, segs[0].Legacy)
	require.Equal(t, 50, segs[0].Count)
	require.Equal(t, catalogTruth(t, e.Store()), freshCatalog(t, e.Store()))
}

package backup_test

import (
	"context"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/storage"
)

// opCounter counts what a backup costs a store, whatever the machine's
// load: the reads and the bytes they return, the keys listings yield (in
// all and by the kind of object listed, such as "snapshots/"), and the
// writes and their bytes (in all and by kind).
type opCounter struct {
	storage.Store
	reads, listed, readBytes, writes, written atomic.Int64

	mu                  sync.Mutex
	listedBy, writtenBy map[string]int64
	readBy              map[string]*atomic.Int64
}

// keySegments are the kinds of objects opCounter counts apart.
var keySegments = []string{"snapshots/", "catalog/", "index/", "locks/", "packs/"}

// segmentOf returns the kind of object a key or prefix names, "" for
// others.
func segmentOf(key string) string {
	for _, seg := range keySegments {
		if strings.Contains(key, "/"+seg) {
			return seg
		}
	}
	return ""
}

func (c *opCounter) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.reads.Add(1)
	rc, err := c.Store.Get(ctx, key)
	return c.countReads(key, rc, err)
}

func (c *opCounter) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	c.reads.Add(1)
	rc, err := c.Store.GetRange(ctx, key, off, n)
	return c.countReads(key, rc, err)
}

func (c *opCounter) countReads(key string, rc io.ReadCloser, err error) (io.ReadCloser, error) {
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readBy == nil {
		c.readBy = map[string]*atomic.Int64{}
	}
	kind := c.readBy[segmentOf(key)]
	if kind == nil {
		kind = new(atomic.Int64)
		c.readBy[segmentOf(key)] = kind
	}
	return &countingReader{ReadCloser: rc, n: &c.readBytes, kind: kind}, nil
}

type countingReader struct {
	io.ReadCloser
	n, kind *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	if r.kind != nil {
		r.kind.Add(int64(n))
	}
	return n, err
}

func (c *opCounter) Put(ctx context.Context, key string, r io.Reader, opts *storage.PutOptions) error {
	c.writes.Add(1)
	var n atomic.Int64
	err := c.Store.Put(ctx, key, &countingReader{ReadCloser: io.NopCloser(r), n: &n}, opts)
	c.written.Add(n.Load())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writtenBy == nil {
		c.writtenBy = map[string]int64{}
	}
	c.writtenBy[segmentOf(key)] += n.Load()
	return err
}

func (c *opCounter) List(ctx context.Context, prefix string) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) {
		n := int64(0)
		defer func() { c.countListed(prefix, n) }()
		for oi, err := range c.Store.List(ctx, prefix) {
			n++
			if !yield(oi, err) {
				return
			}
		}
	}
}

var _ storage.KeyLister = (*opCounter)(nil)

// ListKeys counts as List does and passes the store's key listing on.
func (c *opCounter) ListKeys(ctx context.Context, prefixes ...string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		n := int64(0)
		if len(prefixes) > 0 {
			defer func() { c.countListed(prefixes[0], n) }()
		}
		for key, err := range storage.ListKeys(ctx, c.Store, prefixes...) {
			n++
			if !yield(key, err) {
				return
			}
		}
	}
}

// countListed counts n keys listed under prefix, once per listing: a
// lock and a map update for each key made a listing of 10,000 snapshot
// keys cost the benchmark a millisecond of its own.
func (c *opCounter) countListed(prefix string, n int64) {
	c.listed.Add(n)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.listedBy == nil {
		c.listedBy = map[string]int64{}
	}
	c.listedBy[segmentOf(prefix)] += n
}

// listedUnder returns how many keys listings of objects of kind seg (such
// as "snapshots/") have yielded.
func (c *opCounter) listedUnder(seg string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.listedBy[seg]
}

// readUnder returns how many bytes reads of objects of kind seg returned.
func (c *opCounter) readUnder(seg string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.readBy[seg]; n != nil {
		return n.Load()
	}
	return 0
}

// writtenUnder returns how many bytes were written to objects of kind seg.
func (c *opCounter) writtenUnder(seg string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writtenBy[seg]
}

func (c *opCounter) reset() {
	c.reads.Store(0)
	c.listed.Store(0)
	c.readBytes.Store(0)
	c.writes.Store(0)
	c.written.Store(0)
	c.mu.Lock()
	c.listedBy, c.writtenBy, c.readBy = nil, nil, nil
	c.mu.Unlock()
}

// historyTenant is the 100-file tenant of BenchmarkBackupAfterHistory;
// backupOnce backs it up by a fresh Engine (a new process: nothing
// cached) after changing one file. Its backups are an hour apart on the
// engines' clock (backup i at historyStart plus i hours), as a real
// history is spread over time: made in a loop under the machine's clock,
// 10,000 backups fall within 35 seconds, 300 a second, and every span of
// ID times the catalog lists holds all of them (see compactCatalog).
type historyTenant struct {
	store storage.Store
	fsys  fstest.MapFS
}

// historyStart is the clock time of a history's first backup.
var historyStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newHistoryTenant(store storage.Store) *historyTenant {
	fsys := fstest.MapFS{}
	for i := range 100 {
		fsys[fmt.Sprintf("docs/%03d.txt", i)] = &fstest.MapFile{Data: randBytes(uint64(i), 2000)}
	}
	return &historyTenant{store: store, fsys: fsys}
}

func (h *historyTenant) backupOnce(tb testing.TB, i int) {
	h.fsys["docs/000.txt"] = &fstest.MapFile{Data: fmt.Appendf(nil, "version %d", i), ModTime: time.Unix(int64(i), 0)}
	clock := fakeclock.New(historyStart.Add(time.Duration(i) * time.Hour))
	e, err := backup.New(h.store, &backup.Config{Clock: clock})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := e.Backup(master(), "acme", backup.FSSource(h.fsys), &backup.Options{Type: backup.Incremental}); err != nil {
		tb.Fatal(err)
	}
}

// historyDir returns a directory holding n earlier snapshots of the
// history tenant, made by real backups. With STEWARD_HISTORY_DIR set, the
// history is built once under it (hourly-n<N>, completed by a ".complete"
// file) and copied for each run: 10,000 backups take a few minutes.
func historyDir(b *testing.B, n int) string {
	dir := b.TempDir()
	keep := os.Getenv("STEWARD_HISTORY_DIR")
	if keep == "" {
		buildHistory(b, dir, n)
		return dir
	}
	fixture := filepath.Join(keep, fmt.Sprintf("hourly-n%d", n))
	if _, err := os.Stat(filepath.Join(fixture, ".complete")); err != nil {
		if err := os.RemoveAll(fixture); err != nil {
			b.Fatal(err)
		}
		buildHistory(b, fixture, n)
		if err := os.WriteFile(filepath.Join(fixture, ".complete"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.CopyFS(dir, os.DirFS(fixture)); err != nil {
		b.Fatal(err)
	}
	return dir
}

func buildHistory(b *testing.B, dir string, n int) {
	store, err := storage.OpenDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	h := newHistoryTenant(store)
	for i := range n {
		h.backupOnce(b, i)
	}
}

// BenchmarkBackupAfterHistory measures one incremental backup of a
// 100-file tenant with one changed file, by a fresh Engine, in a directory
// store holding n earlier snapshots. Its cost should not grow with n:
// besides the time, it reports per backup what the machine's load does not
// change: objects read, keys listed (of them, snapshot keys), bytes read
// and written, and the process's CPU time.
func BenchmarkBackupAfterHistory(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("snapshots=%d", n), func(b *testing.B) {
			dir, err := storage.OpenDir(historyDir(b, n))
			if err != nil {
				b.Fatal(err)
			}
			store := &opCounter{Store: dir}
			h := newHistoryTenant(store)
			store.reset()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				h.backupOnce(b, n+i)
			}
			cpu := cpuTime() - cpu0
			per := func(v int64) float64 { return float64(v) / float64(b.N) }
			b.ReportMetric(per(store.reads.Load()), "reads/op")
			b.ReportMetric(per(store.listed.Load()), "listed/op")
			b.ReportMetric(per(store.listedUnder("snapshots/")), "snaplisted/op")
			b.ReportMetric(per(store.readBytes.Load()), "readB/op")
			b.ReportMetric(per(store.readUnder("catalog/")), "catreadB/op")
			b.ReportMetric(per(store.readUnder("index/")), "idxreadB/op")
			b.ReportMetric(per(store.written.Load()), "writtenB/op")
			b.ReportMetric(per(store.writtenUnder("catalog/")), "catwrittenB/op")
			b.ReportMetric(per(store.writtenUnder("index/")), "idxwrittenB/op")
			b.ReportMetric(per(int64(cpu))/1e6, "cpu-ms/op")
		})
	}
}

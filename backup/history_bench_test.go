package backup_test

import (
	"context"
	"fmt"
	"io"
	"iter"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// opCounter counts the reads of a store and the keys its listings yield:
// what a backup costs a store, whatever the machine's load.
type opCounter struct {
	storage.Store
	reads, listed atomic.Int64
}

func (c *opCounter) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.reads.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *opCounter) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	c.reads.Add(1)
	return c.Store.GetRange(ctx, key, off, n)
}

func (c *opCounter) List(ctx context.Context, prefix string) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) {
		for oi, err := range c.Store.List(ctx, prefix) {
			c.listed.Add(1)
			if !yield(oi, err) {
				return
			}
		}
	}
}

// BenchmarkBackupAfterHistory measures one incremental backup of a
// 100-file tenant with one changed file, by a fresh Engine (a new process:
// nothing cached), in a directory store holding n earlier snapshots. Its
// cost should not grow with n: besides the time, it reports the objects
// read and the keys listed per backup, which the machine's load does not
// change.
func BenchmarkBackupAfterHistory(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("snapshots=%d", n), func(b *testing.B) {
			ctx := master()
			dir, err := storage.OpenDir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			store := &opCounter{Store: dir}
			fsys := fstest.MapFS{}
			for i := range 100 {
				fsys[fmt.Sprintf("docs/%03d.txt", i)] = &fstest.MapFile{Data: randBytes(uint64(i), 2000)}
			}
			backupOnce := func(i int) {
				fsys["docs/000.txt"] = &fstest.MapFile{Data: fmt.Appendf(nil, "version %d", i), ModTime: time.Unix(int64(i), 0)}
				e, err := backup.New(store, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Incremental}); err != nil {
					b.Fatal(err)
				}
			}
			for i := range n {
				backupOnce(i)
			}
			store.reads.Store(0)
			store.listed.Store(0)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				backupOnce(n + i)
			}
			b.ReportMetric(float64(store.reads.Load())/float64(b.N), "reads/op")
			b.ReportMetric(float64(store.listed.Load())/float64(b.N), "listed/op")
		})
	}
}

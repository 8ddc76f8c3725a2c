package backup_test

import (
	"fmt"
	"testing"
	"testing/fstest"
	"time"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// BenchmarkBackupAfterHistory measures one incremental backup of a
// 100-file tenant with one changed file, by a fresh Engine (a new process:
// nothing cached), in a repository holding n earlier snapshots. Its cost
// should not grow with n.
func BenchmarkBackupAfterHistory(b *testing.B) {
	for _, n := range []int{10, 300, 1000} {
		b.Run(fmt.Sprintf("snapshots=%d", n), func(b *testing.B) {
			ctx := master()
			store := storage.NewMemory()
			fsys := fstest.MapFS{}
			for i := range 100 {
				fsys[fmt.Sprintf("docs/%03d.txt", i)] = &fstest.MapFile{Data: randBytes(uint64(i), 2000)}
			}
			e, err := backup.New(store, nil)
			if err != nil {
				b.Fatal(err)
			}
			change := func(i int) {
				fsys["docs/000.txt"] = &fstest.MapFile{Data: fmt.Appendf(nil, "version %d", i), ModTime: time.Unix(int64(i), 0)}
			}
			for i := range n {
				change(i)
				if _, err := e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Incremental}); err != nil {
					b.Fatal(err)
				}
			}
			objects := 0
			for _, err := range store.List(ctx, "") {
				if err != nil {
					b.Fatal(err)
				}
				objects++
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				change(n + i)
				fresh, err := backup.New(store, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := fresh.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Incremental}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(objects)/float64(n), "objects/snapshot")
		})
	}
}

package restore_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/fstest"
	"time"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
)

// BenchmarkRestore restores one snapshot into a MemoryTarget (so the
// figure is the restore's own work, not a disk's): many small files, a few
// large ones, and the small files again from a store answering each
// request after 2 ms (an object store's round trip), where reading small
// chunks through shared pack windows matters. SetBytes is the logical size.
//
//	go test -run x -bench Restore -benchmem ./restore/
func BenchmarkRestore(b *testing.B) {
	rnd := rand.New(rand.NewPCG(1, 2))
	data := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rnd.Uint32())
		}
		return p
	}
	small, large := fstest.MapFS{}, fstest.MapFS{}
	var smallBytes, largeBytes int64
	for i := range 1000 {
		d := data(2000 + i%3000)
		small[fmt.Sprintf("m%d/f%04d.json", i%10, i)] = &fstest.MapFile{Data: d, Mode: 0o644, ModTime: t0}
		smallBytes += int64(len(d))
	}
	for i := range 4 {
		d := data(16 << 20)
		large[fmt.Sprintf("big/%d.bin", i)] = &fstest.MapFile{Data: d, Mode: 0o644, ModTime: t0}
		largeBytes += int64(len(d))
	}
	for _, bc := range []struct {
		name    string
		fsys    fstest.MapFS
		bytes   int64
		latency time.Duration
	}{
		{"small-files", small, smallBytes, 0},
		{"large-files", large, largeBytes, 0},
		{"small-files-2ms-store", small, smallBytes, 2 * time.Millisecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			mem := storage.NewMemory()
			e, err := backup.New(mem, &backup.Config{Keys: backup.PassphraseWithOptions("p", backup.PassphraseOptions{MemoryKiB: 64, Time: 1})})
			if err != nil {
				b.Fatal(err)
			}
			snap, err := e.Backup(master(), "acme", backup.FSSource(bc.fsys), &backup.Options{Type: backup.Full, Encrypt: true})
			if err != nil {
				b.Fatal(err)
			}
			var packBytes int64
			for oi, err := range mem.List(master(), "tenants/acme/packs/") {
				if err != nil {
					b.Fatal(err)
				}
				packBytes += oi.Size
			}
			fs := faultstore.New(mem, 1)
			fs.Latency = bc.latency
			b.SetBytes(bc.bytes)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				// A new engine each time, as a restore in a new process:
				// it loads the index and reads every chunk from the store.
				re, err := backup.New(fs, &backup.Config{Keys: backup.PassphraseWithOptions("p", backup.PassphraseOptions{MemoryKiB: 64, Time: 1})})
				if err != nil {
					b.Fatal(err)
				}
				rep, err := restore.New(re, nil).Restore(master(), "acme", snap.ID, restore.MemoryTarget(), nil)
				if err != nil {
					b.Fatal(err)
				}
				if rep.BytesRestored != bc.bytes {
					b.Fatalf("restored %d bytes, want %d", rep.BytesRestored, bc.bytes)
				}
			}
			b.ReportMetric(float64(fs.Calls(faultstore.OpGetRange))/float64(b.N), "range-reads/op")
			// Each pack read once would be 1 (the index and entry lists
			// count too): above it, parts of packs were read again.
			b.ReportMetric(float64(fs.BytesRead())/float64(b.N)/float64(packBytes), "read/packs")
		})
	}
}

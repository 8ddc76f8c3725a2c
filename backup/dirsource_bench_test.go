package backup_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// writeBenchDir writes benchFS under a temporary directory.
func writeBenchDir(b *testing.B) (string, int64) {
	b.Helper()
	fsys, total := benchFS()
	dir := b.TempDir()
	for p, f := range fsys {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(full, f.Data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir, total
}

// BenchmarkBackupPipelineDir is BenchmarkBackupPipeline reading from disk
// through DirSource: the same files, and 2,000 small files four
// directories deep, where DirSource's per-file cost shows most.
func BenchmarkBackupPipelineDir(b *testing.B) {
	blobs, total := writeBenchDir(b)
	small := writeSmallFiles(b)
	for _, bc := range []struct {
		name, dir string
		size      int64
	}{{"blobs", blobs, total}, {"small", small, 2000 * 8}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := master()
			b.ReportAllocs()
			b.SetBytes(bc.size)
			for b.Loop() {
				e, _ := backup.New(&packSink{Store: storage.NewMemory()}, &backup.Config{Keys: cheapKeys("p"), Parallelism: 2})
				if _, err := e.Backup(ctx, "acme", backup.DirSource(bc.dir), &backup.Options{Type: backup.Full, Encrypt: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// writeSmallFiles writes 2,000 files of 8 bytes four directories deep.
func writeSmallFiles(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	for i := range 2000 {
		full := filepath.Join(dir, fmt.Sprintf("t%d/u%d/v%d/f%04d.json", i%4, i%10, i%25, i))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(`{"id":1}`), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkDirSourceSmallFiles measures DirSource's per-file cost on a
// tree of 2,000 small files four directories deep: the walk alone, the
// walk with each file opened and read as the pipeline does (OpenEntry),
// and with each opened by path (Source.Open, as a wrapping Source would).
func BenchmarkDirSourceSmallFiles(b *testing.B) {
	src := backup.DirSource(writeSmallFiles(b))
	ctx := context.Background()
	open := map[string]func(backup.Entry) (io.ReadCloser, error){
		"walk":      nil,
		"openEntry": func(e backup.Entry) (io.ReadCloser, error) { return backup.OpenEntry(ctx, src, e) },
		"open":      func(e backup.Entry) (io.ReadCloser, error) { return src.Open(ctx, e.Path) },
	}
	for _, name := range []string{"walk", "openEntry", "open"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := src.Walk(ctx, readEach(open[name])); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// readEach returns a walk function reading each regular file opened by
// open (nil: none).
func readEach(open func(backup.Entry) (io.ReadCloser, error)) func(backup.Entry) error {
	return func(e backup.Entry) error {
		if open == nil || !e.Mode.IsRegular() {
			return nil
		}
		rc, err := open(e)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		return err
	}
}

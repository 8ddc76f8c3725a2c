package backup_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"testing/fstest"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

func benchFS() (fstest.MapFS, int64) {
	fsys := fstest.MapFS{}
	var total int64
	for i := range 8 {
		data := randBytes(uint64(i), 8<<20)
		fsys[fmt.Sprintf("blobs/%d.bin", i)] = &fstest.MapFile{Data: data, Mode: 0o644}
		total += int64(len(data))
	}
	for i := range 200 {
		data := []byte(fmt.Sprintf(`{"id":%d,"name":"user %d","notes":"%0500d"}`, i, i, i))
		fsys[fmt.Sprintf("users/%03d.json", i)] = &fstest.MapFile{Data: data, Mode: 0o644}
		total += int64(len(data))
	}
	return fsys, total
}

// BenchmarkBackup measures the whole pipeline (walk, chunk, hash, compress,
// encrypt, pack, index, manifest) into a memory store.
func BenchmarkBackup(b *testing.B) {
	fsys, total := benchFS()
	ctx := master()
	b.ReportAllocs()
	b.SetBytes(total)
	for b.Loop() {
		e, _ := backup.New(storage.NewMemory(), &backup.Config{Keys: cheapKeys("p")})
		if _, err := e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenFile measures reading a file back: fetch, decrypt,
// decompress, verify each chunk and the file's SHA-256.
func BenchmarkOpenFile(b *testing.B) {
	fsys, _ := benchFS()
	ctx := master()
	e, _ := backup.New(storage.NewMemory(), &backup.Config{Keys: cheapKeys("p")})
	snap, err := e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: true})
	if err != nil {
		b.Fatal(err)
	}
	var f backup.File
	for x, err := range e.Files(ctx, "acme", snap.ID) {
		if err != nil {
			b.Fatal(err)
		}
		if x.Path == "blobs/0.bin" {
			f = x
		}
	}
	b.ReportAllocs()
	b.SetBytes(f.Size)
	for b.Loop() {
		rc, err := e.OpenFile(ctx, "acme", f, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}

// BenchmarkBackupPipeline is BenchmarkBackup with pack bodies discarded
// by the store, so it measures the pipeline (walk, chunk, SHA-256, chunk
// IDs, zstd, AES-GCM, pack assembly) rather than the memory store's copies.
func BenchmarkBackupPipeline(b *testing.B) {
	fsys, total := benchFS()
	ctx := master()
	for _, par := range []int{1, 2} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(total)
			for b.Loop() {
				e, _ := backup.New(&packSink{Store: storage.NewMemory()}, &backup.Config{Keys: cheapKeys("p"), Parallelism: par})
				if _, err := e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBackupIncrementalUnchanged measures an incremental backup of
// unchanged data: walk, compare with the parent's entry list, write a new
// entry list and manifest. SetBytes is the logical size covered.
func BenchmarkBackupIncrementalUnchanged(b *testing.B) {
	fsys, total := benchFS()
	ctx := master()
	e, _ := backup.New(storage.NewMemory(), &backup.Config{Keys: cheapKeys("p")})
	if _, err := e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: true}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(total)
	for b.Loop() {
		if _, err := e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Incremental, Encrypt: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPassphraseUnwrap measures opening a passphrase-wrapped data key
// with the default argon2id parameters (6 passes over 32 MiB): the fixed
// cost every CLI command on an encrypted scope pays once.
func BenchmarkPassphraseUnwrap(b *testing.B) {
	ctx := context.Background()
	keys := backup.Passphrase("correct horse battery staple")
	dataKey := make([]byte, 32)
	wrapped, err := keys.Wrap(ctx, "acme", dataKey)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := keys.Unwrap(ctx, "acme", wrapped)
		if err != nil || len(got) != 32 {
			b.Fatal(len(got), err)
		}
	}
}

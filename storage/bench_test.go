package storage_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/iluxsys/steward/storage"
)

func benchStores(b *testing.B) map[string]storage.Store {
	dir, err := storage.OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return map[string]storage.Store{"mem": storage.NewMemory(), "file": dir}
}

func BenchmarkPut(b *testing.B) {
	data := bytes.Repeat([]byte("steward!"), 1<<17) // 1 MiB
	for name, s := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			i := 0
			for b.Loop() {
				if err := s.Put(context.Background(), fmt.Sprintf("b/%d", i%64), bytes.NewReader(data), nil); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkGet reads a 1 MiB object and a small one (an index delta's
// size), where opening costs more than reading.
func BenchmarkGet(b *testing.B) {
	for _, size := range []int{200, 1 << 20} {
		data := bytes.Repeat([]byte("steward!"), size/8)
		for name, s := range benchStores(b) {
			b.Run(fmt.Sprintf("%s/%d", name, size), func(b *testing.B) {
				ctx := context.Background()
				if err := storage.PutBytes(ctx, s, "b/obj", data, nil); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					rc, err := s.Get(ctx, "b/obj")
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, rc); err != nil {
						b.Fatal(err)
					}
					rc.Close()
				}
			})
		}
	}
}

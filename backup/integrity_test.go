package backup_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// TestFlippedByteInEachPackIsNamed flips one byte of one pack at a time
// and reads the whole snapshot back: reading fails with ErrCorrupt naming
// exactly that pack object, and the file being read.
func TestFlippedByteInEachPackIsNamed(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
	require.NoError(t, err)
	fsys := fstest.MapFS{}
	for i := range 4 {
		fsys[fmt.Sprintf("data/%d.bin", i)] = &fstest.MapFile{Data: randBytes(uint64(70+i), 5<<20), Mode: 0o644}
	}
	snap, err := e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: true})
	require.NoError(t, err)
	var packs []string
	for oi, err := range store.List(context.Background(), "tenants/acme/packs/") {
		require.NoError(t, err)
		packs = append(packs, oi.Key)
	}
	require.GreaterOrEqual(t, len(packs), 2, "the data spans several packs")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, key := range packs {
		t.Run(key[len(key)-8:], func(t *testing.T) {
			orig, err := storage.ReadAll(context.Background(), store, key)
			require.NoError(t, err)
			bad := append([]byte(nil), orig...)
			at := rng.IntN(len(bad) / 2) // within the blobs, not the header
			bad[at] ^= 0x20
			require.NoError(t, storage.PutBytes(context.Background(), store, key, bad, nil))
			defer func() { require.NoError(t, storage.PutBytes(context.Background(), store, key, orig, nil)) }()

			fresh, err := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
			require.NoError(t, err)
			var failures []error
			for f, err := range fresh.Files(ctx, "acme", snap.ID) {
				if err != nil {
					failures = append(failures, err)
					break
				}
				if !f.Mode.IsRegular() {
					continue
				}
				rc, err := fresh.OpenFile(ctx, "acme", f, nil)
				require.NoError(t, err)
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					require.Contains(t, err.Error(), f.Path, "the error names the file")
					failures = append(failures, err)
					continue
				}
				require.Equal(t, fsys[f.Path].Data, b, "a file not in the flipped blob reads back intact")
			}
			require.Len(t, failures, 1, "exactly the chunk holding the flipped byte fails")
			require.ErrorIs(t, failures[0], backup.ErrCorrupt)
			require.Contains(t, failures[0].Error(), key, "the error names the pack object")
		})
	}
}

// genSource is a Source of generated files: content comes from a seeded
// generator on each Open, so no file is ever held in memory.
type genSource struct {
	files int
	size  int64
	opens atomic.Int64
}

func (g *genSource) path(i int) string { return fmt.Sprintf("gen/%04d.bin", i) }

func (g *genSource) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	if err := fn(backup.Entry{Path: "gen", Mode: os.ModeDir | 0o755}); err != nil {
		return err
	}
	for i := range g.files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(backup.Entry{Path: g.path(i), Size: g.size, Mode: 0o644, ModTime: time.Unix(1e9, 0)}); err != nil {
			return err
		}
	}
	return nil
}

func (g *genSource) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	var i int
	if _, err := fmt.Sscanf(p, "gen/%04d.bin", &i); err != nil {
		return nil, os.ErrNotExist
	}
	g.opens.Add(1)
	return io.NopCloser(io.LimitReader(&pcgReader{r: rand.New(rand.NewPCG(uint64(i), 7))}, g.size)), nil
}

type pcgReader struct{ r *rand.Rand }

func (p *pcgReader) Read(b []byte) (int, error) {
	for i := 0; i < len(b); i += 8 {
		v := p.r.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return len(b), nil
}

// packSink drops pack bodies (counting them) and keeps every other object:
// enough for a backup to commit, without holding the data in memory.
type packSink struct {
	storage.Store
	packBytes atomic.Int64
}

func (s *packSink) Put(ctx context.Context, key string, r io.Reader, o *storage.PutOptions) error {
	if strings.Contains(key, "/packs/") {
		n, err := io.Copy(io.Discard, r)
		s.packBytes.Add(n)
		return err
	}
	return s.Store.Put(ctx, key, r, o)
}

// TestMemoryIsBoundedByConfig backs up generated data and samples the
// heap: the peak stays under a bound set by Parallelism, whatever the
// data size (48 MiB by default, 2 GiB with STEWARD_HEAVY=1).
func TestMemoryIsBoundedByConfig(t *testing.T) {
	src := &genSource{files: 6, size: 8 << 20}
	if os.Getenv("STEWARD_HEAVY") != "" {
		src = &genSource{files: 64, size: 32 << 20}
	}
	store := &packSink{Store: storage.NewMemory()}
	e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p"), Parallelism: 2})
	require.NoError(t, err)
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			// A collection first: the figure is the live heap, which the
			// configuration bounds, not garbage the collector has not
			// reached yet (that depends on GC pacing and machine load).
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	snap, err := e.Backup(master(), "acme", src, &backup.Options{Type: backup.Full, Encrypt: true})
	close(stop)
	<-done
	require.NoError(t, err)
	total := int64(src.files) * src.size
	require.Equal(t, total, snap.Metadata.SizeBytes)
	require.GreaterOrEqual(t, store.packBytes.Load(), total, "random data is stored whole")
	t.Logf("backed up %d MiB with peak live heap %d MiB", total>>20, peak.Load()>>20)
	require.Less(t, peak.Load(), uint64(160<<20), "peak heap is bounded by configuration, not by the %d MiB of data", total>>20)
}

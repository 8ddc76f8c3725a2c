package backup_test

import (
	"context"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/storage"
)

// cancellingStore cancels a context at its k-th operation (any kind): a
// deterministic "random point" in the backup.
type cancellingStore struct {
	storage.Store
	k, ops atomic.Int64
	cancel context.CancelFunc
}

func (c *cancellingStore) tick() {
	if c.ops.Add(1) == c.k.Load() {
		c.cancel()
	}
}

func (c *cancellingStore) Put(ctx context.Context, key string, r io.Reader, o *storage.PutOptions) error {
	c.tick()
	return c.Store.Put(ctx, key, r, o)
}

func (c *cancellingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.tick()
	return c.Store.Get(ctx, key)
}

func (c *cancellingStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	c.tick()
	return c.Store.GetRange(ctx, key, off, n)
}

func (c *cancellingStore) List(ctx context.Context, prefix string) iter.Seq2[storage.ObjectInfo, error] {
	c.tick()
	return c.Store.List(ctx, prefix)
}

func (c *cancellingStore) Delete(ctx context.Context, key string) error {
	c.tick()
	return c.Store.Delete(ctx, key)
}

// crashData is a small tree that still spans several packs.
func crashData() (fstest.MapFS, map[string][]byte) {
	fsys := fstest.MapFS{}
	want := map[string][]byte{}
	for i := range 4 {
		p := fmt.Sprintf("m%d/f%02d.bin", i%3, i)
		b := randBytes(uint64(500+i), 17<<18+i) // 4.25 MiB: two packs in all
		fsys[p] = &fstest.MapFile{Data: b, Mode: 0o644}
		want[p] = b
	}
	for i := range 20 {
		p := fmt.Sprintf("small/%02d.txt", i)
		b := []byte(fmt.Sprintf("small file %d", i))
		fsys[p] = &fstest.MapFile{Data: b, Mode: 0o644}
		want[p] = b
	}
	return fsys, want
}

// requireConsistent checks, with a fresh engine, that every visible
// snapshot reads back in full, and that a new backup on the same store
// succeeds and reads back: a crash leaves nothing that blocks the next.
func requireConsistent(t *testing.T, store storage.Store, fsys fstest.MapFS, want map[string][]byte) int {
	t.Helper()
	e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p"), Parallelism: 2})
	require.NoError(t, err)
	cat, err := e.Catalog(master(), "acme")
	require.NoError(t, err)
	for _, s := range cat {
		require.Equal(t, want, readBack(t, e, "acme", s.ID), "visible snapshot %s restores in full", s.ID)
	}
	s, err := e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: true})
	require.NoError(t, err, "a backup after the crash succeeds")
	require.Equal(t, want, readBack(t, e, "acme", s.ID))
	return len(cat)
}

func TestCrashConsistencyNthWriteFails(t *testing.T) {
	fsys, want := crashData()
	// Count the writes of a clean backup, then fail each one in turn.
	clean := faultstore.New(storage.NewMemory(), 1)
	e, err := backup.New(clean, &backup.Config{Keys: cheapKeys("p"), Parallelism: 2})
	require.NoError(t, err)
	_, err = e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: true})
	require.NoError(t, err)
	puts := clean.Calls(faultstore.OpPut)
	require.Greater(t, puts, int64(5), "the backup spans several writes")
	// The count is not fixed: two workers fill packs in the order they
	// reach the chunks, so a run may write one pack fewer than the one
	// counted. A run that never reaches its n-th write must then succeed.
	fired := 0
	for n := int64(1); n <= puts; n++ {
		t.Run(fmt.Sprintf("put-%d-of-%d", n, puts), func(t *testing.T) {
			mem := storage.NewMemory()
			fs := faultstore.New(mem, uint64(n))
			fs.AddRule(&faultstore.Rule{Op: faultstore.OpPut, Nth: n, Permanent: true})
			e, err := backup.New(fs, &backup.Config{Keys: cheapKeys("p"), Parallelism: 2})
			require.NoError(t, err)
			_, err = e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: true})
			if fs.Injected() == 0 {
				require.NoError(t, err, "no write failed")
				require.Less(t, fs.Calls(faultstore.OpPut), n, "the rule fires at the n-th write")
				require.Equal(t, 1, requireConsistent(t, mem, fsys, want))
				return
			}
			fired++
			if err == nil {
				// Only the head hint, written after the manifest, may
				// fail without failing the backup: the snapshot is
				// committed and whole, and no hint was written.
				_, serr := mem.Stat(context.Background(), "tenants/acme/head")
				require.ErrorIs(t, serr, storage.ErrNotFound, "a write other than the head hint's failed unnoticed")
				require.Equal(t, 1, requireConsistent(t, mem, fsys, want))
				return
			}
			require.Zero(t, requireConsistent(t, mem, fsys, want), "no snapshot became visible")
		})
	}
	require.GreaterOrEqual(t, fired, int(puts)-1, "at most the last write can be missing from a run")
}

func TestCrashConsistencyCancelAtEveryOperation(t *testing.T) {
	fsys, want := crashData()
	count := &cancellingStore{Store: storage.NewMemory(), cancel: func() {}}
	e, err := backup.New(count, &backup.Config{Keys: cheapKeys("p"), Parallelism: 2})
	require.NoError(t, err)
	_, err = e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: true})
	require.NoError(t, err)
	ops := count.ops.Load()
	step := int64(1)
	if os.Getenv("STEWARD_HEAVY") == "" && ops > 6 {
		step = ops / 6 // a spread of points; STEWARD_HEAVY=1 tries every one
	}
	for k := int64(1); k <= ops+1; k += step {
		t.Run(fmt.Sprintf("op-%d-of-%d", k, ops), func(t *testing.T) {
			mem := storage.NewMemory()
			ctx, cancel := context.WithCancel(master())
			defer cancel()
			cs := &cancellingStore{Store: mem, cancel: cancel}
			cs.k.Store(k)
			e, err := backup.New(cs, &backup.Config{Keys: cheapKeys("p"), Parallelism: 2})
			require.NoError(t, err)
			_, err = e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: true})
			if err != nil {
				require.ErrorIs(t, err, context.Canceled)
			}
			visible := requireConsistent(t, mem, fsys, want)
			if err != nil {
				require.Zero(t, visible, "a cancelled backup left no snapshot")
			}
		})
	}
}

func TestCrashConsistencyRandomFaults(t *testing.T) {
	fsys, want := crashData()
	seeds := 3
	if os.Getenv("STEWARD_HEAVY") != "" {
		seeds = 200
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed-", seed), func(t *testing.T) {
			mem := storage.NewMemory()
			fs := faultstore.New(mem, uint64(seed))
			fs.AddRule(&faultstore.Rule{Probability: 0.05 + rand.New(rand.NewPCG(uint64(seed), 0)).Float64()*0.1, Permanent: true})
			e, err := backup.New(fs, &backup.Config{Keys: cheapKeys("p"), Parallelism: 2})
			require.NoError(t, err)
			_, err = e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: true})
			visible := requireConsistent(t, mem, fsys, want)
			if err != nil {
				require.Zero(t, visible, "a failed backup left no snapshot")
			} else {
				require.Equal(t, 1, visible)
			}
		})
	}
}

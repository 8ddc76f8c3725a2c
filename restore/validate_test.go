package restore_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
)

// genSource is a Source of n files of size bytes each, incompressible and
// generated as they are read: backing it up holds none of it in memory.
type genSource struct {
	n    int
	size int64
}

func (g genSource) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	for i := range g.n {
		if err := fn(backup.Entry{Path: fmt.Sprintf("gen/%03d.bin", i), Size: g.size, Mode: 0o644, ModTime: t0}); err != nil {
			return err
		}
	}
	return nil
}

func (g genSource) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	var i int
	if _, err := fmt.Sscanf(p, "gen/%03d.bin", &i); err != nil {
		return nil, os.ErrNotExist
	}
	return io.NopCloser(io.LimitReader(pcgReader{rand.New(rand.NewPCG(uint64(i), 11))}, g.size)), nil
}

type pcgReader struct{ r *rand.Rand }

func (p pcgReader) Read(b []byte) (int, error) {
	for i := 0; i < len(b); i += 8 {
		v := p.r.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return len(b), nil
}

// cheapKeys derives keys quickly: the tests are about restores, not KDFs.
func cheapKeys() backup.KeyProvider {
	return backup.PassphraseWithOptions("p", backup.PassphraseOptions{Time: 1, MemoryKiB: 1024, Threads: 1})
}

// backupGen backs up src into a new encrypted scope "acme" of an in-memory
// store and returns the store and the snapshot's ID.
func backupGen(t *testing.T, src genSource) (storage.Store, string) {
	t.Helper()
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Keys: cheapKeys()})
	require.NoError(t, err)
	snap, err := e.Backup(master(), "acme", src, &backup.Options{Type: backup.Full, Encrypt: true})
	require.NoError(t, err)
	require.Equal(t, int64(src.n)*src.size, snap.Metadata.SizeBytes)
	return store, snap.ID
}

// peakHeap runs fn while sampling the live heap (a collection, then
// runtime.ReadMemStats, every few milliseconds) and returns the highest
// figure above the live heap before fn. Collecting first makes the figure
// what fn holds, not garbage the collector has not reached yet.
func peakHeap(fn func()) uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return max(peak, base) - base
}

// validateMeasured validates id in a new engine over store (a drill in
// another process: nothing cached) and returns the Validation and the peak
// live heap above the baseline while it ran.
func validateMeasured(t *testing.T, store storage.Store, id string, cfg *restore.Config) (*restore.Validation, uint64) {
	t.Helper()
	e, err := backup.New(store, &backup.Config{Keys: cheapKeys()})
	require.NoError(t, err)
	r := restore.New(e, cfg)
	var v *restore.Validation
	peak := peakHeap(func() { v, err = r.Validate(master(), "acme", id) })
	require.NoError(t, err)
	return v, peak
}

// TestValidateMemoryIsBounded (STEWARD_HEAVY=1): validating a snapshot
// four times larger than a memory budget keeps the live heap under that
// budget; the content is verified and dropped, never held.
func TestValidateMemoryIsBounded(t *testing.T) {
	if os.Getenv("STEWARD_HEAVY") == "" {
		t.Skip("heavy (backs up and validates 256 MiB): set STEWARD_HEAVY=1")
	}
	const budget = 64 << 20
	src := genSource{n: 8, size: 32 << 20}
	store, id := backupGen(t, src)
	v, peak := validateMeasured(t, store, id, &restore.Config{BufferBytes: budget / 4})
	require.Equal(t, restore.StatusPassed, v.Status, v.Report)
	t.Logf("validated %d MiB with a peak live heap of %.1f MiB over the baseline", int64(src.n)*src.size>>20, float64(peak)/(1<<20))
	require.Less(t, peak, uint64(budget), "peak live heap %d MiB, want under the %d MiB budget", peak>>20, budget>>20)
}

// TestRestoreMemoryPerFile (STEWARD_HEAVY=1): what a restore holds for
// each file of the snapshot, measured as the growth of the peak live heap
// between snapshots of 50,000 and 200,000 tiny files (restored into
// scratch by Validate, through the planned restore; both sizes past where
// the fixed buffers stop growing). A restore keeps one decision a path,
// the report's, and the index's entry of each chunk, not the entries with
// their chunk lists and checksums: about 220 bytes a file, where holding
// the entry list took about 670.
func TestRestoreMemoryPerFile(t *testing.T) {
	if os.Getenv("STEWARD_HEAVY") == "" {
		t.Skip("heavy (backs up and validates 250,000 files): set STEWARD_HEAVY=1")
	}
	peak := func(n int) uint64 {
		store := storage.NewMemory()
		e, err := backup.New(store, &backup.Config{Keys: cheapKeys()})
		require.NoError(t, err)
		snap, err := e.Backup(master(), "acme", tinySource(n), &backup.Options{Type: backup.Full, Encrypt: true})
		require.NoError(t, err)
		require.Equal(t, int64(n), snap.Metadata.FileCount)
		v, p := validateMeasured(t, store, snap.ID, nil)
		require.Equal(t, restore.StatusPassed, v.Status, v.Report)
		return p
	}
	small, large := peak(50_000), peak(200_000)
	perFile := (float64(large) - float64(small)) / 150_000
	t.Logf("peak live heap %.1f MiB at 50,000 files, %.1f MiB at 200,000: %.0f bytes a file", float64(small)/(1<<20), float64(large)/(1<<20), perFile)
	require.Less(t, perFile, 300.0)
}

// tinySource is a tree of n files of 16 bytes, 1,000 to a directory.
type tinySource int

func (n tinySource) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	for i := range int(n) {
		if i%1000 == 0 {
			if err := fn(backup.Entry{Path: fmt.Sprintf("t/%03d", i/1000), Mode: fs.ModeDir | 0o755, ModTime: t0}); err != nil {
				return err
			}
		}
		if err := fn(backup.Entry{Path: fmt.Sprintf("t/%03d/%03d", i/1000, i%1000), Size: 16, Mode: 0o644, ModTime: t0}); err != nil {
			return err
		}
	}
	return nil
}

func (n tinySource) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(fmt.Sprintf("%-16s", p))), nil
}

// TestValidateHoldsNoContent: validating a 64 MiB snapshot never holds
// half of it on the heap; a scratch target that kept the content would hold
// all of it by the end. (One file in flight alone holds up to three of its
// largest chunks, up to 12 MiB, whatever BufferBytes says, and the decoded
// chunk pool up to 4 MiB more: the bound leaves room for them.)
func TestValidateHoldsNoContent(t *testing.T) {
	src := genSource{n: 8, size: 8 << 20}
	store, id := backupGen(t, src)
	v, peak := validateMeasured(t, store, id, &restore.Config{BufferBytes: 4 << 20})
	require.Equal(t, restore.StatusPassed, v.Status, v.Report)
	require.Contains(t, v.Report, "8 files verified")
	t.Logf("validated %d MiB with a peak live heap of %.1f MiB over the baseline", int64(src.n)*src.size>>20, float64(peak)/(1<<20))
	require.Less(t, peak, uint64(32<<20), "peak live heap %d MiB, want under half the 64 MiB validated", peak>>20)
}

// TestValidateReportsCorruptByteInEncryptedPack: one byte flipped in the
// middle of the content pack fails the chunk's AES-GCM tag; the scratch
// target, which drops the bytes, does not hide it.
func TestValidateReportsCorruptByteInEncryptedPack(t *testing.T) {
	store, id := backupGen(t, genSource{n: 3, size: 1 << 20})
	ctx := context.Background()
	var largest string
	var size int64
	for oi, err := range store.List(ctx, "tenants/acme/packs/") {
		require.NoError(t, err)
		if oi.Size > size {
			largest, size = oi.Key, oi.Size
		}
	}
	b, err := storage.ReadAll(ctx, store, largest)
	require.NoError(t, err)
	require.Greater(t, len(b), 3<<20, "the content pack holds the 3 MiB of random data")
	b[len(b)/2] ^= 0x01
	require.NoError(t, storage.PutBytes(ctx, store, largest, b, nil))

	e, err := backup.New(store, &backup.Config{Keys: cheapKeys()})
	require.NoError(t, err)
	v, err := restore.New(e, nil).Validate(master(), "acme", id)
	require.NoError(t, err)
	require.Equal(t, restore.StatusFailed, v.Status)
	require.False(t, v.Checks.DataIntegrity, "got checks %+v", v.Checks)
	require.False(t, v.Checks.AssetCompleteness, "got checks %+v", v.Checks)
	require.Contains(t, v.Report, "corrupt")
	require.Contains(t, v.Report, largest, "names the pack")
}

// changingTarget serves each file's content on its first Open and other
// bytes afterwards: a file changed behind the restore's back between the
// decision to keep it and the validation pass.
type changingTarget struct {
	restore.Target
	mu    sync.Mutex
	opens map[string]int
}

func (c *changingTarget) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	c.mu.Lock()
	c.opens[p]++
	n := c.opens[p]
	c.mu.Unlock()
	if n == 1 {
		return c.Target.Open(ctx, p)
	}
	return io.NopCloser(strings.NewReader("changed")), nil
}

// TestValidationMismatchIsErrValidation: content that differs from the
// snapshot in the validation pass is restore.ErrValidation, for errors.Is.
func TestValidationMismatchIsErrValidation(t *testing.T) {
	_, r, _, id := setup(t)
	mem := restore.MemoryTarget()
	_, err := r.Restore(master(), "acme", id, mem, nil)
	require.NoError(t, err)
	ct := &changingTarget{Target: mem, opens: map[string]int{}}
	rep, err := r.Restore(master(), "acme", id, ct, &restore.Options{Validate: true})
	require.ErrorIs(t, err, restore.ErrValidation)
	require.NotErrorIs(t, err, backup.ErrCorrupt)
	require.Regexp(t, `"(users|assets|reservations)/[^"]+" in the target`, err.Error(), "names the file")
	require.Equal(t, 4, rep.FilesUnchanged)
	require.False(t, rep.Validated)
}

// TestDrill: one Validation per tenant, in the order given; a tenant
// without any snapshot fails.
func TestDrill(t *testing.T) {
	e, r, _, _ := setup(t)
	beta, err := e.Backup(master(), "beta", genSource{n: 2, size: 100_000}, &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	vs, err := r.Drill(master(), []string{"beta", "ghost", "acme"})
	require.NoError(t, err)
	require.Len(t, vs, 3)
	require.Equal(t, "beta", vs[0].Tenant)
	require.Equal(t, beta.ID, vs[0].SnapshotID)
	require.Equal(t, "ghost", vs[1].Tenant)
	require.Equal(t, restore.StatusFailed, vs[1].Status, "a tenant with no snapshot: got %s", vs[1].Status)
	require.Equal(t, "acme", vs[2].Tenant)
	for _, v := range []*restore.Validation{vs[0], vs[2]} {
		require.Equal(t, restore.StatusPassed, v.Status, "%s: %s", v.Tenant, v.Report)
	}
	require.Contains(t, vs[0].Report, "2 files verified")
}

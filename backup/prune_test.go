package backup_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/storage"
	"github.com/iluxsys/steward/storage/storetest"
)

// generations returns n source trees; each shares half its files with the
// previous one, so snapshots share chunks and prune must keep shared ones.
func generations(n int) []fstest.MapFS {
	var out []fstest.MapFS
	for g := range n {
		fsys := fstest.MapFS{}
		for i := range 4 {
			seed := uint64(g*4 + i)
			if i < 2 && g > 0 {
				seed = uint64((g-1)*4 + i + 2) // shared with the previous generation
			}
			fsys[fmt.Sprintf("data/f%d.bin", i)] = &fstest.MapFile{Data: randBytes(seed, 600_000), Mode: 0o644}
		}
		out = append(out, fsys)
	}
	return out
}

func wantOf(fsys fstest.MapFS) map[string][]byte {
	m := map[string][]byte{}
	for p, f := range fsys {
		m[p] = f.Data
	}
	return m
}

func TestForgetNinetyPercentAndPrune(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
	require.NoError(t, err)
	gens := generations(20)
	var ids []string
	for _, g := range gens {
		s, err := e.Backup(ctx, "acme", backup.FSSource(g), &backup.Options{Type: backup.Full, Encrypt: true})
		require.NoError(t, err)
		ids = append(ids, s.ID)
	}
	before := backup.StoredBytes(t, store)
	// Forget 18 of 20, keeping generations 7 and 19.
	var forget []string
	for i, id := range ids {
		if i != 7 && i != 19 {
			forget = append(forget, id)
		}
	}
	require.NoError(t, e.Forget(ctx, "acme", forget...))
	forgotten := backup.StoredBytes(t, store)
	dry, err := e.Prune(ctx, "acme", &backup.PruneOptions{DryRun: true})
	require.NoError(t, err)
	require.Equal(t, forgotten, backup.StoredBytes(t, store), "a dry run deletes nothing")
	require.Positive(t, dry.BytesFreed)

	rep, err := e.Prune(ctx, "acme", nil)
	require.NoError(t, err)
	after := backup.StoredBytes(t, store)
	t.Logf("prune: %+v; stored %d -> %d bytes", rep, before, after)
	// 2 of 20 generations, each ~1.2 MB new data (half shared): expect
	// the store to shrink to well under a quarter.
	require.Less(t, after, before/4, "store shrank from %d to %d", before, after)
	require.Equal(t, wantOf(gens[7]), readBack(t, e, "acme", ids[7]))
	require.Equal(t, wantOf(gens[19]), readBack(t, e, "acme", ids[19]))
	chk, err := e.Check(ctx, "acme", &backup.CheckOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, chk.OK(), "%v", chk.Problems)
	require.Positive(t, chk.ChunksRead)

	// A fresh engine (another process) reads the pruned repository, and
	// the next backup and prune work.
	e2, _ := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
	require.Equal(t, wantOf(gens[19]), readBack(t, e2, "acme", ids[19]))
	_, err = e2.Backup(ctx, "acme", backup.FSSource(gens[3]), &backup.Options{Type: backup.Full, Encrypt: true})
	require.NoError(t, err)
	_, err = e2.Prune(ctx, "acme", nil)
	require.NoError(t, err)
}

func TestPruneFailingMidwayKeepsSnapshots(t *testing.T) {
	ctx := master()
	mem := storage.NewMemory()
	e, _ := backup.New(mem, nil)
	gens := generations(6)
	var ids []string
	for _, g := range gens {
		s, err := e.Backup(ctx, "acme", backup.FSSource(g), &backup.Options{Type: backup.Full})
		require.NoError(t, err)
		ids = append(ids, s.ID)
	}
	require.NoError(t, e.Forget(ctx, "acme", ids[:4]...))
	for n := int64(1); n <= 6; n++ {
		fs := faultstore.New(mem, 1)
		fs.AddRule(&faultstore.Rule{Op: faultstore.OpDelete, Nth: n, Permanent: true})
		fe, _ := backup.New(fs, nil)
		_, err := fe.Prune(ctx, "acme", &backup.PruneOptions{RepackThreshold: 0.01})
		if err == nil {
			continue
		}
		// Whatever step failed, the remaining snapshots restore in full.
		check, _ := backup.New(mem, nil)
		require.Equal(t, wantOf(gens[4]), readBack(t, check, "acme", ids[4]), "after failing delete %d", n)
		require.Equal(t, wantOf(gens[5]), readBack(t, check, "acme", ids[5]))
	}
	_, err := e.Prune(ctx, "acme", nil)
	require.NoError(t, err, "the next prune completes")
	chk, err := e.Check(ctx, "acme", &backup.CheckOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, chk.OK(), "%v", chk.Problems)
	require.Equal(t, wantOf(gens[5]), readBack(t, e, "acme", ids[5]))
}

// blockingSource holds a backup in its walk until released.
type blockingSource struct {
	backup.Source
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingSource) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	b.once.Do(func() { close(b.started) })
	<-b.release
	return b.Source.Walk(ctx, fn)
}

func TestPruneAndBackupExcludeEachOther(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	e, _ := backup.New(store, nil)
	gens := generations(3)
	first, err := e.Backup(ctx, "acme", backup.FSSource(gens[0]), nil)
	require.NoError(t, err)

	// A running backup keeps prune out.
	src := &blockingSource{Source: backup.FSSource(gens[1]), started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error)
	go func() {
		_, err := e.Backup(ctx, "acme", src, nil)
		done <- err
	}()
	<-src.started
	_, err = e.Prune(ctx, "acme", nil)
	require.ErrorIs(t, err, backup.ErrLocked)
	close(src.release)
	require.NoError(t, <-done)

	// Interleaving: forget the first snapshot, then prune while a backup of
	// the same data runs; whichever wins, every snapshot stays whole.
	require.NoError(t, e.Forget(ctx, "acme", first.ID))
	var wg sync.WaitGroup
	var backupErr, pruneErr error
	wg.Add(2)
	go func() { defer wg.Done(); _, backupErr = e.Backup(ctx, "acme", backup.FSSource(gens[0]), nil) }()
	go func() { defer wg.Done(); _, pruneErr = e.Prune(ctx, "acme", nil) }()
	wg.Wait()
	for _, err := range []error{backupErr, pruneErr} {
		if err != nil {
			require.ErrorIs(t, err, backup.ErrLocked)
		}
	}
	cat, err := e.Catalog(ctx, "acme")
	require.NoError(t, err)
	for _, s := range cat {
		for f, err := range e.Files(ctx, "acme", s.ID) {
			require.NoError(t, err)
			if f.Mode.IsRegular() {
				rc, err := e.OpenFile(ctx, "acme", f, nil)
				require.NoError(t, err)
				_, err = io.Copy(io.Discard, rc)
				require.NoError(t, err, "snapshot %s file %s", s.ID, f.Path)
				rc.Close()
			}
		}
	}
	chk, err := e.Check(ctx, "acme", &backup.CheckOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, chk.OK(), "%v", chk.Problems)
	_ = time.Second
}

func TestCheckFindsProblems(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	e, _ := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
	snap, err := e.Backup(ctx, "acme", backup.FSSource(generations(1)[0]), &backup.Options{Encrypt: true})
	require.NoError(t, err)
	// A pack of file content: one whose damage leaves the entry list
	// readable (entry lists have packs of their own).
	var packs []string
	for oi, err := range store.List(context.Background(), "tenants/acme/packs/") {
		require.NoError(t, err)
		c := storetest.Clone(t, store)
		b, _ := storage.ReadAll(context.Background(), c, oi.Key)
		b[10] ^= 1
		require.NoError(t, storage.PutBytes(context.Background(), c, oi.Key, b, nil))
		ce, _ := backup.New(c, &backup.Config{Keys: cheapKeys("p")})
		listed := true
		for _, err := range ce.Files(ctx, "acme", snap.ID) {
			listed = listed && err == nil
		}
		if listed {
			packs = append(packs, oi.Key)
		}
	}
	require.NotEmpty(t, packs)
	b, _ := storage.ReadAll(context.Background(), store, packs[0])
	b[10] ^= 1
	require.NoError(t, storage.PutBytes(context.Background(), store, packs[0], b, nil))
	chk, err := e.Check(ctx, "acme", nil)
	require.NoError(t, err)
	require.True(t, chk.OK(), "a structural check does not read data")
	chk, err = e.Check(ctx, "acme", &backup.CheckOptions{ReadDataSubset: "1/1"})
	require.NoError(t, err)
	require.False(t, chk.OK())
	require.Contains(t, chk.Problems[0], packs[0])
	_, err = e.Check(ctx, "acme", &backup.CheckOptions{ReadDataSubset: "3/2"})
	require.ErrorIs(t, err, backup.ErrInvalidOptions)

	require.NoError(t, store.Delete(context.Background(), packs[0]))
	chk, err = e.Check(ctx, "acme", nil)
	require.NoError(t, err)
	require.False(t, chk.OK())
	require.Contains(t, fmt.Sprint(chk.Problems), "missing from the store")
}

// TestCheckStoreFailureIsNotDamage: when the store refuses a read during a
// check (a pack's header, a pack's data, a manifest, an entry list), Check
// returns that error and reports no problem: a healthy repository never
// looks damaged because the store had a bad moment.
func TestCheckStoreFailureIsNotDamage(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	e, _ := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
	_, err := e.Backup(ctx, "acme", backup.FSSource(generations(1)[0]), &backup.Options{Encrypt: true})
	require.NoError(t, err)

	// Count each operation of a clean check, then fail each call of it in turn.
	count := faultstore.New(store, 1)
	ce, _ := backup.New(count, &backup.Config{Keys: cheapKeys("p")})
	chk, err := ce.Check(ctx, "acme", &backup.CheckOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, chk.OK())
	cases := 0
	for _, op := range []faultstore.Op{faultstore.OpGet, faultstore.OpGetRange, faultstore.OpStat, faultstore.OpList} {
		for n := int64(1); n <= count.Calls(op); n++ {
			fs := faultstore.New(store, 1)
			fs.AddRule(&faultstore.Rule{Op: op, Nth: n, Permanent: true})
			fe, _ := backup.New(fs, &backup.Config{Keys: cheapKeys("p")})
			chk, err := fe.Check(ctx, "acme", &backup.CheckOptions{ReadData: true})
			if err == nil {
				// Absorbed: a failed read of a shared pack window is
				// retried as the chunk's own read.
				require.True(t, chk.OK(), "%s #%d: no report of problems that are not there: %v", op, n, chk.Problems)
				continue
			}
			require.ErrorIs(t, err, storage.ErrPermission, "%s #%d: the store's refusal is the error", op, n)
			require.Nil(t, chk, "%s #%d", op, n)
			cases++
		}
	}
	require.Greater(t, cases, 5)
}

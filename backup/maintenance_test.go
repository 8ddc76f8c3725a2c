package backup_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/storage"
	"github.com/iluxsys/steward/storage/storetest"
)

func countPrefix(t *testing.T, s storage.Store, prefix string) int {
	t.Helper()
	n := 0
	for _, err := range s.List(context.Background(), prefix) {
		require.NoError(t, err)
		n++
	}
	return n
}

// TestPruneFaultAtEveryStep fails a prune at every store call it makes, one
// case per (operation, call number), each on a fresh copy of the same
// repository (four of six snapshots forgotten, repack threshold low so the
// prune writes new packs and a new index and deletes old ones). Whatever
// call fails, the two remaining snapshots read back byte for byte, the next
// prune completes, a read-data check passes and the repository converges:
// a further dry-run prune finds nothing left to delete. Every call of a
// clean prune is a fault point without STEWARD_HEAVY; with it, the same
// runs on an encrypted repository too.
func TestPruneFaultAtEveryStep(t *testing.T) {
	encs := []bool{false}
	if os.Getenv("STEWARD_HEAVY") == "1" {
		encs = append(encs, true)
	}
	for _, enc := range encs {
		t.Run(fmt.Sprintf("encrypted=%v", enc), func(t *testing.T) { pruneFaultCampaign(t, enc) })
	}
}

func pruneFaultCampaign(t *testing.T, encrypt bool) {
	ctx := master()
	cfg := func() *backup.Config { return &backup.Config{Keys: cheapKeys("p")} }
	base := storage.NewMemory()
	e, err := backup.New(base, cfg())
	require.NoError(t, err)
	gens := generations(6)
	var ids []string
	for _, g := range gens {
		s, err := e.Backup(ctx, "acme", backup.FSSource(g), &backup.Options{Type: backup.Full, Encrypt: encrypt})
		require.NoError(t, err)
		ids = append(ids, s.ID)
	}
	require.NoError(t, e.Forget(ctx, "acme", ids[:4]...))
	opts := &backup.PruneOptions{RepackThreshold: 1e-6}

	// A clean prune on a copy: how many calls of each kind it makes, and
	// the size it leaves.
	clean := storetest.Clone(t, base)
	counter := faultstore.New(clean, 1)
	ce, err := backup.New(counter, cfg())
	require.NoError(t, err)
	cleanRep, err := ce.Prune(ctx, "acme", opts)
	require.NoError(t, err)
	require.Positive(t, cleanRep.PacksDeleted+cleanRep.PacksRepacked, "the fixture must give prune work to do")
	cleanSize := backup.StoredBytes(t, clean)
	calls := map[faultstore.Op]int64{}
	for _, op := range []faultstore.Op{faultstore.OpPut, faultstore.OpDelete, faultstore.OpGet, faultstore.OpGetRange, faultstore.OpList, faultstore.OpStat} {
		calls[op] = counter.Calls(op)
	}
	t.Logf("clean prune: %+v, calls %v", cleanRep, calls)
	require.Positive(t, calls[faultstore.OpDelete])
	require.Positive(t, calls[faultstore.OpPut])

	failed, midway := 0, 0
	for op, total := range calls {
		for n := int64(1); n <= total; n++ {
			st := storetest.Clone(t, base)
			fs := faultstore.New(st, 1)
			fs.AddRule(&faultstore.Rule{Op: op, Nth: n, Permanent: true})
			fe, err := backup.New(fs, cfg())
			require.NoError(t, err)
			_, perr := fe.Prune(ctx, "acme", opts)
			if perr != nil {
				failed++
				// The cause is named and reachable with errors.Is, also
				// when it struck while an entry list was being decoded.
				require.ErrorIs(t, perr, faultstore.ErrInjectedPermanent, "%s #%d", op, n)
				require.ErrorIs(t, perr, storage.ErrPermission, "%s #%d", op, n)
				require.NotErrorIs(t, perr, backup.ErrCorrupt, "%s #%d: a store failure is not corruption", op, n)
				// Midway: some old objects are already gone.
				if countPrefix(t, st, "tenants/acme/packs/")+countPrefix(t, st, "tenants/acme/index/") <
					countPrefix(t, base, "tenants/acme/packs/")+countPrefix(t, base, "tenants/acme/index/") {
					midway++
				}
			}
			// Another process, no faults: everything still reads, and the
			// next prune finishes the job.
			re, err := backup.New(st, cfg())
			require.NoError(t, err)
			for _, i := range []int{4, 5} {
				require.Equal(t, wantOf(gens[i]), readBack(t, re, "acme", ids[i]), "%s #%d (prune err %v): snapshot %d", op, n, perr, i)
			}
			_, err = re.Prune(ctx, "acme", opts)
			require.NoError(t, err, "%s #%d: the next prune completes", op, n)
			dry, err := re.Prune(ctx, "acme", &backup.PruneOptions{DryRun: true, RepackThreshold: 1e-6})
			require.NoError(t, err)
			require.Zero(t, dry.PacksDeleted+dry.PacksRepacked+dry.OrphanPacks, "%s #%d: converged: %+v", op, n, dry)
			chk, err := re.Check(ctx, "acme", &backup.CheckOptions{ReadData: true})
			require.NoError(t, err)
			require.True(t, chk.OK(), "%s #%d: %v", op, n, chk.Problems)
			require.Equal(t, 0, countPrefix(t, st, "tenants/acme/locks/"), "%s #%d: no lock left behind", op, n)
			// Same data as a clean prune leaves, give or take the sizes of
			// differently grouped packs and index objects.
			size := backup.StoredBytes(t, st)
			require.InDelta(t, cleanSize, size, float64(cleanSize)/20, "%s #%d: stored %d bytes, a clean prune leaves %d", op, n, size, cleanSize)
		}
	}
	t.Logf("%d fault points, %d failed the prune, %d of those after deleting something", sum(calls), failed, midway)
	require.Positive(t, failed, "injected faults must fail some prunes")
	require.Positive(t, midway, "some prunes must fail after deleting part of the old data")
}

func sum(m map[faultstore.Op]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// TestPruneRefusesBadOptions: a threshold outside [0, 1] and an invalid
// tenant fail before any I/O.
func TestPruneRefusesBadOptions(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	fs := faultstore.New(store, 1)
	e, err := backup.New(fs, nil)
	require.NoError(t, err)
	before := fs.Calls(faultstore.OpPut) + fs.Calls(faultstore.OpDelete) + fs.Calls(faultstore.OpList) + fs.Calls(faultstore.OpGet)
	for _, th := range []float64{-0.1, 1.5} {
		_, err := e.Prune(ctx, "acme", &backup.PruneOptions{RepackThreshold: th})
		require.ErrorIs(t, err, backup.ErrInvalidOptions, "threshold %v", th)
	}
	_, err = e.Prune(ctx, "../acme", nil)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "acme"), "the error names the tenant: %v", err)
	after := fs.Calls(faultstore.OpPut) + fs.Calls(faultstore.OpDelete) + fs.Calls(faultstore.OpList) + fs.Calls(faultstore.OpGet)
	require.Equal(t, before, after, "refused prunes touch no object")
}

// pausingStore pauses the first Delete of a key under prefix until
// released, so a test can act while a prune is midway.
type pausingStore struct {
	storage.Store
	prefix  string
	once    sync.Once
	paused  chan struct{}
	release chan struct{}
}

func (s *pausingStore) Delete(ctx context.Context, key string) error {
	if strings.HasPrefix(key, s.prefix) {
		s.once.Do(func() {
			close(s.paused)
			<-s.release
		})
	}
	return s.Store.Delete(ctx, key)
}

// TestBackupDuringPrune: a backup started while a prune is midway (its
// first pack deletion pending) is refused with ErrLocked and writes no
// snapshot; the prune then completes, the backup runs, and every snapshot
// reads back byte for byte.
func TestBackupDuringPrune(t *testing.T) {
	ctx := master()
	mem := storage.NewMemory()
	ps := &pausingStore{Store: mem, prefix: "tenants/acme/packs/", paused: make(chan struct{}), release: make(chan struct{})}
	e, err := backup.New(ps, nil)
	require.NoError(t, err)
	gens := generations(4)
	var ids []string
	for _, g := range gens[:3] {
		s, err := e.Backup(ctx, "acme", backup.FSSource(g), &backup.Options{Type: backup.Full})
		require.NoError(t, err)
		ids = append(ids, s.ID)
	}
	require.NoError(t, e.Forget(ctx, "acme", ids[0]))
	pruned := make(chan error)
	go func() {
		_, err := e.Prune(ctx, "acme", nil)
		pruned <- err
	}()
	<-ps.paused
	_, err = e.Backup(ctx, "acme", backup.FSSource(gens[3]), &backup.Options{Type: backup.Full})
	require.ErrorIs(t, err, backup.ErrLocked)
	cat, err := e.Catalog(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, cat, 2, "the refused backup wrote no snapshot")
	close(ps.release)
	require.NoError(t, <-pruned)

	s, err := e.Backup(ctx, "acme", backup.FSSource(gens[3]), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	for i, id := range []string{ids[1], ids[2], s.ID} {
		require.Equal(t, wantOf(gens[i+1]), readBack(t, e, "acme", id))
	}
	chk, err := e.Check(ctx, "acme", &backup.CheckOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, chk.OK(), "%v", chk.Problems)
}

package crashtest

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
	"github.com/iluxsys/steward/storage/storetest"
)

// The fault matrix: every store operation type × every fault kind, once
// while a full and an incremental backup run and once while a restore
// runs. The store is wrapped in storage.WithRetry, as hosts are told to do.
//
// What each kind must end in:
//
//   - transient 5 %: success with identical data. WithRetry makes 5
//     attempts (the default, kept here); an operation fails for good only
//     when all 5 fail, 0.05^5 ≈ 3·10⁻⁷, and a phase issues a few dozen
//     operations of one type at most (the test logs the counts of a clean
//     run), so a failure is a bug, not bad luck.
//   - transient 20 %: 0.2^5 ≈ 3·10⁻⁴ per operation, about 1 % per case over
//     a few dozen operations: now and then a run exhausts the retries (the
//     faults are seeded, but concurrent operations draw from the seeded
//     source in scheduling order, so which run is not fixed). The retry
//     policy guarantees nothing absolute here: the case either succeeds
//     with identical data or fails with an error matching
//     faultstore.ErrInjected — never anything else, and never with a
//     partial snapshot or a wrong file.
//   - permanent (the N-th call of the type fails, N picked by seed from the
//     call count of a clean run): success (the failure was absorbed, e.g. a
//     best-effort delete, or the phase never uses the operation) or an
//     error matching storage.ErrPermission.
//   - latency (1-2 ms on every call of the type) and short reads (Get or
//     GetRange readers return at most 7 bytes a call): success, identical
//     data.
//
// Each transient case also fails one seeded N-th call of its type once (N
// within the count a clean run makes), so a phase that calls an operation
// only a few times still meets a fault; every transient or permanent case
// whose phase uses the operation must have injected at least one.
//
// After a backup case a fresh engine on the fault-free store must see
// exactly the snapshots whose Backup returned success, each restoring byte
// for byte, Check (with ReadData) must pass, no lock may be left behind, and
// after a failure the next backup must succeed. After a failed restore every
// file under its final name holds either what it held before or the
// snapshot's content, no temporary file is left, and the same restore run
// again without faults makes the directory equal to the snapshot.
//
// Pack size is fixed by the engine (16 MiB), so the default dataset is
// small and gets its second pack from the incremental backup (every backup
// session writes its own); with STEWARD_HEAVY=1 the dataset exceeds one pack
// by itself and more seeds run.
func TestFaultMatrix(t *testing.T) {
	heavy := os.Getenv("STEWARD_HEAVY") != ""
	seeds := []uint64{1}
	if heavy {
		seeds = []uint64{1, 2, 3}
	}
	gens := [2]fstest.MapFS{faultData(0, heavy), faultData(1, heavy)}

	// Clean runs: how often each phase calls each operation (to place the
	// permanent faults, and to say which cases can hit nothing).
	backupCalls := countCalls(t, storage.NewMemory(), func(s storage.Store) error {
		_, err := runBackups(s, gens)
		return err
	})
	base, snaps := baseRepo(t, gens)
	restoreCalls := countCalls(t, base, func(s storage.Store) error {
		_, err := faultEngineRestorer(t, s).Restore(master(), "acme", snaps[1], restore.MemoryTarget(), nil)
		return err
	})
	t.Logf("calls in a clean run: backup %v, restore %v", backupCalls, restoreCalls)

	var stats matrixStats
	t.Cleanup(func() { t.Logf("%s", stats.String()) })
	for _, phase := range []string{"backup", "restore"} {
		calls := backupCalls
		if phase == "restore" {
			calls = restoreCalls
		}
		for _, op := range faultstore.Ops {
			for _, kind := range faultKinds {
				if kind.readsOnly && op != faultstore.OpGet && op != faultstore.OpGetRange {
					continue
				}
				for _, seed := range seeds {
					name := fmt.Sprintf("%s/%s/%s/seed-%d", phase, op, kind.name, seed)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						inject := func(fsx *faultstore.Store) { kind.apply(fsx, op, seed, calls[op]) }
						var injected int64
						var err error
						if phase == "backup" {
							injected, err = backupCase(t, gens, seed, inject)
						} else {
							injected, err = restoreCase(t, gens, base, snaps, seed, inject)
						}
						kind.check(t, err)
						if kind.injects && calls[op] > 0 {
							require.Positive(t, injected, "the phase calls %s %d times; a fault must have been injected", op, calls[op])
						}
						stats.add(kind.name, err, injected)
						if err != nil {
							t.Logf("%d faults injected; failed as allowed: %v", injected, err)
						}
					})
				}
			}
		}
	}
}

// faultKind is one column of the matrix.
type faultKind struct {
	name      string
	readsOnly bool // only for Get and GetRange
	injects   bool // injects errors (at least one whenever the phase uses the operation)
	apply     func(s *faultstore.Store, op faultstore.Op, seed uint64, calls int64)
	check     func(t *testing.T, err error)
}

func mustSucceed(t *testing.T, err error) {
	require.NoError(t, err, "this fault must be absorbed")
}

var faultKinds = []faultKind{
	{
		name:    "transient-5pct",
		injects: true,
		apply: func(s *faultstore.Store, op faultstore.Op, seed uint64, calls int64) {
			s.AddRule(&faultstore.Rule{Op: op, Probability: 0.05})
			s.AddRule(&faultstore.Rule{Op: op, Nth: pickNth(seed, op, calls)})
		},
		check: mustSucceed,
	},
	{
		name:    "transient-20pct",
		injects: true,
		apply: func(s *faultstore.Store, op faultstore.Op, seed uint64, calls int64) {
			s.AddRule(&faultstore.Rule{Op: op, Probability: 0.20})
			s.AddRule(&faultstore.Rule{Op: op, Nth: pickNth(seed, op, calls)})
		},
		check: func(t *testing.T, err error) {
			if err != nil {
				require.ErrorIs(t, err, faultstore.ErrInjected, "only exhausted retries may fail a case")
			}
		},
	},
	{
		name:    "permanent",
		injects: true,
		apply: func(s *faultstore.Store, op faultstore.Op, seed uint64, calls int64) {
			s.AddRule(&faultstore.Rule{Op: op, Nth: pickNth(seed, op, calls), Permanent: true})
		},
		check: func(t *testing.T, err error) {
			if err != nil {
				require.ErrorIs(t, err, storage.ErrPermission, "a permanent failure keeps its cause")
			}
		},
	},
	{
		name: "latency",
		apply: func(s *faultstore.Store, op faultstore.Op, _ uint64, _ int64) {
			s.Latency, s.LatencyJitter, s.LatencyOps = time.Millisecond, time.Millisecond, []faultstore.Op{op}
		},
		check: mustSucceed,
	},
	{
		name:      "short-reads",
		readsOnly: true,
		apply: func(s *faultstore.Store, op faultstore.Op, _ uint64, _ int64) {
			s.ShortReads, s.ShortReadOps = true, []faultstore.Op{op}
		},
		check: mustSucceed,
	},
}

// pickNth picks, by seed, one of the calls of op a clean run makes.
func pickNth(seed uint64, op faultstore.Op, calls int64) int64 {
	if calls <= 1 {
		return 1
	}
	var stream uint64
	for _, c := range op {
		stream = stream*31 + uint64(c)
	}
	return 1 + rand.New(rand.NewPCG(seed, stream)).Int64N(calls)
}

// retrying wraps s as a host does. The attempts stay at the default (5);
// only the backoff is shortened so the matrix runs in seconds (the backoff
// changes when a retry happens, not whether).
func retrying(s storage.Store) storage.Store {
	return storage.WithRetry(s, &storage.RetryOptions{Base: 200 * time.Microsecond, Max: 5 * time.Millisecond})
}

var quiet = slog.New(slog.DiscardHandler)

var faultKeys = backup.PassphraseWithOptions("faults", backup.PassphraseOptions{Time: 1, MemoryKiB: 1024, Threads: 1})

func faultEngine(t testing.TB, s storage.Store) *backup.Engine {
	e, err := backup.New(s, &backup.Config{Keys: faultKeys, Parallelism: 2, Logger: quiet})
	require.NoError(t, err)
	return e
}

func faultEngineRestorer(t testing.TB, s storage.Store) *restore.Restorer {
	return restore.New(faultEngine(t, s), &restore.Config{Parallelism: 4})
}

// faultData is generation g of the matrix's tenant: files shared by both
// generations (random and compressible, several chunks each), files that
// change, one that exists only in generation g, and small files in nested
// directories.
func faultData(g int, heavy bool) fstest.MapFS {
	// Sizes: the default run stays small; the heavy one puts more than a
	// pack (16 MiB) of incompressible data into the full backup.
	blob, users, changing := 1_100_000, 400_000, 400_000
	if heavy {
		blob, users, changing = 13_000_000, 4_000_000, 5_000_000
	}
	random := func(seed uint64, n int) []byte {
		r := rand.New(rand.NewPCG(seed, 99))
		b := make([]byte, n)
		for i := 0; i < n; i += 8 {
			v := r.Uint64()
			for j := 0; j < 8 && i+j < n; j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		return b
	}
	text := func(seed uint64, n int) []byte {
		r := rand.New(rand.NewPCG(seed, 7))
		var buf bytes.Buffer
		for buf.Len() < n {
			fmt.Fprintf(&buf, "{\"id\":%d,\"name\":\"user-%d\",\"active\":%t}\n", r.IntN(1e6), r.IntN(1e4), r.IntN(2) == 0)
		}
		return buf.Bytes()[:n]
	}
	old, now := time.Unix(1e9, 0), time.Unix(int64(1e9+3600*(g+1)), 0)
	fsys := fstest.MapFS{
		"static/blob.bin":                 {Data: random(1, blob), Mode: 0o644, ModTime: old},
		"static/users.json":               {Data: text(2, users), Mode: 0o644, ModTime: old},
		"gen/changing.bin":                {Data: random(uint64(10+g), changing), Mode: 0o644, ModTime: now},
		"gen/number":                      {Data: []byte(fmt.Sprint(g)), Mode: 0o644, ModTime: now},
		fmt.Sprintf("gen/only-%d.txt", g): {Data: text(uint64(20+g), 40_000), Mode: 0o644, ModTime: now},
	}
	for i := range 8 {
		// Odd files change with g (with their mtime, or an incremental
		// backup would rightly take them as unchanged).
		data, mt := []byte(fmt.Sprintf("small file %d of generation %d", i, g*(i%2))), old
		if i%2 == 1 {
			mt = now
		}
		fsys[fmt.Sprintf("small/d%d/f%02d.txt", i%3, i)] = &fstest.MapFile{Data: data, Mode: 0o644, ModTime: mt}
	}
	return fsys
}

// want is the regular files of fsys, path -> content.
func want(fsys fstest.MapFS) map[string][]byte {
	out := map[string][]byte{}
	for p, f := range fsys {
		if f.Mode.IsRegular() {
			out[p] = f.Data
		}
	}
	return out
}

// runBackups takes the matrix's full then incremental backup through s and
// returns the IDs of those that succeeded ("" for a generation that failed)
// and the first error.
func runBackups(s storage.Store, gens [2]fstest.MapFS) ([2]string, error) {
	e, err := backup.New(s, &backup.Config{Keys: faultKeys, Parallelism: 2, Logger: quiet})
	if err != nil {
		return [2]string{}, err
	}
	var ids [2]string
	var first error
	for g, typ := range []backup.Type{backup.Full, backup.Incremental} {
		snap, err := e.Backup(master(), "acme", backup.FSSource(gens[g]), &backup.Options{Type: typ, Encrypt: true})
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		ids[g] = snap.ID
	}
	return ids, first
}

// countCalls runs fn over inner through a fault-free counting store and returns how
// often each operation was called.
func countCalls(t *testing.T, inner storage.Store, fn func(storage.Store) error) map[faultstore.Op]int64 {
	fsx := faultstore.New(inner, 0)
	require.NoError(t, fn(fsx))
	out := map[faultstore.Op]int64{}
	for _, op := range faultstore.Ops {
		out[op] = fsx.Calls(op)
	}
	return out
}

// backupCase runs both backups with the faults inject sets, then checks
// the store as a fresh process would. It returns the first backup error.
func backupCase(t *testing.T, gens [2]fstest.MapFS, seed uint64, inject func(*faultstore.Store)) (int64, error) {
	mem := storage.NewMemory()
	fsx := faultstore.New(mem, seed)
	inject(fsx)
	ids, err := runBackups(retrying(fsx), gens)
	injected := fsx.Injected()
	if err != nil {
		require.True(t, ids[0] == "" || ids[1] == "", "an error came from a backup that failed")
	}

	ctx := master()
	e := faultEngine(t, mem)
	cat, cerr := e.Catalog(ctx, "acme")
	require.NoError(t, cerr)
	visible := map[string]bool{}
	for _, s := range cat {
		visible[s.ID] = true
	}
	committed := 0
	for g, id := range ids {
		if id == "" {
			continue
		}
		committed++
		require.True(t, visible[id], "snapshot %s (generation %d) was reported as taken but is not visible", id, g)
		requireRestores(t, e, id, gens[g])
	}
	require.Len(t, cat, committed, "only the backups that succeeded left a snapshot: %v", ids)

	chk, cerr := e.Check(ctx, "acme", &backup.CheckOptions{ReadData: true})
	if cerr != nil {
		require.Zero(t, committed, "Check: %v", cerr)
		require.ErrorIs(t, cerr, backup.ErrNotFound, "only a repository that was never created cannot be checked")
	} else {
		require.True(t, chk.OK(), "check after the faults: %v", chk.Problems)
	}
	for oi, lerr := range mem.List(ctx, "tenants/acme/locks/") {
		require.NoError(t, lerr)
		t.Errorf("lock %s left behind", oi.Key)
	}

	if err != nil {
		// The failure blocks nothing: the next backup, without faults,
		// succeeds and reads back.
		snap, nerr := e.Backup(ctx, "acme", backup.FSSource(gens[1]), &backup.Options{Type: backup.Incremental, Encrypt: true})
		require.NoError(t, nerr, "a backup after the failed one")
		requireRestores(t, e, snap.ID, gens[1])
	}
	return injected, err
}

// requireRestores restores snapshot id into memory and compares it with fsys.
func requireRestores(t *testing.T, e *backup.Engine, id string, fsys fstest.MapFS) {
	t.Helper()
	dst := restore.MemoryTarget()
	_, err := restore.New(e, nil).Restore(master(), "acme", id, dst, nil)
	require.NoError(t, err, "restore of snapshot %s", id)
	got := map[string][]byte{}
	require.NoError(t, dst.Walk(master(), func(en backup.Entry) error {
		if !en.Mode.IsRegular() {
			return nil
		}
		got[en.Path] = readTarget(t, dst, en.Path)
		return nil
	}))
	requireSameFiles(t, want(fsys), got, "snapshot "+id)
}

func readTarget(t *testing.T, dst restore.Target, p string) []byte {
	rc, err := dst.Open(master(), p)
	require.NoError(t, err)
	defer rc.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(rc)
	require.NoError(t, err)
	return buf.Bytes()
}

// requireSameFiles compares path sets and contents without dumping
// megabytes on a mismatch.
func requireSameFiles(t *testing.T, want, got map[string][]byte, what string) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		require.True(t, ok, "%s: %s is missing", what, p)
		require.True(t, bytes.Equal(w, g), "%s: %s differs (%d bytes, want %d)", what, p, len(g), len(w))
	}
	for p := range got {
		_, ok := want[p]
		require.True(t, ok, "%s: %s should not exist", what, p)
	}
}

// baseRepo takes the two backups without faults; restore cases read copies.
func baseRepo(t *testing.T, gens [2]fstest.MapFS) (storage.Store, [2]string) {
	mem := storage.NewMemory()
	ids, err := runBackups(mem, gens)
	require.NoError(t, err)
	return mem, ids
}

// restoreCase restores the incremental snapshot with faults into a
// directory that holds an older state: generation 0 without one of its
// large files, plus a file no snapshot has. It returns the restore error.
func restoreCase(t *testing.T, gens [2]fstest.MapFS, base storage.Store, snaps [2]string, seed uint64, inject func(*faultstore.Store)) (int64, error) {
	mem := storetest.Clone(t, base)
	dir := t.TempDir()
	before := want(gens[0])
	delete(before, "static/blob.bin")
	before["extra/stale.txt"] = []byte("not in any snapshot")
	for p, b := range before {
		full := filepath.Join(dir, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, b, 0o644))
		mt := time.Unix(1e9, 0)
		if f := gens[0][p]; f != nil {
			mt = f.ModTime
		}
		require.NoError(t, os.Chtimes(full, mt, mt))
	}

	fsx := faultstore.New(mem, seed)
	inject(fsx)
	_, err := faultEngineRestorer(t, retrying(fsx)).Restore(master(), "acme", snaps[1], restore.DirTarget(dir), &restore.Options{AllowDelete: true})
	injected := fsx.Injected()
	target := want(gens[1])
	got, temps := readDir(t, dir)
	require.Empty(t, temps, "temporary files left behind")
	if err == nil {
		requireSameFiles(t, target, got, "restored directory")
		return injected, nil
	}
	// A failed restore publishes no partial or wrong file: each file is
	// either what the target held before or the snapshot's version.
	for p, b := range got {
		if w, ok := target[p]; ok && bytes.Equal(w, b) {
			continue
		}
		if w, ok := before[p]; ok && bytes.Equal(w, b) {
			continue
		}
		t.Errorf("after the failed restore %s holds %d bytes that are neither its old nor its snapshot content", p, len(b))
	}
	// Running it again without faults finishes the job.
	_, rerr := faultEngineRestorer(t, mem).Restore(master(), "acme", snaps[1], restore.DirTarget(dir), &restore.Options{AllowDelete: true})
	require.NoError(t, rerr, "the restore run again without faults")
	got, temps = readDir(t, dir)
	require.Empty(t, temps)
	requireSameFiles(t, target, got, "directory after the second restore")
	return injected, err
}

// readDir returns the regular files under dir and, separately, the
// restore's temporary files.
func readDir(t *testing.T, dir string) (map[string][]byte, []string) {
	files := map[string][]byte{}
	var temps []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), ".steward-restore-") {
			temps = append(temps, rel)
			return nil
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		files[rel] = b
		return nil
	}))
	return files, temps
}

// matrixStats counts outcomes per fault kind for the log.
type matrixStats struct {
	mu    sync.Mutex
	cases map[string]*[3]int64 // kind -> cases, failures, faults injected
	total atomic.Int64
}

func (m *matrixStats) add(kind string, err error, injected int64) {
	m.total.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cases == nil {
		m.cases = map[string]*[3]int64{}
	}
	c := m.cases[kind]
	if c == nil {
		c = new([3]int64)
		m.cases[kind] = c
	}
	c[0]++
	if err != nil {
		c[1]++
	}
	c[2] += injected
}

func (m *matrixStats) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "fault matrix: %d cases", m.total.Load())
	for _, k := range faultKinds {
		if c := m.cases[k.name]; c != nil {
			fmt.Fprintf(&b, "; %s: %d cases, %d failed as allowed, %d faults injected", k.name, c[0], c[1], c[2])
		}
	}
	return b.String()
}

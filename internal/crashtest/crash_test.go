// Package crashtest holds the reliability campaign's harnesses:
//
//   - TestCrashConsistency (STEWARD_HEAVY=1) kills backups, prunes and
//     deploys with SIGKILL at random points and checks what a later process
//     finds: every snapshot that exists restores byte for byte, the next
//     backup and prune succeed, Check passes, the release log has one active
//     release. STEWARD_CRASH_POINTS sets the kills per operation (default
//     70: 210 in all).
//   - TestCorruptionMatrix flips, truncates and swaps every kind of stored
//     object and checks the damage is reported with the object's key.
//   - TestConcurrency runs backups, prunes, flag changes and audit writes
//     together (meant for -race).
//   - TestScale (STEWARD_HEAVY=1) backs up 1,000 tenants with the scheduler
//     and lists a 5,000-snapshot catalog.
package crashtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/storage"
)

const (
	envDir  = "STEWARD_CRASH_DIR"
	envOp   = "STEWARD_CRASH_OP"
	envSeed = "STEWARD_CRASH_SEED"
)

func master() context.Context {
	return steward.WithPrincipal(context.Background(), steward.Principal{ID: "crash", Roles: []string{steward.RoleMaster}})
}

// dataset returns generation g of the tenant's data: shared files, and
// files that change with g, so backups add and prune removes chunks.
func dataset(g int) fstest.MapFS {
	fsys := fstest.MapFS{}
	r := rand.New(rand.NewPCG(1, 1))
	for i := range 6 {
		b := make([]byte, 300_000+i*50_000)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		fsys[fmt.Sprintf("static/f%d.bin", i)] = &fstest.MapFile{Data: b, Mode: 0o644, ModTime: time.Unix(1e9, 0)}
	}
	rg := rand.New(rand.NewPCG(uint64(g), 7))
	for i := range 4 {
		b := make([]byte, 400_000)
		for j := range b {
			b[j] = byte(rg.Uint32())
		}
		fsys[fmt.Sprintf("gen/g%d.bin", i)] = &fstest.MapFile{Data: b, Mode: 0o644, ModTime: time.Unix(int64(1e9+g), 0)}
	}
	// The generation number is recorded so a snapshot can be checked
	// against the data it was taken from.
	fsys["gen/number"] = &fstest.MapFile{Data: []byte(strconv.Itoa(g)), Mode: 0o644, ModTime: time.Unix(int64(1e9+g), 0)}
	return fsys
}

// offsetClock runs ahead of the system clock, so each child sees the locks
// its killed predecessors left as stale (as a later process would after
// repo.StaleAfter) instead of waiting minutes.
type offsetClock struct{ d time.Duration }

func (c offsetClock) Now() time.Time { return time.Now().Add(c.d).UTC() }

func engineAt(t testing.TB, dir string, generation int) (*backup.Engine, storage.Store) {
	s, err := storage.OpenDir(dir)
	require.NoError(t, err)
	e, err := backup.New(s, &backup.Config{Clock: offsetClock{time.Duration(generation) * 6 * time.Minute}, Keys: backup.PassphraseWithOptions("crash", backup.PassphraseOptions{Time: 1, MemoryKiB: 1024, Threads: 1})})
	require.NoError(t, err)
	return e, s
}

// TestChild is what the killed process runs.
func TestChild(t *testing.T) {
	dir := os.Getenv(envDir)
	if dir == "" {
		t.Skip("run by TestCrashConsistency")
	}
	seed, _ := strconv.Atoi(os.Getenv(envSeed))
	e, s := engineAt(t, dir, seed/10+1)
	ctx := master()
	switch os.Getenv(envOp) {
	case "backup":
		for g := seed; ; g++ {
			if _, err := e.Backup(ctx, "acme", backup.FSSource(dataset(g)), &backup.Options{Type: backup.Incremental, Encrypt: true}); err != nil {
				t.Fatal(err)
			}
		}
	case "prune":
		for {
			_, err := e.Backup(ctx, "acme", backup.FSSource(dataset(seed)), &backup.Options{Type: backup.Incremental, Encrypt: true})
			if err != nil && !errors.Is(err, backup.ErrLocked) {
				t.Fatal(err)
			}
			seed++
			cat, err := e.Catalog(ctx, "acme")
			require.NoError(t, err)
			if len(cat) > 2 {
				require.NoError(t, e.Forget(ctx, "acme", cat[len(cat)-1].ID))
			}
			if _, err := e.Prune(ctx, "acme", &backup.PruneOptions{RepackThreshold: 0.2}); err != nil && !errors.Is(err, backup.ErrLocked) {
				t.Fatal(err)
			}
		}
	case "deploy":
		m, err := release.NewManager(s, &release.Config{Engine: e, Lease: time.Millisecond})
		require.NoError(t, err)
		for v := seed; ; v++ {
			r, err := m.Create(ctx, release.Spec{Channel: "prod", Version: fmt.Sprintf("1.%d.0", v), Artifact: backup.FSSource(dataset(v % 3))})
			if err != nil {
				continue // a version taken by an earlier (killed) child
			}
			if _, err := m.Deploy(ctx, r.ID, &release.DeployOptions{Force: true}); err != nil && !errors.Is(err, release.ErrConflict) {
				t.Fatal(err)
			}
		}
	}
}

func TestCrashConsistency(t *testing.T) {
	if os.Getenv("STEWARD_HEAVY") == "" {
		t.Skip("set STEWARD_HEAVY=1 to run the kill harness")
	}
	points := 70
	if v, err := strconv.Atoi(os.Getenv("STEWARD_CRASH_POINTS")); err == nil && v > 0 {
		points = v
	}
	for _, op := range []string{"backup", "prune", "deploy"} {
		t.Run(op, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(42, uint64(len(op))))
			kills := 0
			var dir string
			for i := 0; i < points; i++ {
				// A fresh store every 10 kills keeps each verification
				// (which reads every snapshot) bounded; within a group the
				// store accumulates what the killed children left. The
				// previous group's store is removed then, so the disk holds
				// one group at a time.
				if i%10 == 0 {
					if dir != "" {
						require.NoError(t, os.RemoveAll(dir))
					}
					dir = t.TempDir()
				}
				cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), envDir+"="+dir, envOp+"="+op, envSeed+"="+strconv.Itoa(i*10))
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				require.NoError(t, cmd.Start())
				time.Sleep(time.Duration(30+rng.IntN(400)) * time.Millisecond)
				_ = cmd.Process.Signal(syscall.SIGKILL)
				err := cmd.Wait()
				if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() != -1 {
					t.Fatalf("child failed on its own (not killed): %v\n%s", err, out.String())
				}
				kills++
				verify(t, dir, op, i+2)
			}
			t.Logf("%s: %d kill points verified", op, kills)
		})
	}
}

// verify opens the store as a new process would and checks every promise.
func verify(t *testing.T, dir, op string, generation int) {
	t.Helper()
	e, s := engineAt(t, dir, generation)
	ctx := master()
	cat, err := e.Catalog(ctx, "acme")
	require.NoError(t, err)
	for _, snap := range cat {
		var number []byte
		files := map[string][]byte{}
		for f, err := range e.Files(ctx, "acme", snap.ID) {
			require.NoError(t, err, "snapshot %s", snap.ID)
			if !f.Mode.IsRegular() {
				continue
			}
			rc, err := e.OpenFile(ctx, "acme", f, nil)
			require.NoError(t, err)
			b, err := io.ReadAll(rc)
			rc.Close()
			require.NoError(t, err, "snapshot %s file %s", snap.ID, f.Path)
			files[f.Path] = b
			if f.Path == "gen/number" {
				number = b
			}
		}
		g, err := strconv.Atoi(string(number))
		require.NoError(t, err)
		for p, want := range dataset(g) {
			require.True(t, bytes.Equal(want.Data, files[p]), "snapshot %s (generation %d): %s differs", snap.ID, g, p)
		}
	}
	// The next backup and prune succeed: a lock left by the killed
	// process goes stale instead of wedging the repository.
	if op != "deploy" {
		_, err := e.Backup(ctx, "acme", backup.FSSource(dataset(generation*10+5)), &backup.Options{Type: backup.Incremental, Encrypt: true})
		require.NoError(t, err, "the next backup")
		_, err = e.Prune(ctx, "acme", nil)
		require.NoError(t, err, "the next prune")
	}
	chk, err := e.Check(ctx, "acme", &backup.CheckOptions{ReadData: true})
	if err == nil {
		require.True(t, chk.OK(), "%v", chk.Problems)
	} else {
		require.ErrorIs(t, err, backup.ErrNotFound) // nothing was committed yet
	}
	if op == "deploy" {
		m, err := release.NewManager(s, &release.Config{Engine: e, Lease: time.Millisecond})
		require.NoError(t, err)
		if _, err := m.Recover(ctx, "prod"); err != nil {
			require.ErrorIs(t, err, release.ErrConflict)
		}
		hist, err := m.History(ctx, "prod")
		require.NoError(t, err)
		active, err := m.Active(ctx, "prod")
		if err == nil {
			found := false
			for _, r := range hist {
				found = found || r.ID == active.ID
			}
			require.True(t, found, "the active release is one of the channel's")
		}
	}
}

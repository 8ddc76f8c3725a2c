package crashtest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/flags"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// TestConcurrency backs up 16 tenants in parallel while prune runs on some
// of them, flags change and the audit log is written (run it with -race):
// at the end every snapshot reads back, Check passes everywhere, the audit
// chain verifies and the flags hold their last values.
func TestConcurrency(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	log, err := audit.NewLog(ctx, store, &audit.LogConfig{RecordKey: []byte("audit record key, test only"), CheckpointEvery: 10})
	require.NoError(t, err)
	e, err := backup.New(store, &backup.Config{Auditor: log, Parallelism: 2})
	require.NoError(t, err)
	fs, err := flags.New(ctx, store, &flags.Config{Auditor: log})
	require.NoError(t, err)
	tenants := make([]string, 16)
	for i := range tenants {
		tenants[i] = fmt.Sprintf("tenant-%02d", i)
	}
	small := func(tn string, g int) backup.Source {
		return backup.FSSource(fstest.MapFS{
			"users/list.json": {Data: []byte(fmt.Sprintf("%s generation %d", tn, g)), Mode: 0o644, ModTime: time.Unix(int64(g), 0)},
			"assets/logo":     {Data: dataset(0)["static/f0.bin"].Data, Mode: 0o644},
		})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for _, tn := range tenants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range 4 {
				if _, err := e.Backup(ctx, tn, small(tn, g), nil); err != nil && !isLocked(err) {
					errs <- fmt.Errorf("backup %s: %w", tn, err)
				}
			}
		}()
	}
	for _, tn := range tenants[:4] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				time.Sleep(5 * time.Millisecond)
				cat, err := e.Catalog(ctx, tn)
				if err != nil || len(cat) < 2 {
					continue
				}
				if err := e.Forget(ctx, tn, cat[len(cat)-1].ID); err != nil {
					errs <- err
				}
				if _, err := e.Prune(ctx, tn, nil); err != nil && !isLocked(err) {
					errs <- fmt.Errorf("prune %s: %w", tn, err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for p := range 20 {
			if err := fs.Set(ctx, "rollout", true, flags.Options{RolloutPercentage: float64(p * 5)}); err != nil {
				errs <- err
			}
			_ = fs.Enabled("rollout", "tenant-01")
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, tn := range tenants {
		require.NoError(t, readAll(e, tn), tn)
		chk, err := e.Check(ctx, tn, &backup.CheckOptions{ReadData: true})
		require.NoError(t, err)
		require.True(t, chk.OK(), "%s: %v", tn, chk.Problems)
	}
	rep, err := log.Verify(ctx)
	require.NoError(t, err)
	require.Positive(t, rep.Events)
	f, _ := fs.Get("rollout")
	require.Equal(t, 95.0, f.RolloutPercentage)
}

func isLocked(err error) bool { return err != nil && errorsIs(err, backup.ErrLocked) }

// TestScale (STEWARD_HEAVY): the scheduler backs up 1,000 tenants in one
// run, and a catalog of 5,000 snapshots is listed. Times and peak heap are
// logged for RELIABILITY.md.
func TestScale(t *testing.T) {
	if os.Getenv("STEWARD_HEAVY") == "" {
		t.Skip("set STEWARD_HEAVY=1")
	}
	ctx := master()
	store, err := storage.OpenDir(t.TempDir())
	require.NoError(t, err)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := fakeclock.New(start)
	e, err := backup.New(store, &backup.Config{Clock: clock})
	require.NoError(t, err)
	tenants := make([]string, 1000)
	for i := range tenants {
		tenants[i] = fmt.Sprintf("t%04d", i)
	}
	s, err := retention.NewScheduler(&retention.SchedulerConfig{
		Engine: e, Policies: retention.NewPolicies(store, nil), Clock: clock, Parallelism: 8,
		Tenants: func(context.Context) ([]string, error) { return tenants, nil },
		Source: func(_ context.Context, tn string) (backup.Source, error) {
			return backup.FSSource(fstest.MapFS{
				"users/a.json":  {Data: []byte(`{"tenant":"` + tn + `"}`), Mode: 0o644},
				"config/c.yaml": {Data: []byte("x: 1\n"), Mode: 0o644},
			}), nil
		},
	})
	require.NoError(t, err)
	clock.Set(start.Add(3 * time.Hour)) // past the 02:00 slot
	var ms runtime.MemStats
	t0 := time.Now()
	rep, err := s.RunDue(ctx)
	require.NoError(t, err)
	took := time.Since(t0)
	runtime.ReadMemStats(&ms)
	require.Equal(t, 1000, rep.Full)
	require.Zero(t, rep.Failed)
	t.Logf("scheduler: 1,000 tenants backed up in %s (heap in use after: %d MiB, total allocated %d MiB)", took.Round(time.Millisecond), ms.HeapInuse>>20, ms.TotalAlloc>>20)

	// 5,000 snapshots of one tenant.
	src := backup.FSSource(fstest.MapFS{"users/a": {Data: []byte("a"), Mode: 0o644}})
	t0 = time.Now()
	for i := range 5000 {
		clock.Set(start.Add(time.Duration(i) * time.Minute))
		_, err := e.Backup(ctx, "big", src, nil)
		require.NoError(t, err)
	}
	t.Logf("5,000 backups of one tenant in %s", time.Since(t0).Round(time.Millisecond))
	e2, _ := backup.New(store, nil)
	t0 = time.Now()
	cat, err := e2.Catalog(ctx, "big")
	require.NoError(t, err)
	require.Len(t, cat, 5000)
	t.Logf("catalog of 5,000 snapshots listed in %s", time.Since(t0).Round(time.Millisecond))
	require.True(t, cat[0].Timestamp.After(cat[4999].Timestamp))
}

package fleet_test

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/fleet"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/internal/pgtest"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// roundTrips counts a pool's round trips to PostgreSQL: queries (Begin
// and Commit among them), batches and copies.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (r *roundTrips) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// benchTenants is how many tenants the benchmark's jobs cycle through.
const benchTenants = 100

// BenchmarkFleetBackup measures one member working scheduled backups of
// a trivial source (one small file, a memory store): each op is one
// backup job and the retention run it enqueues. Run it with a fixed
// count (-benchtime=500x): each run starts a member and a database. It reports the member's
// backup jobs per second, and River's overhead per tenant backup: the
// PostgreSQL round trips of the member's pool per backup (its share of
// leader election and maintenance included) and the milliseconds a
// backup takes through the fleet beyond the same Engine.Backup and
// retention.Apply called directly by as many goroutines.
func BenchmarkFleetBackup(b *testing.B) {
	for _, c := range []struct {
		workers  int
		cooldown time.Duration
	}{{1, 0}, {4, 0}, {16, 0}, {4, 10 * time.Millisecond}} {
		name := fmt.Sprintf("workers=%d/cooldown=%s", c.workers, cmp.Or(c.cooldown, 100*time.Millisecond))
		b.Run(name, func(b *testing.B) { benchFleet(b, c.workers, c.cooldown) })
	}
}

func benchFleet(b *testing.B, workers int, cooldown time.Duration) {
	db := pgtest.NewDatabase(b)
	watch, err := pgxpool.New(b.Context(), db.URL) // untraced: the benchmark's own queries
	require.NoError(b, err)
	b.Cleanup(watch.Close)
	require.NoError(b, fleet.Migrate(b.Context(), watch, ""))
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(b, err)
	trips := &roundTrips{}
	cfg.ConnConfig.Tracer = trips
	pool, err := pgxpool.NewWithConfig(b.Context(), cfg)
	require.NoError(b, err)
	b.Cleanup(pool.Close)

	clock := fakeclock.New(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)) // no slot due: only the benchmark's jobs
	e, ps := benchStore(b, clock)
	m, err := fleet.New(pool, &fleet.Config{Engine: e, Policies: ps, Source: dataSource, Clock: clock,
		Tenants: func(context.Context) ([]string, error) { return tenantNames(benchTenants), nil },
		Workers: workers, FetchCooldown: cooldown, PollInterval: 100 * time.Millisecond, EnqueueInterval: time.Hour})
	require.NoError(b, err)

	b.ReportAllocs()
	b.ResetTimer()
	began := time.Now()
	insertBackups(b, m, b.N)
	before := trips.n.Load()
	require.NoError(b, m.Start(context.Background()))
	waitJobs(b, watch, 2*b.N)
	elapsed := time.Since(began)
	b.StopTimer()
	n := trips.n.Load() - before
	stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(b, m.Stop(stop))

	direct := directBackups(b, b.N, workers)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "backups/s")
	b.ReportMetric(float64(n)/float64(b.N), "round-trips/backup")
	overhead := (elapsed - direct).Seconds() * 1000 * float64(workers) / float64(b.N)
	b.ReportMetric(overhead, "river-ms/backup")
}

// benchStore returns an engine and policies on a new memory store with
// every tenant's policy (keep the last 100 snapshots, no schedule).
func benchStore(b *testing.B, clock *fakeclock.Clock) (*backup.Engine, *retention.Policies) {
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Clock: clock})
	require.NoError(b, err)
	ps := retention.NewPolicies(store, nil)
	for _, tn := range tenantNames(benchTenants) {
		require.NoError(b, ps.Set(master(), tn, retention.Policy{KeepLast: 100}))
	}
	return e, ps
}

// insertBackups inserts n backup jobs, each its own slot.
func insertBackups(b *testing.B, m *fleet.Member, n int) {
	names := tenantNames(benchTenants)
	for lo := 0; lo < n; lo += 1000 {
		var params []river.InsertManyParams
		for i := lo; i < min(n, lo+1000); i++ {
			slot := slotTime(i / benchTenants)
			params = append(params, river.InsertManyParams{Args: fleet.BackupArgs{Tenant: names[i%benchTenants], Slot: slot}})
		}
		_, err := m.Client().InsertMany(b.Context(), params)
		require.NoError(b, err)
	}
}

// waitJobs waits until n backup and retention jobs completed.
func waitJobs(b *testing.B, pool *pgxpool.Pool, n int) {
	for {
		var done, failed int
		require.NoError(b, pool.QueryRow(b.Context(), `SELECT count(*) FILTER (WHERE state = 'completed'),
			count(*) FILTER (WHERE state IN ('discarded', 'cancelled')) FROM river_job WHERE kind = ANY($1)`,
			[]string{fleet.KindBackup, fleet.KindRetention}).Scan(&done, &failed))
		require.Zero(b, failed, "failed jobs")
		if done >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// directBackups times n backups and retention runs called directly by
// workers goroutines on a fresh store.
func directBackups(b *testing.B, n, workers int) time.Duration {
	clock := fakeclock.New(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	e, ps := benchStore(b, clock)
	names := tenantNames(benchTenants)
	var next atomic.Int64
	var wg sync.WaitGroup
	began := time.Now()
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				t := names[i%benchTenants]
				src, _ := dataSource(b.Context(), t)
				_, err := e.Backup(master(), t, src, &backup.Options{Type: backup.Incremental, Tags: []string{"scheduled"}})
				require.NoError(b, err)
				p, err := ps.Get(master(), t)
				require.NoError(b, err)
				_, err = retention.Apply(master(), e, t, p, false, &retention.Config{Clock: clock})
				require.NoError(b, err)
			}
		})
	}
	wg.Wait()
	return time.Since(began)
}

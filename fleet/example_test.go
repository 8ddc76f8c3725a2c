package fleet_test

import (
	"context"
	"fmt"
	"os"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/fleet"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// A member of the fleet: River's tables created, then a River client whose
// workers back up each tenant on its schedule. Run one in every process;
// they share the database and the store. (It needs PostgreSQL, so go test
// compiles it but does not run it.)
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	if err := fleet.Migrate(ctx, pool, ""); err != nil {
		fmt.Println(err)
		return
	}
	store := storage.NewMemory()
	engine, _ := backup.New(store, nil)
	m, err := fleet.New(pool, &fleet.Config{
		Engine:   engine,
		Policies: retention.NewPolicies(store, nil), // the seed's nightly 02:00 schedule unless stored otherwise
		Source: func(ctx context.Context, tenant string) (backup.Source, error) {
			return backup.FSSource(fstest.MapFS{"users/1.json": {Data: []byte(`{}`)}}), nil
		},
		Tenants: func(context.Context) ([]string, error) { return []string{"acme"}, nil },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := m.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	stop, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_ = m.Stop(stop) // finish running jobs, or hand them back
}

// The slot a run belongs to: the newest time of the cron schedule not
// after now, within the catch-up window.
func ExampleLatestSlot() {
	now := time.Date(2026, 3, 1, 2, 40, 0, 0, time.UTC)
	slot, _ := fleet.LatestSlot("0 2 * * *", now, time.Hour)
	fmt.Println(slot, fleet.SlotTag(slot))
	slot, _ = fleet.LatestSlot("0 1 * * *", now, time.Hour) // 01:00 is older than the hour of catch-up
	fmt.Println(slot.IsZero())
	// Output:
	// 2026-03-01 02:00:00 +0000 UTC slot:2026-03-01T02:00:00Z
	// true
}

package retention_test

import (
	"context"
	"fmt"
	"testing/fstest"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// Plan explains every keep. Ten nightly snapshots, a full each Monday, under
// a policy that keeps the last 3 and the newest full of each of the last 2
// weeks.
func ExamplePlan() {
	start := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC) // a Monday
	var snaps []backup.Snapshot
	for d := range 10 {
		typ := backup.Incremental
		if d%7 == 0 {
			typ = backup.Full
		}
		snaps = append(snaps, backup.Snapshot{ID: fmt.Sprintf("day-%d", d), Type: typ, Timestamp: start.AddDate(0, 0, d)})
	}
	plan, err := retention.Plan(snaps, retention.Policy{KeepLast: 3, WeeklyFullCount: 2}, start.AddDate(0, 0, 10))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range plan {
		fmt.Println(d.Snapshot.ID, d.Keep, d.Reasons)
	}
	// Output:
	// day-9 true [newest last-1]
	// day-8 true [last-2]
	// day-7 true [last-3 weekly-full-1]
	// day-6 false []
	// day-5 false []
	// day-4 false []
	// day-3 false []
	// day-2 false []
	// day-1 false []
	// day-0 true [weekly-full-2]
}

// Apply forgets what the plan drops and prunes the data only those
// snapshots used. A dry run first shows what would go.
func ExampleApply() {
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
	clock := fakeclock.New(time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC))
	e, err := backup.New(storage.NewMemory(), &backup.Config{Clock: clock})
	if err != nil {
		fmt.Println(err)
		return
	}
	for d := range 5 {
		clock.Set(time.Date(2026, 3, 1+d, 2, 0, 0, 0, time.UTC))
		src := backup.FSSource(fstest.MapFS{"users/list.json": {Data: []byte(fmt.Sprintf(`{"day":%d}`, d)), Mode: 0o644}})
		if _, err := e.Backup(ctx, "acme", src, &backup.Options{Type: backup.Full}); err != nil {
			fmt.Println(err)
			return
		}
	}
	policy := retention.Policy{KeepLast: 2}
	dry, err := retention.Apply(ctx, e, "acme", policy, true, &retention.Config{Clock: clock})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("dry run would forget", len(dry.Forgotten))
	rep, err := retention.Apply(ctx, e, "acme", policy, false, &retention.Config{Clock: clock})
	if err != nil {
		fmt.Println(err)
		return
	}
	cat, _ := e.Catalog(ctx, "acme")
	fmt.Println("forgot", len(rep.Forgotten), "kept", len(cat), "packs deleted", rep.Prune.PacksDeleted)
	// Output:
	// dry run would forget 3
	// forgot 3 kept 2 packs deleted 6
}

// Policies are stored per tenant; a tenant without one gets the seed's
// defaults.
func ExamplePolicies() {
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
	ps := retention.NewPolicies(storage.NewMemory(), nil)
	p, _ := ps.Get(ctx, "acme")
	fmt.Println(p.IncrementalDays, p.WeeklyFullCount, p.MonthlyFullCount, p.PreDeployDays, p.Schedule)
	if err := ps.Set(ctx, "acme", retention.Policy{KeepDaily: 14, Schedule: "0 */6 * * *"}); err != nil {
		fmt.Println(err)
		return
	}
	p, _ = ps.Get(ctx, "acme")
	fmt.Println(p.KeepDaily, p.Schedule)
	fmt.Println(ps.Set(ctx, "acme", retention.Policy{}))
	// Output:
	// 7 4 3 30 0 2 * * *
	// 14 0 */6 * * *
	// retention: the policy has no keep rule; it would forget every snapshot
}

package health_test

import (
	"context"
	"fmt"
	"testing/fstest"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/health"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// A Checker over an engine and its retention policies: a tenant backed
// up a moment ago is healthy, and its first drill (quarterly under the
// default policy, run by a retention.Scheduler) is not due yet. Serve
// c.Handler() to monitors.
func ExampleChecker_Check() {
	ctx := master()
	store := storage.NewMemory()
	engine, _ := backup.New(store, nil)
	src := backup.FSSource(fstest.MapFS{"users/a.json": {Data: []byte(`{"name":"Ada"}`), Mode: 0o644}})
	if _, err := engine.Backup(ctx, "acme", src, &backup.Options{Type: backup.Full}); err != nil {
		fmt.Println(err)
		return
	}
	c, err := health.New(&health.Config{Engine: engine, Policies: retention.NewPolicies(store, nil)})
	if err != nil {
		fmt.Println(err)
		return
	}
	rep := c.Check(context.Background())
	fmt.Println("status:", rep.Status)
	for _, r := range rep.Results {
		fmt.Printf("%s %s %s\n", r.Check, r.Tenant, r.Status)
	}
	// Output:
	// status: ok
	// store  ok
	// conditional_create  ok
	// tenants  ok
	// locks acme ok
	// rpo acme ok
	// drill acme ok
}

package flags_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/flags"
	"github.com/iluxsys/steward/storage"
)

func ExampleSet() {
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
	set, err := flags.New(ctx, storage.NewMemory(), nil)
	if err != nil {
		panic(err)
	}
	// Pilot customers first, then 10 % of everyone else.
	_ = set.Set(ctx, "new-invoices", true, flags.Options{
		Description:       "new invoice layout",
		TargetTenants:     []string{"acme"},
		RolloutPercentage: 10,
	})
	fmt.Println(set.Enabled("new-invoices", "acme"))
	fmt.Println(set.Evaluate("new-invoices", "globex"))
	fmt.Println(flags.Bucket("new-invoices", "globex") < 1000)
	// Output:
	// true
	// true rollout
	// true
}

// ExampleResign adopts a record key on a Store whose flags were written
// without one.
func ExampleResign() {
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
	store := storage.NewMemory()
	old, _ := flags.New(ctx, store, nil) // before the key
	_ = old.Set(ctx, "new-invoices", true, flags.Options{RolloutPercentage: 100})

	key := []byte("a secret of at least 16 random bytes, from the host's vault")
	_, err := flags.New(ctx, store, &flags.Config{RecordKey: key})
	fmt.Println(errors.Is(err, steward.ErrForged)) // unkeyed versions are refused

	n, err := flags.Resign(ctx, store, &flags.Config{RecordKey: key})
	fmt.Println(n, err)
	set, err := flags.New(ctx, store, &flags.Config{RecordKey: key})
	fmt.Println(err, set.Enabled("new-invoices", "acme"))
	// Output:
	// true
	// 1 <nil>
	// <nil> true
}

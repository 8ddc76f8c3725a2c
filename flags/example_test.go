package flags_test

import (
	"context"
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

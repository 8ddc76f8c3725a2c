package steward_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/iluxsys/steward"
)

func ExampleMasterOnly() {
	authz := steward.MasterOnly()
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
	fmt.Println(authz.Authorize(ctx, steward.ActionBackupCreate, "acme"))

	guest := steward.WithPrincipal(context.Background(), steward.Principal{ID: "guest"})
	err := authz.Authorize(guest, steward.ActionBackupCreate, "acme")
	fmt.Println(errors.Is(err, steward.ErrForbidden), err)
	// Output:
	// <nil>
	// true forbidden: principal "guest" may not backup.create on tenant "acme"
}

func ExampleValidateTenant() {
	fmt.Println(steward.ValidateTenant("acme-1"))
	fmt.Println(steward.ValidateTenant("Acme/1"))
	// Output:
	// <nil>
	// invalid tenant ID: tenant "Acme/1": use lowercase letters, digits, '-' and '_' (at most 63), starting with a letter or digit
}

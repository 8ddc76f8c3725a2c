package steward_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
)

func TestMasterOnly(t *testing.T) {
	a := steward.MasterOnly()
	bg := context.Background()
	master := steward.WithPrincipal(bg, steward.Principal{ID: "root", Roles: []string{steward.RoleMaster}})
	viewer := steward.WithPrincipal(bg, steward.Principal{ID: "v", Roles: []string{"viewer"}, Tenants: []string{"acme"}})

	require.NoError(t, a.Authorize(master, steward.ActionBackupCreate, "acme"))
	require.ErrorIs(t, a.Authorize(bg, steward.ActionBackupList, "acme"), steward.ErrUnauthenticated)
	err := a.Authorize(viewer, steward.ActionBackupList, "acme")
	require.ErrorIs(t, err, steward.ErrForbidden)
	require.Contains(t, err.Error(), `"v"`)
	require.Contains(t, err.Error(), "backup.list")
}

func TestTenantScoped(t *testing.T) {
	a := steward.TenantScoped()
	bg := context.Background()
	p := steward.WithPrincipal(bg, steward.Principal{ID: "alice", Tenants: []string{"acme"}})
	cases := []struct {
		action steward.Action
		tenant string
		ok     bool
	}{
		{steward.ActionBackupList, "acme", true},
		{steward.ActionBackupRead, "acme", true},
		{steward.ActionRestore, "acme", true},
		{steward.ActionBackupList, "globex", false},
		{steward.ActionRestore, "globex", false},
		{steward.ActionBackupCreate, "acme", false},
		{steward.ActionBackupDelete, "acme", false},
		{steward.ActionReleaseDeploy, "", false},
	}
	for _, c := range cases {
		err := a.Authorize(p, c.action, c.tenant)
		if c.ok {
			require.NoError(t, err, "%s on %q", c.action, c.tenant)
		} else {
			require.ErrorIs(t, err, steward.ErrForbidden, "%s on %q", c.action, c.tenant)
		}
	}
	require.ErrorIs(t, a.Authorize(bg, steward.ActionBackupList, "acme"), steward.ErrUnauthenticated)
	master := steward.WithPrincipal(bg, steward.Principal{ID: "root", Roles: []string{steward.RoleMaster}})
	require.NoError(t, a.Authorize(master, steward.ActionReleaseDeploy, ""))
}

func TestPrincipalFrom(t *testing.T) {
	_, ok := steward.PrincipalFrom(context.Background())
	require.False(t, ok)
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "x"})
	p, ok := steward.PrincipalFrom(ctx)
	require.True(t, ok)
	require.Equal(t, "x", p.ID)
	require.Equal(t, "x", steward.PrincipalID(ctx))
}

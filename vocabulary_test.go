package steward_test

import (
	"context"
	"errors"
	"fmt"
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

// TestAuthorizerFunc: an AuthorizerFunc is an Authorizer that hands the
// context, action and tenant to the function unchanged and returns its error
// as is, so a host's decision (here: only alice, and no deletes) reaches the
// caller with its sentinel.
func TestAuthorizerFunc(t *testing.T) {
	type call struct {
		principal string
		action    steward.Action
		tenant    string
	}
	var calls []call
	var a steward.Authorizer = steward.AuthorizerFunc(func(ctx context.Context, action steward.Action, tenant string) error {
		p, ok := steward.PrincipalFrom(ctx)
		if !ok {
			return steward.ErrUnauthenticated
		}
		calls = append(calls, call{p.ID, action, tenant})
		if p.ID != "alice" || action == steward.ActionBackupDelete {
			return fmt.Errorf("%w: %q may not %s on %q", steward.ErrForbidden, p.ID, action, tenant)
		}
		return nil
	})
	bg := context.Background()
	alice := steward.WithPrincipal(bg, steward.Principal{ID: "alice"})
	bob := steward.WithPrincipal(bg, steward.Principal{ID: "bob"})
	cases := []struct {
		name    string
		ctx     context.Context
		action  steward.Action
		tenant  string
		wantErr error
		want    []call
	}{
		{"allowed", alice, steward.ActionBackupCreate, "acme", nil, []call{{"alice", steward.ActionBackupCreate, "acme"}}},
		{"no tenant", alice, steward.ActionAuditRead, "", nil, []call{{"alice", steward.ActionAuditRead, ""}}},
		{"forbidden action", alice, steward.ActionBackupDelete, "acme", steward.ErrForbidden, []call{{"alice", steward.ActionBackupDelete, "acme"}}},
		{"forbidden principal", bob, steward.ActionBackupList, "globex", steward.ErrForbidden, []call{{"bob", steward.ActionBackupList, "globex"}}},
		{"no principal", bg, steward.ActionBackupList, "acme", steward.ErrUnauthenticated, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls = nil
			err := a.Authorize(tc.ctx, tc.action, tc.tenant)
			if tc.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.wantErr)
			}
			require.Equal(t, tc.want, calls, "what the function was called with")
		})
	}
	// The error is the function's own, not a copy or a wrapper.
	sentinel := errors.New("policy service down")
	err := steward.AuthorizerFunc(func(context.Context, steward.Action, string) error { return sentinel }).Authorize(bg, steward.ActionRestore, "acme")
	require.Same(t, sentinel, err)
}

package steward

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Clock tells the time. Every package takes a Clock in its Config so tests
// can run on a fake one; nil means SystemClock.
type Clock interface {
	Now() time.Time
}

// SystemClock is the Clock of the machine, in UTC.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// ClockOrSystem returns c, or SystemClock when c is nil.
func ClockOrSystem(c Clock) Clock {
	if c == nil {
		return SystemClock{}
	}
	return c
}

// RoleMaster is the role that may do everything under MasterOnly.
const RoleMaster = "master"

// Principal is who performs an operation. Hosts put one into the context with
// WithPrincipal before calling the SDK.
type Principal struct {
	// ID names the principal in audit events (a user ID, a service name).
	ID string
	// Roles the principal holds; RoleMaster grants every action.
	Roles []string
	// Tenants the principal may act on under a tenant-scoped Authorizer.
	Tenants []string
}

// HasRole reports whether p holds role.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

type principalKey struct{}

// WithPrincipal returns a context that carries p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the Principal carried by ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// PrincipalID returns the ID of the principal in ctx, or "" when there is none.
func PrincipalID(ctx context.Context) string {
	p, _ := PrincipalFrom(ctx)
	return p.ID
}

// Action names an operation for authorization and audit, such as
// "backup.create" or "release.deploy".
type Action string

// Actions the SDK authorizes. Read actions end in ".read" or ".list"; hosts
// writing their own Authorizer can use IsRead to tell them apart.
const (
	ActionBackupCreate    Action = "backup.create"
	ActionBackupRead      Action = "backup.read"
	ActionBackupList      Action = "backup.list"
	ActionBackupDelete    Action = "backup.delete"
	ActionRestore         Action = "restore.run"
	ActionRestoreValidate Action = "restore.validate"
	ActionRetentionApply  Action = "retention.apply"
	ActionRetentionRead   Action = "retention.read"
	ActionRetentionWrite  Action = "retention.write"
	ActionRepoCheck       Action = "repo.check"
	ActionRepoKey         Action = "repo.key"
	ActionReleaseCreate   Action = "release.create"
	ActionReleaseDeploy   Action = "release.deploy"
	ActionReleaseRollback Action = "release.rollback"
	ActionReleaseRead     Action = "release.read"
	ActionFlagWrite       Action = "flags.write"
	ActionFlagRead        Action = "flags.read"
	ActionAuditRead       Action = "audit.read"
)

// IsRead reports whether a is an action that only reads.
func (a Action) IsRead() bool {
	switch a {
	case ActionBackupRead, ActionBackupList, ActionRetentionRead, ActionReleaseRead,
		ActionFlagRead, ActionAuditRead, ActionRepoCheck:
		return true
	}
	return false
}

// Authorizer decides whether the principal in ctx may perform action on
// tenant ("" for operations that are not about one tenant). It returns nil,
// or an error matching ErrForbidden or ErrUnauthenticated.
type Authorizer interface {
	Authorize(ctx context.Context, action Action, tenant string) error
}

// AuthorizerFunc adapts a function to the Authorizer interface.
type AuthorizerFunc func(ctx context.Context, action Action, tenant string) error

// Authorize calls f.
func (f AuthorizerFunc) Authorize(ctx context.Context, action Action, tenant string) error {
	return f(ctx, action, tenant)
}

var (
	// ErrForbidden: the principal may not perform the action.
	ErrForbidden = errors.New("forbidden")
	// ErrUnauthenticated: the context carries no principal.
	ErrUnauthenticated = errors.New("unauthenticated: no principal in context (use steward.WithPrincipal)")
	// ErrInvalidTenant: a tenant ID breaks the tenant ID rules.
	ErrInvalidTenant = errors.New("invalid tenant ID")
	// ErrForged: a record read from the Store failed authentication under
	// the host's record key: it was altered, moved from another name, or
	// written by someone without the key. It was not used.
	ErrForged = errors.New("stored record failed authentication (altered, moved or written without the record key)")
)

// MinRecordKey is the shortest record key the SDK accepts (bytes).
const MinRecordKey = 16

// MasterOnly is the default Authorizer: a principal with RoleMaster may do
// everything; any other principal gets ErrForbidden and a context without a
// principal gets ErrUnauthenticated.
func MasterOnly() Authorizer { return masterOnly{} }

type masterOnly struct{}

func (masterOnly) Authorize(ctx context.Context, action Action, tenant string) error {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return ErrUnauthenticated
	}
	if p.HasRole(RoleMaster) {
		return nil
	}
	return &AccessError{Principal: p.ID, Action: action, Tenant: tenant}
}

// TenantScoped is an Authorizer that lets masters do everything and lets any
// other principal perform read actions, restores and validations on the
// tenants listed in its Principal.Tenants, and nothing else.
func TenantScoped() Authorizer { return tenantScoped{} }

type tenantScoped struct{}

func (tenantScoped) Authorize(ctx context.Context, action Action, tenant string) error {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return ErrUnauthenticated
	}
	if p.HasRole(RoleMaster) {
		return nil
	}
	own := tenant != "" && slices.Contains(p.Tenants, tenant)
	switch {
	case own && (action.IsRead() || action == ActionRestore || action == ActionRestoreValidate):
		return nil
	}
	return &AccessError{Principal: p.ID, Action: action, Tenant: tenant}
}

// AuthorizerOrDefault returns a, or MasterOnly when a is nil.
func AuthorizerOrDefault(a Authorizer) Authorizer {
	if a == nil {
		return MasterOnly()
	}
	return a
}

// AccessError is returned when a principal is denied. It matches ErrForbidden.
type AccessError struct {
	Principal string
	Action    Action
	Tenant    string
}

// Error names the principal, the action and the tenant.
func (e *AccessError) Error() string {
	who := e.Principal
	if who == "" {
		who = "(anonymous)"
	}
	if e.Tenant != "" {
		return fmt.Sprintf("forbidden: principal %q may not %s on tenant %q", who, e.Action, e.Tenant)
	}
	return fmt.Sprintf("forbidden: principal %q may not %s", who, e.Action)
}

// Is makes AccessError match ErrForbidden.
func (e *AccessError) Is(target error) bool { return target == ErrForbidden }

// Package op authorizes and audits one operation of the SDK: Start asks
// the Authorizer (auditing a denial) before any I/O, and Finish records the
// operation's outcome as one audit event. Every public operation of
// backup, restore, release, flags and retention goes through it, so the
// shape of their audit events is decided here once.
package op

import (
	"context"
	"fmt"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
)

// ProgressInterval is how often a backup, restore, check or prune in
// progress reports between its per-item reports (the public docs say
// "every 250 ms"): a large file moves the count as it goes.
const ProgressInterval = 250 * time.Millisecond

// Op is an authorized operation on one tenant ("" for operations that
// are not a tenant's). Its zero value records nothing. An Op holds no
// context and is safe to copy; Finish may be called more than once, each
// call recording one event (ForgetWithOptions records one per snapshot).
type Op struct {
	aud    audit.Auditor
	tenant string
}

// Start asks authz (steward.MasterOnly when nil) whether the principal in
// ctx may perform action on tenant. A denial is recorded on aud (nothing
// when nil) as an audit.TypeAccessDenied event at audit.LevelWarning, with
// the principal's ID, the action and the error, and returned, matching
// steward.ErrForbidden or steward.ErrUnauthenticated: the caller must then
// stop before any I/O.
//
// When ctx comes from Implying(ctx, action, tenant), the Authorizer is not
// asked: an operation already authorized covers this one.
func Start(ctx context.Context, authz steward.Authorizer, aud audit.Auditor, action steward.Action, tenant string) (Op, error) {
	aud = audit.OrNop(aud)
	if implied(ctx, action, tenant) {
		return Op{aud: aud, tenant: tenant}, nil
	}
	if err := steward.AuthorizerOrDefault(authz).Authorize(ctx, action, tenant); err != nil {
		_ = aud.Record(ctx, audit.Event{
			Type:    audit.TypeAccessDenied,
			Level:   audit.LevelWarning,
			Message: fmt.Sprintf("%s denied: %v", action, err),
			UserID:  steward.PrincipalID(ctx),
			Tenant:  tenant,
			Data:    map[string]any{audit.DataAction: string(action), audit.DataError: err.Error()},
		})
		return Op{}, err
	}
	return Op{aud: aud, tenant: tenant}, nil
}

// Finish records the operation's outcome as one event of type typ, with
// the principal's ID in ctx, the Op's tenant, msg and data. Without an
// error the event is at audit.LevelInfo; with one it is at
// audit.LevelError, its message is msg followed by ": " and the error,
// and data (created when nil) holds the error text under audit.DataError,
// so the event's Failed method reports it. The event is recorded even
// when ctx has ended; the Auditor's own failure is not the operation's and
// is dropped.
func (o Op) Finish(ctx context.Context, err error, typ audit.EventType, msg string, data map[string]any) {
	if o.aud == nil {
		return
	}
	ev := audit.Event{Type: typ, Level: audit.LevelInfo, Message: msg, UserID: steward.PrincipalID(ctx), Tenant: o.tenant, Data: data}
	if err != nil {
		ev.Level = audit.LevelError
		ev.Message = msg + ": " + err.Error()
		if ev.Data == nil {
			ev.Data = map[string]any{}
		}
		ev.Data[audit.DataError] = err.Error()
	}
	_ = o.aud.Record(context.WithoutCancel(ctx), ev)
}

// grant is the context key of Implying: an action on a tenant that an
// authorized operation performs as a part of itself.
type grant struct {
	action steward.Action
	tenant string
}

// Implying returns a context under which Start does not ask the
// Authorizer for action on tenant (and only for that pair): the caller,
// itself authorized, performs it as a part of its own operation — a
// restore's safety backup of the tenant it restores. Being internal, it
// cannot be reached by a host; the implied operation is audited as usual.
func Implying(ctx context.Context, action steward.Action, tenant string) context.Context {
	return context.WithValue(ctx, grant{action, tenant}, true)
}

func implied(ctx context.Context, action steward.Action, tenant string) bool {
	ok, _ := ctx.Value(grant{action, tenant}).(bool)
	return ok
}

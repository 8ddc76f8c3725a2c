package audit

import (
	"context"
	"fmt"

	"github.com/iluxsys/steward"
)

// Authorize asks authz (MasterOnly when nil) whether the principal in ctx may
// perform action on tenant. A denial is recorded on aud as an access.denied
// event with the principal's ID and returned; the caller must then stop
// before any I/O. Every public operation of the SDK starts with this call.
func Authorize(ctx context.Context, authz steward.Authorizer, aud Auditor, action steward.Action, tenant string) error {
	err := steward.AuthorizerOrDefault(authz).Authorize(ctx, action, tenant)
	if err == nil {
		return nil
	}
	_ = OrNop(aud).Record(ctx, Event{
		Type:    TypeAccessDenied,
		Level:   LevelWarning,
		Message: fmt.Sprintf("%s denied: %v", action, err),
		UserID:  steward.PrincipalID(ctx),
		Tenant:  tenant,
		Data:    map[string]any{DataAction: string(action), DataError: err.Error()},
	})
	return err
}

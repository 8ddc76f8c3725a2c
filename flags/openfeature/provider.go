// Package openfeature exposes a flags.Set as an OpenFeature provider
// (github.com/open-feature/go-sdk), so hosts can evaluate steward flags
// through the vendor-neutral OpenFeature client. The evaluation context's
// targeting key is the tenant ID.
package openfeature

import (
	"context"
	"fmt"

	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/iluxsys/steward/flags"
)

// Provider evaluates boolean flags from a flags.Set. Other types answer
// TYPE_MISMATCH with the default value.
type Provider struct {
	set *flags.Set
}

// New returns a provider over set.
func New(set *flags.Set) *Provider { return &Provider{set: set} }

var _ of.FeatureProvider = (*Provider)(nil)

// Metadata names the provider.
func (p *Provider) Metadata() of.Metadata { return of.Metadata{Name: "steward-flags"} }

// Hooks returns none.
func (p *Provider) Hooks() []of.Hook { return nil }

// BooleanEvaluation evaluates flag for the tenant in the targeting key.
// Reasons: TARGETING_MATCH (the tenant is targeted), SPLIT (inside or
// outside the percentage rollout), DISABLED (the flag is off), DEFAULT
// with FLAG_NOT_FOUND for an unknown flag.
func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, defaultValue bool, flatCtx of.FlattenedContext) of.BoolResolutionDetail {
	tenant, _ := flatCtx[of.TargetingKey].(string)
	on, why := p.set.Evaluate(flag, tenant)
	d := of.BoolResolutionDetail{Value: on}
	switch why {
	case flags.ReasonUnknown:
		d.Value = defaultValue
		d.Reason = of.DefaultReason
		d.ResolutionError = of.NewFlagNotFoundResolutionError(fmt.Sprintf("flag %q is not defined", flag))
	case flags.ReasonDisabled:
		d.Reason = of.DisabledReason
		d.Variant = "off"
	case flags.ReasonTarget:
		d.Reason = of.TargetingMatchReason
		d.Variant = "on"
	case flags.ReasonRollout:
		d.Reason = of.SplitReason
		d.Variant = "on"
	default:
		d.Reason = of.SplitReason
		d.Variant = "off"
	}
	return d
}

func mismatch(flag string) of.ProviderResolutionDetail {
	return of.ProviderResolutionDetail{Reason: of.ErrorReason, ResolutionError: of.NewTypeMismatchResolutionError(fmt.Sprintf("flag %q is boolean", flag))}
}

// StringEvaluation answers TYPE_MISMATCH: steward flags are boolean.
func (p *Provider) StringEvaluation(ctx context.Context, flag string, defaultValue string, flatCtx of.FlattenedContext) of.StringResolutionDetail {
	return of.StringResolutionDetail{Value: defaultValue, ProviderResolutionDetail: mismatch(flag)}
}

// FloatEvaluation answers TYPE_MISMATCH.
func (p *Provider) FloatEvaluation(ctx context.Context, flag string, defaultValue float64, flatCtx of.FlattenedContext) of.FloatResolutionDetail {
	return of.FloatResolutionDetail{Value: defaultValue, ProviderResolutionDetail: mismatch(flag)}
}

// IntEvaluation answers TYPE_MISMATCH.
func (p *Provider) IntEvaluation(ctx context.Context, flag string, defaultValue int64, flatCtx of.FlattenedContext) of.IntResolutionDetail {
	return of.IntResolutionDetail{Value: defaultValue, ProviderResolutionDetail: mismatch(flag)}
}

// ObjectEvaluation answers TYPE_MISMATCH.
func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, defaultValue any, flatCtx of.FlattenedContext) of.InterfaceResolutionDetail {
	return of.InterfaceResolutionDetail{Value: defaultValue, ProviderResolutionDetail: mismatch(flag)}
}

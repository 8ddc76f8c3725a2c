package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// Config is shared by Policies and Apply. A nil *Config means defaults.
type Config struct {
	Clock      steward.Clock
	Auditor    audit.Auditor
	Authorizer steward.Authorizer
	// Prefix is where policies live in the Store (default "policies/").
	Prefix string
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	out.Clock = steward.ClockOrSystem(out.Clock)
	out.Auditor = audit.OrNop(out.Auditor)
	out.Authorizer = steward.AuthorizerOrDefault(out.Authorizer)
	if out.Prefix == "" {
		out.Prefix = "policies/"
	}
	return out
}

// Policies stores a Policy per tenant; tenants without one get the
// defaults (DefaultGeneralPolicy for backup.General). Safe for concurrent use.
type Policies struct {
	store storage.Store
	cfg   Config
}

// NewPolicies returns the policies kept in store.
func NewPolicies(store storage.Store, cfg *Config) *Policies {
	return &Policies{store: store, cfg: cfg.withDefaults()}
}

func validScope(tenant string) error {
	if tenant == backup.General || tenant == backup.Releases {
		return nil
	}
	return steward.ValidateTenant(tenant)
}

// Get returns tenant's policy, or the default when none is stored.
func (ps *Policies) Get(ctx context.Context, tenant string) (Policy, error) {
	if err := validScope(tenant); err != nil {
		return Policy{}, err
	}
	if err := audit.Authorize(ctx, ps.cfg.Authorizer, ps.cfg.Auditor, steward.ActionRetentionRead, tenant); err != nil {
		return Policy{}, err
	}
	return ps.get(ctx, tenant)
}

func (ps *Policies) get(ctx context.Context, tenant string) (Policy, error) {
	b, err := storage.ReadAll(ctx, ps.store, ps.cfg.Prefix+tenant+".json")
	if errors.Is(err, storage.ErrNotFound) {
		if tenant == backup.General {
			return DefaultGeneralPolicy(), nil
		}
		return DefaultTenantPolicy(), nil
	}
	if err != nil {
		return Policy{}, fmt.Errorf("retention: policy of %q: %w", tenant, err)
	}
	p, err := DecodePolicy(b)
	if err != nil {
		return Policy{}, fmt.Errorf("retention: stored policy of %q: %w", tenant, err)
	}
	return p, nil
}

// Set stores tenant's policy after validating it (an invalid or empty
// policy is refused and nothing is written).
func (ps *Policies) Set(ctx context.Context, tenant string, p Policy) error {
	if err := validScope(tenant); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if err := audit.Authorize(ctx, ps.cfg.Authorizer, ps.cfg.Auditor, steward.ActionRetentionWrite, tenant); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(p, "", "  ")
	ev := audit.Event{Type: audit.TypePolicyChanged, Level: audit.LevelInfo, Message: fmt.Sprintf("retention policy of %q changed", tenant),
		UserID: steward.PrincipalID(ctx), Tenant: tenant, Data: map[string]any{"policy": string(b)}}
	err := storage.PutBytes(ctx, ps.store, ps.cfg.Prefix+tenant+".json", b, nil)
	if err != nil {
		err = fmt.Errorf("retention: store policy of %q: %w", tenant, err)
		ev.Level, ev.Message, ev.Data[audit.DataError] = audit.LevelError, fmt.Sprintf("retention policy of %q not changed", tenant), err.Error()
	}
	_ = ps.cfg.Auditor.Record(context.WithoutCancel(ctx), ev)
	return err
}

// ApplyReport says what Apply did or, in a dry run, would do.
type ApplyReport struct {
	Tenant    string              `json:"tenant"`
	DryRun    bool                `json:"dry_run"`
	Decisions []Decision          `json:"decisions"`
	Forgotten []string            `json:"forgotten"`
	Prune     *backup.PruneReport `json:"prune,omitempty"`
}

// Apply plans tenant's snapshots against p, forgets those the plan drops
// and prunes what no snapshot needs any more. With dryRun nothing changes
// and the report says what would. Authorization: retention.apply, then
// the engine's own checks for forget and prune.
func Apply(ctx context.Context, e *backup.Engine, tenant string, p Policy, dryRun bool) (*ApplyReport, error) {
	if err := validScope(tenant); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cfg := e.Config()
	if err := audit.Authorize(ctx, cfg.Authorizer, cfg.Auditor, steward.ActionRetentionApply, tenant); err != nil {
		return nil, err
	}
	rep, err := apply(ctx, e, tenant, p, dryRun)
	if dryRun && err == nil {
		return rep, nil
	}
	ev := audit.Event{Type: audit.TypeRetentionApplied, Level: audit.LevelInfo, UserID: steward.PrincipalID(ctx), Tenant: tenant, Data: map[string]any{}}
	if rep != nil {
		kept := len(rep.Decisions) - len(rep.Forgotten)
		ev.Message = fmt.Sprintf("retention of %q: %d kept, %d forgotten", tenant, kept, len(rep.Forgotten))
		ev.Data["forgotten"], ev.Data["kept"], ev.Data["dry_run"] = len(rep.Forgotten), kept, dryRun
	}
	if err != nil {
		ev.Level, ev.Message, ev.Data[audit.DataError] = audit.LevelError, fmt.Sprintf("retention of %q failed: %v", tenant, err), err.Error()
	}
	_ = cfg.Auditor.Record(context.WithoutCancel(ctx), ev)
	return rep, err
}

func apply(ctx context.Context, e *backup.Engine, tenant string, p Policy, dryRun bool) (*ApplyReport, error) {
	cfg := e.Config()
	snaps, err := e.Catalog(ctx, tenant)
	if err != nil {
		return nil, err
	}
	plan, err := Plan(snaps, p, cfg.Clock.Now())
	if err != nil {
		return nil, err
	}
	rep := &ApplyReport{Tenant: tenant, DryRun: dryRun, Decisions: plan}
	for _, d := range plan {
		if !d.Keep {
			rep.Forgotten = append(rep.Forgotten, d.Snapshot.ID)
		}
	}
	if dryRun {
		rep.Prune, err = e.Prune(ctx, tenant, &backup.PruneOptions{DryRun: true})
		return rep, err
	}
	if len(rep.Forgotten) > 0 {
		if err := e.Forget(ctx, tenant, rep.Forgotten...); err != nil {
			return rep, err
		}
		if rep.Prune, err = e.Prune(ctx, tenant, nil); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

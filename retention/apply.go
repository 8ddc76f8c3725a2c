package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/storage"
)

// Config is shared by Policies and Apply. A nil *Config means defaults.
// The host passes the same Clock, Auditor and Authorizer as to its Engine:
// retention does not borrow the Engine's.
type Config struct {
	// Clock gives Apply's "now" (default steward.SystemClock).
	Clock steward.Clock
	// Auditor receives policy changes, retention runs and access denials
	// (default: none recorded).
	Auditor audit.Auditor
	// Authorizer decides who may read, write and apply policies (default
	// steward.MasterOnly).
	Authorizer steward.Authorizer
	// Prefix is where policies live in the Store (default "policies/");
	// Apply does not use it.
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
	if _, err := op.Start(ctx, ps.cfg.Authorizer, ps.cfg.Auditor, steward.ActionRetentionRead, tenant); err != nil {
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
		return Policy{}, errs.Errorf("retention", "policy of %q: %w", tenant, err)
	}
	p, err := DecodePolicy(b)
	if err != nil {
		return Policy{}, errs.Errorf("retention", "stored policy of %q: %w", tenant, err)
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
	task, err := op.Start(ctx, ps.cfg.Authorizer, ps.cfg.Auditor, steward.ActionRetentionWrite, tenant)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(p, "", "  ")
	msg := fmt.Sprintf("retention policy of %q changed", tenant)
	err = storage.PutBytes(ctx, ps.store, ps.cfg.Prefix+tenant+".json", b, nil)
	if err != nil {
		err = errs.Errorf("retention", "store policy of %q: %w", tenant, err)
		msg = fmt.Sprintf("retention policy of %q not changed", tenant)
	}
	task.Finish(ctx, err, audit.TypePolicyChanged, msg, map[string]any{"policy": string(b)})
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
// and the report says what would. Authorization: retention.apply under
// cfg's Authorizer, then the engine's own checks for forget and prune. The
// run (not a dry run) is audited on cfg's Auditor; cfg's Clock is the plan's
// "now". A nil cfg means defaults (see Config).
func Apply(ctx context.Context, e *backup.Engine, tenant string, p Policy, dryRun bool, cfg *Config) (*ApplyReport, error) {
	if err := validScope(tenant); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	task, err := op.Start(ctx, c.Authorizer, c.Auditor, steward.ActionRetentionApply, tenant)
	if err != nil {
		return nil, err
	}
	rep, err := apply(ctx, e, tenant, p, dryRun, c.Clock.Now())
	if dryRun && err == nil {
		return rep, nil
	}
	msg, data := fmt.Sprintf("retention of %q failed", tenant), map[string]any{}
	if rep != nil {
		kept := len(rep.Decisions) - len(rep.Forgotten)
		if err == nil {
			msg = fmt.Sprintf("retention of %q: %d kept, %d forgotten", tenant, kept, len(rep.Forgotten))
		}
		data["forgotten"], data["kept"], data["dry_run"] = len(rep.Forgotten), kept, dryRun
	}
	task.Finish(ctx, err, audit.TypeRetentionApplied, msg, data)
	return rep, err
}

func apply(ctx context.Context, e *backup.Engine, tenant string, p Policy, dryRun bool, now time.Time) (*ApplyReport, error) {
	snaps, err := e.Catalog(ctx, tenant)
	if err != nil {
		return nil, err
	}
	plan, err := Plan(snaps, p, now)
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

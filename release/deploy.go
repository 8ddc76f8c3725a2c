package release

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
)

// DeployOptions change a deploy. A nil *DeployOptions means defaults.
type DeployOptions struct {
	// Force deploys a version that is not newer than the active one.
	Force bool
	// SkipSafetyBackup skips Config.SafetyBackup.
	SkipSafetyBackup bool
}

// RollbackOptions change a rollback. A nil *RollbackOptions means defaults.
type RollbackOptions struct {
	// Maintenance enters Config.Maintenance for the rollback (always exited).
	Maintenance bool
	// SkipSafetyBackup skips Config.SafetyBackup.
	SkipSafetyBackup bool
}

// op tracks one deploy or rollback while it runs.
type op struct {
	m     *Manager
	d     *Deployment
	start time.Time
}

func (o *op) step(name string, fn func() (string, error)) error {
	t := time.Now()
	detail, err := fn()
	s := Step{Name: name, Status: "ok", Detail: detail, Duration: time.Since(t)}
	if err != nil {
		s.Status, s.Detail = "failed", err.Error()
	}
	o.d.Steps = append(o.d.Steps, s)
	return err
}

func (o *op) skip(name, why string) {
	o.d.Steps = append(o.d.Steps, Step{Name: name, Status: "skipped", Detail: why})
}

func (o *op) finish() {
	o.d.Duration = o.m.clock.Now().Sub(o.start)
	o.d.WithinSLO = o.d.Duration <= SLO
}

// Deploy runs releaseID on its channel: pre-checks (migrations paired,
// version newer than the active one unless forced, artifact intact, host
// pre-checks), safety backups, forward migrations, files, active release,
// post-checks. A failing forward migration stops the deploy with the
// active release unchanged (the SQLMigrator leaves the database as it was
// before that migration; earlier migrations of the release are reverted).
// A failing post-check rolls back to the previous release automatically;
// the Deployment then has status "rolled_back" and the error matches
// ErrCheckFailed. Another operation in progress on the channel gives
// ErrConflict.
func (m *Manager) Deploy(ctx context.Context, releaseID string, opts *DeployOptions) (*Deployment, error) {
	var o DeployOptions
	if opts != nil {
		o = *opts
	}
	if err := audit.Authorize(ctx, m.cfg.Authorizer, m.cfg.Auditor, steward.ActionReleaseDeploy, ""); err != nil {
		return nil, err
	}
	if err := m.writable(ctx, "deploy"); err != nil {
		return nil, err
	}
	rel, err := m.get(ctx, releaseID)
	if err != nil {
		return nil, err
	}
	st, err := m.load(ctx)
	if err != nil {
		return nil, err
	}
	run := &op{m: m, start: m.clock.Now(), d: &Deployment{ID: uuid.NewString(), Kind: "deploy", Channel: rel.Channel, ReleaseID: rel.ID,
		FromReleaseID: st.active[rel.Channel], StartedAt: m.clock.Now().UTC(), By: steward.PrincipalID(ctx)}}

	// Pre-checks change nothing.
	err = run.step("pre-checks", func() (string, error) {
		if err := validateMigrations(rel.Forward, rel.Backward); err != nil {
			return "", err
		}
		if cur := st.active[rel.Channel]; cur != "" && !o.Force {
			active, err := m.get(ctx, cur)
			if err != nil {
				return "", err
			}
			if !newer(rel.Version, active.Version) {
				return "", fmt.Errorf("%w: %s is not newer than active %s (use Force to redeploy or go back; Rollback to return to an earlier release)", ErrVersionNotNewer, rel.Version, active.Version)
			}
		}
		if err := m.VerifyArtifact(ctx, rel); err != nil {
			return "", err
		}
		for i, c := range m.cfg.PreChecks {
			if err := c(ctx, rel); err != nil {
				return "", fmt.Errorf("%w: pre-check %d: %v", ErrCheckFailed, i+1, err)
			}
		}
		return "migrations paired, version newer, artifact hash verified", nil
	})
	if err != nil {
		return m.done(ctx, run, err, "")
	}

	owner := "op-" + run.d.ID
	if _, err := m.append(ctx, record{Type: recPending, Channel: rel.Channel, ReleaseID: rel.ID, Version: rel.Version, Owner: owner,
		LeaseUntil: m.clock.Now().Add(m.cfg.Lease).UTC(), At: m.clock.Now().UTC(), By: run.d.By}); err != nil {
		return m.done(ctx, run, err, "")
	}

	if err := m.safetyBackup(ctx, run, rel, o.SkipSafetyBackup); err != nil {
		return m.done(ctx, run, err, owner)
	}
	var applied []Migration
	err = run.step("forward migrations", func() (string, error) {
		for _, mig := range rel.Forward {
			if m.cfg.Migrator == nil {
				return "no migrator configured", nil
			}
			if err := m.cfg.Migrator.Apply(ctx, []Migration{mig}); err != nil {
				var me *MigrationError
				if !errors.As(err, &me) {
					err = &MigrationError{ID: mig.ID, Err: err}
				}
				return "", err
			}
			applied = append(applied, mig)
		}
		return fmt.Sprintf("%d applied", len(applied)), nil
	})
	if err != nil {
		// Undo the migrations of this release that did apply.
		m.revert(ctx, run, backwardFor(rel, applied))
		return m.done(ctx, run, err, owner)
	}
	err = run.step("deploy files", func() (string, error) {
		if m.cfg.Deployer == nil {
			return "no deployer configured", nil
		}
		return "", m.cfg.Deployer.Deploy(ctx, rel)
	})
	if err != nil {
		m.revert(ctx, run, backwardFor(rel, applied))
		if prev := run.d.FromReleaseID; prev != "" && m.cfg.Deployer != nil {
			if p, perr := m.get(ctx, prev); perr == nil {
				_ = run.step("redeploy previous files", func() (string, error) { return prev, m.cfg.Deployer.Deploy(ctx, p) })
			}
		}
		return m.done(ctx, run, err, owner)
	}
	_ = run.step("set active", func() (string, error) { return rel.ID, nil })
	err = run.step("post-checks", func() (string, error) {
		for i, c := range m.cfg.PostChecks {
			if err := c(ctx, rel); err != nil {
				return "", fmt.Errorf("%w: post-check %d: %v", ErrCheckFailed, i+1, err)
			}
		}
		return fmt.Sprintf("%d passed", len(m.cfg.PostChecks)), nil
	})
	if err == nil {
		run.d.Status = StatusSucceeded
		run.finish()
		_, aerr := m.append(ctx, record{Type: recDeployed, Channel: rel.Channel, ReleaseID: rel.ID, Version: rel.Version, Owner: owner,
			At: m.clock.Now().UTC(), By: run.d.By, Deployment: run.d})
		m.record(ctx, audit.TypeReleaseDeployed, aerr, fmt.Sprintf("release %s deployed to %s", rel.ID, rel.Channel),
			map[string]any{audit.DataReleaseID: rel.ID, audit.DataVersion: rel.Version, audit.DataDurationMS: run.d.Duration.Milliseconds()})
		return run.d, aerr
	}

	// Post-check failed: roll back to the previous release at once.
	checkErr := err
	m.revert(ctx, run, backwardFor(rel, applied))
	prev := run.d.FromReleaseID
	if prev != "" && m.cfg.Deployer != nil {
		if p, perr := m.get(ctx, prev); perr == nil {
			_ = run.step("redeploy previous files", func() (string, error) { return prev, m.cfg.Deployer.Deploy(ctx, p) })
		}
	}
	run.d.Status, run.d.Reason = StatusRolledBack, "post-check failed; rolled back automatically: "+checkErr.Error()
	run.finish()
	// The release counts as deployed-then-rolled-back in the log.
	if _, aerr := m.append(ctx, record{Type: recFailed, Channel: rel.Channel, ReleaseID: rel.ID, Version: rel.Version, Owner: owner,
		At: m.clock.Now().UTC(), By: run.d.By, Deployment: run.d}); aerr != nil {
		return run.d, errors.Join(checkErr, aerr)
	}
	m.record(ctx, audit.TypeReleaseDeployFail, checkErr, fmt.Sprintf("release %s rolled back automatically", rel.ID),
		map[string]any{audit.DataReleaseID: rel.ID, audit.DataVersion: rel.Version, audit.DataDurationMS: run.d.Duration.Milliseconds()})
	return run.d, checkErr
}

// done records a failed deploy (releasing the pending record when one was
// taken) and returns err.
func (m *Manager) done(ctx context.Context, run *op, err error, owner string) (*Deployment, error) {
	run.d.Status, run.d.Reason = StatusFailed, err.Error()
	run.finish()
	if errors.Is(err, ErrConflict) {
		m.record(ctx, audit.TypeReleaseDeployFail, err, fmt.Sprintf("%s of %s refused", run.d.Kind, run.d.ReleaseID), map[string]any{audit.DataReleaseID: run.d.ReleaseID})
		return run.d, err
	}
	if owner != "" {
		if _, aerr := m.append(ctx, record{Type: recFailed, Channel: run.d.Channel, ReleaseID: run.d.ReleaseID, Owner: owner,
			At: m.clock.Now().UTC(), By: run.d.By, Deployment: run.d}); aerr != nil {
			err = errors.Join(err, aerr)
		}
	}
	typ := audit.TypeReleaseDeployFail
	if run.d.Kind == "rollback" {
		typ = audit.TypeReleaseRollbackErr
	}
	m.record(ctx, typ, err, fmt.Sprintf("%s of %s failed", run.d.Kind, run.d.ReleaseID), map[string]any{audit.DataReleaseID: run.d.ReleaseID})
	return run.d, err
}

func (m *Manager) safetyBackup(ctx context.Context, run *op, rel *Release, skip bool) error {
	if skip || m.cfg.SafetyBackup == nil {
		run.skip("safety backup", map[bool]string{true: "skipped by option", false: "no SafetyBackup configured"}[skip])
		return nil
	}
	return run.step("safety backup", func() (string, error) {
		ids, err := m.cfg.SafetyBackup(ctx, rel)
		run.d.SafetySnapshots = ids
		return fmt.Sprintf("%d snapshots", len(ids)), err
	})
}

// backwardFor returns the backward twins of applied, newest first.
func backwardFor(rel *Release, applied []Migration) []Migration {
	var out []Migration
	for i := len(applied) - 1; i >= 0; i-- {
		for _, b := range rel.Backward {
			if b.ID == applied[i].ID {
				out = append(out, b)
			}
		}
	}
	return out
}

// revert runs backward migrations (in the order given).
func (m *Manager) revert(ctx context.Context, run *op, ms []Migration) error {
	if len(ms) == 0 || m.cfg.Migrator == nil {
		return nil
	}
	return run.step("backward migrations", func() (string, error) {
		for _, mig := range ms {
			var err error
			if rv, ok := m.cfg.Migrator.(Reverter); ok {
				err = rv.Revert(ctx, []Migration{mig})
			} else {
				err = m.cfg.Migrator.Apply(ctx, []Migration{mig})
			}
			if err != nil {
				var me *MigrationError
				if !errors.As(err, &me) {
					err = &MigrationError{ID: mig.ID, Err: err}
				}
				return "", err
			}
		}
		return fmt.Sprintf("%d reverted", len(ms)), nil
	})
}

func newer(a, b string) bool {
	va, err1 := ParseVersion(a)
	vb, err2 := ParseVersion(b)
	return err1 == nil && err2 == nil && va.GreaterThan(vb)
}

// Rollback takes targetReleaseID's channel back to it: the target must be
// an earlier release the channel ran. Backward migrations of every release
// above it run newest first, the target's files are deployed again, the
// active release is updated and health checks run. With Maintenance the
// platform is in maintenance mode throughout, and always leaves it.
func (m *Manager) Rollback(ctx context.Context, targetReleaseID string, opts *RollbackOptions) (dep *Deployment, err error) {
	var o RollbackOptions
	if opts != nil {
		o = *opts
	}
	if err := audit.Authorize(ctx, m.cfg.Authorizer, m.cfg.Auditor, steward.ActionReleaseRollback, ""); err != nil {
		return nil, err
	}
	if err := m.writable(ctx, "rollback"); err != nil {
		return nil, err
	}
	target, err := m.get(ctx, targetReleaseID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidTarget, err)
	}
	st, err := m.load(ctx)
	if err != nil {
		return nil, err
	}
	run := &op{m: m, start: m.clock.Now(), d: &Deployment{ID: uuid.NewString(), Kind: "rollback", Channel: target.Channel, ReleaseID: target.ID,
		FromReleaseID: st.active[target.Channel], StartedAt: m.clock.Now().UTC(), By: steward.PrincipalID(ctx)}}
	applied := st.applied[target.Channel]
	idx := slices.Index(applied, target.ID)
	var above []string
	err = run.step("validate target", func() (string, error) {
		switch {
		case st.active[target.Channel] == target.ID:
			return "", fmt.Errorf("%w: %s is already active", ErrInvalidTarget, target.ID)
		case idx < 0:
			return "", fmt.Errorf("%w: %s was never deployed to %s, or was rolled back past", ErrInvalidTarget, target.ID, target.Channel)
		}
		above = slices.Clone(applied[idx+1:])
		slices.Reverse(above) // newest first
		return fmt.Sprintf("backward migrations of %v", above), nil
	})
	if err != nil {
		return m.done(ctx, run, err, "")
	}
	owner := "op-" + run.d.ID
	if _, err := m.append(ctx, record{Type: recPending, Channel: target.Channel, ReleaseID: target.ID, Version: target.Version, Owner: owner,
		LeaseUntil: m.clock.Now().Add(m.cfg.Lease).UTC(), At: m.clock.Now().UTC(), By: run.d.By}); err != nil {
		return m.done(ctx, run, err, "")
	}
	if o.Maintenance && m.cfg.Maintenance != nil {
		if err := run.step("enter maintenance", func() (string, error) { return "", m.cfg.Maintenance.Enter(ctx) }); err != nil {
			return m.done(ctx, run, err, owner)
		}
		defer func() {
			xerr := run.step("exit maintenance", func() (string, error) { return "", m.cfg.Maintenance.Exit(context.WithoutCancel(ctx)) })
			if xerr != nil && err == nil {
				err = xerr
			}
		}()
	}
	if err := m.safetyBackup(ctx, run, target, o.SkipSafetyBackup); err != nil {
		return m.done(ctx, run, err, owner)
	}
	for _, id := range above {
		rel, err := m.get(ctx, id)
		if err != nil {
			return m.done(ctx, run, err, owner)
		}
		if err := m.revert(ctx, run, backwardFor(rel, rel.Forward)); err != nil {
			return m.done(ctx, run, err, owner)
		}
	}
	if err := run.step("deploy target files", func() (string, error) {
		if m.cfg.Deployer == nil {
			return "no deployer configured", nil
		}
		if err := m.VerifyArtifact(ctx, target); err != nil {
			return "", err
		}
		return target.ID, m.cfg.Deployer.Deploy(ctx, target)
	}); err != nil {
		return m.done(ctx, run, err, owner)
	}
	_ = run.step("set active", func() (string, error) { return target.ID, nil })
	herr := run.step("health checks", func() (string, error) {
		for i, c := range m.cfg.HealthChecks {
			if err := c(ctx, target); err != nil {
				return "", fmt.Errorf("%w: health check %d: %v", ErrCheckFailed, i+1, err)
			}
		}
		return fmt.Sprintf("%d passed", len(m.cfg.HealthChecks)), nil
	})
	run.d.Status = StatusSucceeded
	if herr != nil {
		run.d.Reason = herr.Error()
	}
	run.finish()
	_, aerr := m.append(ctx, record{Type: recRolledBack, Channel: target.Channel, ReleaseID: target.ID, Version: target.Version, Owner: owner,
		At: m.clock.Now().UTC(), By: run.d.By, Deployment: run.d})
	err = errors.Join(herr, aerr)
	m.record(ctx, audit.TypeReleaseRolledBack, err, fmt.Sprintf("%s rolled back to %s", target.Channel, target.ID),
		map[string]any{audit.DataReleaseID: target.ID, audit.DataVersion: target.Version, audit.DataDurationMS: run.d.Duration.Milliseconds(), "within_slo": run.d.WithinSLO})
	return run.d, err
}

// Recover clears a channel's pending operation whose process died (its
// lease expired), recording it aborted; a live one gives ErrConflict. It
// does not undo what the dead operation may have applied: check the
// Deployment steps it recorded and roll back or redeploy as needed.
func (m *Manager) Recover(ctx context.Context, channel string) (bool, error) {
	if err := audit.Authorize(ctx, m.cfg.Authorizer, m.cfg.Auditor, steward.ActionReleaseDeploy, ""); err != nil {
		return false, err
	}
	if err := m.writable(ctx, "recover"); err != nil {
		return false, err
	}
	st, err := m.load(ctx)
	if err != nil {
		return false, err
	}
	p, ok := st.pending[channel]
	if !ok {
		return false, nil
	}
	if m.clock.Now().Before(p.LeaseUntil) {
		return false, fmt.Errorf("%w on channel %q: lease held until %s", ErrConflict, channel, p.LeaseUntil.Format(time.RFC3339))
	}
	_, err = m.append(ctx, record{Type: recAborted, Channel: channel, ReleaseID: p.ReleaseID, Owner: p.Owner, At: m.clock.Now().UTC(), By: steward.PrincipalID(ctx)})
	return err == nil, err
}

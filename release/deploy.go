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
	"github.com/iluxsys/steward/internal/errs"
	audited "github.com/iluxsys/steward/internal/op"
)

// DeployOptions change a deploy. A nil *DeployOptions means defaults.
type DeployOptions struct {
	// Force deploys a version that is not newer than the active one.
	Force bool
	// SkipSafetyBackup skips Config.SafetyBackup.
	SkipSafetyBackup bool
	// SkipMigrations deploys without running the release's forward
	// migrations, with or without a Migrator. Dangerous: the files then
	// run on a schema they were not made for, and a later rollback over
	// the release runs its backward migrations on a database that never
	// had its forward ones. Only for a database migrated by other means.
	// Without it, a release with migrations and no Config.Migrator is
	// refused with ErrNoMigrator before anything changes.
	SkipMigrations bool
}

// RollbackOptions change a rollback. A nil *RollbackOptions means defaults.
type RollbackOptions struct {
	// Maintenance enters Config.Maintenance for the rollback (always exited).
	Maintenance bool
	// SkipSafetyBackup skips Config.SafetyBackup.
	SkipSafetyBackup bool
	// SkipMigrations rolls back without running the backward migrations
	// of the releases rolled back over. Dangerous: the target's files then
	// run on the newer schema. Without it, rolling back over a release with
	// migrations and no Config.Migrator is refused with ErrNoMigrator
	// before anything changes.
	SkipMigrations bool
}

// op tracks one deploy or rollback while it runs.
type op struct {
	m     *Manager
	d     *Deployment
	start time.Time
	task  audited.Op // records the outcome in the audit trail
}

// newOp starts the Deployment of a deploy or rollback (kind) of rel, from
// the channel's active release, under the authorized task.
func (m *Manager) newOp(ctx context.Context, task audited.Op, kind string, rel *Release, st *state) *op {
	return &op{m: m, task: task, start: m.clock.Now(), d: &Deployment{ID: uuid.NewString(), Kind: kind, Channel: rel.Channel, ReleaseID: rel.ID,
		FromReleaseID: st.active[rel.Channel], StartedAt: m.clock.Now().UTC(), By: steward.PrincipalID(ctx)}}
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

// begin takes the channel for run: the pending record other operations
// wait on. It returns the owner later records name.
func (m *Manager) begin(ctx context.Context, run *op, rel *Release) (string, error) {
	owner := "op-" + run.d.ID
	_, err := m.append(ctx, record{Type: recPending, Channel: rel.Channel, ReleaseID: rel.ID, Version: rel.Version, Owner: owner,
		LeaseUntil: m.clock.Now().Add(m.cfg.Lease).UTC(), At: m.clock.Now().UTC(), By: run.d.By})
	return owner, err
}

// Deploy runs releaseID on its channel: pre-checks, safety backups,
// forward migrations, files, active release, post-checks.
//
// The pre-checks change nothing, and every deploy needs them to pass:
// migrations paired, version newer than the active one unless forced, a
// Migrator configured when the release has migrations (ErrNoMigrator,
// unless SkipMigrations), the artifact present (ErrArtifactMissing) and
// intact (ErrArtifactTampered), host pre-checks (ErrCheckFailed).
//
// A failure after a change is compensated: a failing forward migration
// (a *MigrationError) stops the deploy with the active release unchanged
// (the SQLMigrator leaves the database as it was before that migration;
// earlier migrations of the release are reverted); failing files revert
// the migrations and deploy the previous release's files again; a failing
// post-check does the same, and the Deployment then has status
// "rolled_back" and the error matches ErrCheckFailed. Every attempt is
// recorded in the log (Deployments) and the audit trail, with what the
// compensation did; an error also names what it could not undo. Another
// operation in progress on the channel gives ErrConflict.
func (m *Manager) Deploy(ctx context.Context, releaseID string, opts *DeployOptions) (*Deployment, error) {
	var o DeployOptions
	if opts != nil {
		o = *opts
	}
	task, err := audited.Start(ctx, m.cfg.Authorizer, m.cfg.Auditor, steward.ActionReleaseDeploy, "")
	if err != nil {
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
	run := m.newOp(ctx, task, "deploy", rel, st)
	if err := run.step("pre-checks", func() (string, error) { return m.deployChecks(ctx, rel, st, o) }); err != nil {
		return m.done(ctx, run, err, "")
	}
	owner, err := m.begin(ctx, run, rel)
	if err != nil {
		return m.done(ctx, run, err, "")
	}
	if err := m.safetyBackup(ctx, run, rel, o.SkipSafetyBackup); err != nil {
		return m.done(ctx, run, err, owner)
	}
	applied, err := m.forward(ctx, run, rel, o.SkipMigrations)
	if err != nil {
		return m.done(ctx, run, undone(err, m.undo(ctx, run, backwardFor(rel, applied), true, "")), owner)
	}
	err = run.step("deploy files", func() (string, error) {
		if m.cfg.Deployer == nil {
			return "no deployer configured", nil
		}
		return "", m.cfg.Deployer.Deploy(ctx, rel)
	})
	if err != nil {
		return m.done(ctx, run, undone(err, m.undo(ctx, run, backwardFor(rel, applied), true, run.d.FromReleaseID)), owner)
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
	if err != nil {
		return m.rolledBack(ctx, run, rel, applied, err, owner)
	}
	run.d.Status = StatusSucceeded
	run.finish()
	_, aerr := m.append(ctx, record{Type: recDeployed, Channel: rel.Channel, ReleaseID: rel.ID, Version: rel.Version, Owner: owner,
		At: m.clock.Now().UTC(), By: run.d.By, Deployment: run.d})
	task.Finish(ctx, aerr, audit.TypeReleaseDeployed, fmt.Sprintf("release %s deployed to %s", rel.ID, rel.Channel),
		map[string]any{audit.DataReleaseID: rel.ID, audit.DataVersion: rel.Version, audit.DataDurationMS: run.d.Duration.Milliseconds()})
	return run.d, aerr
}

// deployChecks are Deploy's pre-checks; they change nothing.
func (m *Manager) deployChecks(ctx context.Context, rel *Release, st *state, o DeployOptions) (string, error) {
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
	if err := m.needMigrator([]*Release{rel}, o.SkipMigrations, "deploy"); err != nil {
		return "", err
	}
	if err := m.VerifyArtifact(ctx, rel); err != nil {
		return "", err
	}
	for i, c := range m.cfg.PreChecks {
		if err := c(ctx, rel); err != nil {
			return "", fmt.Errorf("%w: pre-check %d: %v", ErrCheckFailed, i+1, err)
		}
	}
	return "migrations paired, version newer, migrator configured, artifact hash verified", nil
}

// needMigrator refuses migrations of rels with no Migrator to run them,
// unless skip.
func (m *Manager) needMigrator(rels []*Release, skip bool, what string) error {
	if skip || m.cfg.Migrator != nil {
		return nil
	}
	for _, r := range rels {
		if len(r.Forward) > 0 {
			return fmt.Errorf("%w: %s has %d migrations and no Migrator is configured; nothing was changed: configure Config.Migrator, or set SkipMigrations to %s without running them (dangerous: the database is left as it is)",
				ErrNoMigrator, r.ID, len(r.Forward), what)
		}
	}
	return nil
}

// forward runs rel's forward migrations, unless skip, and returns those
// that applied.
func (m *Manager) forward(ctx context.Context, run *op, rel *Release, skip bool) ([]Migration, error) {
	if skip && len(rel.Forward) > 0 {
		run.skip("forward migrations", fmt.Sprintf("skipped by option: %d migrations of %s not run; the database was not migrated", len(rel.Forward), rel.ID))
		return nil, nil
	}
	var applied []Migration
	err := run.step("forward migrations", func() (string, error) {
		var err error
		applied, err = m.migrate(ctx, rel.Forward, false)
		return fmt.Sprintf("%d applied", len(applied)), err
	})
	return applied, err
}

// rolledBack ends a deploy whose post-check failed (checkErr): its
// migrations are reverted and the previous release's files deployed again.
func (m *Manager) rolledBack(ctx context.Context, run *op, rel *Release, applied []Migration, checkErr error, owner string) (*Deployment, error) {
	err := undone(checkErr, m.undo(ctx, run, backwardFor(rel, applied), true, run.d.FromReleaseID))
	run.d.Status, run.d.Reason = StatusRolledBack, "post-check failed; rolled back automatically: "+err.Error()
	if err != checkErr {
		run.d.Status, run.d.Reason = StatusFailed, "post-check failed; the automatic rollback did not complete: "+err.Error()
	}
	run.finish()
	// The release counts as deployed-then-rolled-back in the log.
	if _, aerr := m.append(ctx, record{Type: recFailed, Channel: rel.Channel, ReleaseID: rel.ID, Version: rel.Version, Owner: owner,
		At: m.clock.Now().UTC(), By: run.d.By, Deployment: run.d}); aerr != nil {
		return run.d, errors.Join(err, aerr)
	}
	run.task.Finish(ctx, err, audit.TypeReleaseDeployFail, fmt.Sprintf("release %s rolled back automatically", rel.ID),
		map[string]any{audit.DataReleaseID: rel.ID, audit.DataVersion: rel.Version, audit.DataDurationMS: run.d.Duration.Milliseconds()})
	return run.d, err
}

// done records a failed deploy or rollback (releasing the pending record
// when one was taken) and returns err.
func (m *Manager) done(ctx context.Context, run *op, err error, owner string) (*Deployment, error) {
	run.d.Status, run.d.Reason = StatusFailed, err.Error()
	run.finish()
	if errors.Is(err, ErrConflict) {
		run.task.Finish(ctx, err, audit.TypeReleaseDeployFail, fmt.Sprintf("%s of %s refused", run.d.Kind, run.d.ReleaseID), map[string]any{audit.DataReleaseID: run.d.ReleaseID})
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
	run.task.Finish(ctx, err, typ, fmt.Sprintf("%s of %s failed", run.d.Kind, run.d.ReleaseID), map[string]any{audit.DataReleaseID: run.d.ReleaseID})
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

// undo compensates a deploy or rollback that failed after a change: migs
// run (backward after a deploy, forward again after a rollback, in the
// order given), then the files of release redeploy, when named, are
// deployed again. It goes on when ctx has ended, records each step in the
// Deployment and returns what it could not undo.
func (m *Manager) undo(ctx context.Context, run *op, migs []Migration, back bool, redeploy string) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	if len(migs) > 0 {
		name, verb := "backward migrations", "reverted"
		if !back {
			name, verb = "re-apply forward migrations", "re-applied"
		}
		errs = append(errs, run.step(name, func() (string, error) {
			done, err := m.migrate(ctx, migs, back)
			return fmt.Sprintf("%d %s", len(done), verb), err
		}))
	}
	if redeploy != "" && m.cfg.Deployer != nil {
		errs = append(errs, run.step("redeploy previous files", func() (string, error) {
			p, err := m.get(ctx, redeploy)
			if err != nil {
				return "", err
			}
			return redeploy, m.cfg.Deployer.Deploy(ctx, p)
		}))
	}
	return errors.Join(errs...)
}

// undone joins to err, the failure of an operation, what its compensation
// could not undo (uerr), if anything.
func undone(err, uerr error) error {
	if uerr == nil {
		return err
	}
	return errors.Join(err, errs.Errorf("release", "could not undo the changes; the channel needs attention: %w", uerr))
}

// migrate runs ms one at a time, forward (Apply) or backward (Revert when
// the Migrator is a Reverter, Apply otherwise), and returns those that
// ran. A failure is a *MigrationError naming the migration.
func (m *Manager) migrate(ctx context.Context, ms []Migration, back bool) ([]Migration, error) {
	var done []Migration
	for _, mig := range ms {
		var err error
		if rv, ok := m.cfg.Migrator.(Reverter); ok && back {
			err = rv.Revert(ctx, []Migration{mig})
		} else {
			err = m.cfg.Migrator.Apply(ctx, []Migration{mig})
		}
		if err != nil {
			var me *MigrationError
			if !errors.As(err, &me) {
				err = &MigrationError{ID: mig.ID, Err: err}
			}
			return done, err
		}
		done = append(done, mig)
	}
	return done, nil
}

// backwardFor returns the backward twins of applied, newest first.
func backwardFor(rel *Release, applied []Migration) []Migration {
	var out []Migration
	for i := len(applied) - 1; i >= 0; i-- {
		out = append(out, twins(applied[i:i+1], rel.Backward)...)
	}
	return out
}

// twins returns, for each migration of ms in order, the one of from with
// its ID.
func twins(ms, from []Migration) []Migration {
	var out []Migration
	for _, m := range ms {
		for _, f := range from {
			if f.ID == m.ID {
				out = append(out, f)
			}
		}
	}
	return out
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
//
// Before anything changes it checks that it has all it needs: the
// target's artifact present (ErrArtifactMissing, naming the snapshot) and
// intact (ErrArtifactTampered), the backward migrations of every release
// above it, and a Migrator when they have migrations (ErrNoMigrator,
// unless SkipMigrations). A failure after a change is compensated: the
// forward migrations it reverted are applied again and the files of the
// release that was active deployed again; the attempt is recorded in the
// log and the audit trail, and the error names what could not be undone.
func (m *Manager) Rollback(ctx context.Context, targetReleaseID string, opts *RollbackOptions) (dep *Deployment, err error) {
	var o RollbackOptions
	if opts != nil {
		o = *opts
	}
	task, err := audited.Start(ctx, m.cfg.Authorizer, m.cfg.Auditor, steward.ActionReleaseRollback, "")
	if err != nil {
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
	run := m.newOp(ctx, task, "rollback", target, st)
	var above []*Release
	if err := run.step("pre-checks", func() (string, error) {
		var err error
		above, err = m.rollbackChecks(ctx, target, st, o)
		return fmt.Sprintf("backward migrations of %d releases available, artifact of %s verified", len(above), target.ID), err
	}); err != nil {
		return m.done(ctx, run, err, "")
	}
	owner, err := m.begin(ctx, run, target)
	if err != nil {
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
	reverted, err := m.backward(ctx, run, above, o.SkipMigrations)
	if err != nil {
		return m.done(ctx, run, undone(err, m.undo(ctx, run, reapply(reverted), false, "")), owner)
	}
	if err := run.step("deploy target files", func() (string, error) {
		if m.cfg.Deployer == nil {
			return "no deployer configured", nil
		}
		return target.ID, m.cfg.Deployer.Deploy(ctx, target)
	}); err != nil {
		return m.done(ctx, run, undone(err, m.undo(ctx, run, reapply(reverted), false, run.d.FromReleaseID)), owner)
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
	task.Finish(ctx, err, audit.TypeReleaseRolledBack, fmt.Sprintf("%s rolled back to %s", target.Channel, target.ID),
		map[string]any{audit.DataReleaseID: target.ID, audit.DataVersion: target.Version, audit.DataDurationMS: run.d.Duration.Milliseconds(), "within_slo": run.d.WithinSLO})
	return run.d, err
}

// rollbackChecks are Rollback's pre-checks; they change nothing. They
// return the releases above target, newest first.
func (m *Manager) rollbackChecks(ctx context.Context, target *Release, st *state, o RollbackOptions) ([]*Release, error) {
	applied := st.applied[target.Channel]
	idx := slices.Index(applied, target.ID)
	switch {
	case st.active[target.Channel] == target.ID:
		return nil, fmt.Errorf("%w: %s is already active", ErrInvalidTarget, target.ID)
	case idx < 0:
		return nil, fmt.Errorf("%w: %s was never deployed to %s, or was rolled back past", ErrInvalidTarget, target.ID, target.Channel)
	}
	var above []*Release
	for i := len(applied) - 1; i > idx; i-- {
		rel, err := m.get(ctx, applied[i])
		if err != nil {
			return nil, errs.Errorf("release", "rollback over %s: %w", applied[i], err)
		}
		if err := validateMigrations(rel.Forward, rel.Backward); err != nil {
			return nil, errs.Errorf("release", "rollback over %s: %w", rel.ID, err)
		}
		above = append(above, rel)
	}
	if err := m.needMigrator(above, o.SkipMigrations, "roll back"); err != nil {
		return nil, err
	}
	if err := m.VerifyArtifact(ctx, target); err != nil {
		return nil, err
	}
	return above, nil
}

// backward reverts the migrations of the releases above (newest first),
// unless skip. It returns the forward twins of those it reverted, in the
// order it reverted them.
func (m *Manager) backward(ctx context.Context, run *op, above []*Release, skip bool) ([]Migration, error) {
	var ids []string
	n := 0
	for _, rel := range above {
		ids, n = append(ids, rel.ID), n+len(rel.Forward)
	}
	if n == 0 {
		return nil, nil
	}
	if skip {
		run.skip("backward migrations", fmt.Sprintf("skipped by option: %d migrations of %v not reverted; the database was not migrated back", n, ids))
		return nil, nil
	}
	var reverted []Migration
	err := run.step("backward migrations", func() (string, error) {
		for _, rel := range above {
			done, err := m.migrate(ctx, backwardFor(rel, rel.Forward), true)
			reverted = append(reverted, twins(done, rel.Forward)...)
			if err != nil {
				return "", err
			}
		}
		return fmt.Sprintf("%d reverted (%v)", len(reverted), ids), nil
	})
	return reverted, err
}

// reapply returns the forward migrations a failed rollback reverted, in
// the order to apply them again (oldest first).
func reapply(reverted []Migration) []Migration {
	out := slices.Clone(reverted)
	slices.Reverse(out)
	return out
}

// Recover clears a channel's pending operation whose process died (its
// lease expired), recording it aborted; a live one gives ErrConflict. It
// does not undo what the dead operation may have applied: check the
// Deployment steps it recorded and roll back or redeploy as needed.
func (m *Manager) Recover(ctx context.Context, channel string) (bool, error) {
	if _, err := audited.Start(ctx, m.cfg.Authorizer, m.cfg.Auditor, steward.ActionReleaseDeploy, ""); err != nil {
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

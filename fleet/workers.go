package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/retention"
)

// BackupResult is a backup job's recorded output (river_job metadata
// "output").
type BackupResult struct {
	SnapshotID string      `json:"snapshot_id"`
	Type       backup.Type `json:"type"`
	// Partial: the snapshot committed without some files (backup.ErrPartial).
	Partial bool `json:"partial,omitempty"`
	// Repeated: the slot's snapshot already existed (an earlier attempt
	// committed it), so none was taken.
	Repeated bool `json:"repeated,omitempty"`
}

type backupWorker struct {
	river.WorkerDefaults[BackupArgs]
	m *Member
}

// Work backs the tenant up unless its catalog already holds the slot's
// snapshot, records the result and enqueues the slot's retention run
// with the backup job's retry budget (the tenant's policy's).
func (w *backupWorker) Work(ctx context.Context, job *river.Job[BackupArgs]) error {
	ctx = w.m.jobCtx(ctx)
	a := job.Args
	res, err := w.m.backupSlot(ctx, a.Tenant, a.Slot)
	if err != nil {
		return err
	}
	if err := river.RecordOutput(ctx, res); err != nil {
		return err
	}
	if _, err := river.ClientFromContext[pgxTx](ctx).Insert(ctx, RetentionArgs(a), &river.InsertOpts{MaxAttempts: job.MaxAttempts}); err != nil {
		return fmt.Errorf("fleet: enqueue retention of %q after slot %s: %w", a.Tenant, a.Slot.Format(time.RFC3339), err)
	}
	return nil
}

func (m *Member) backupSlot(ctx context.Context, t string, slot time.Time) (*BackupResult, error) {
	cat, err := m.cfg.Engine.Catalog(ctx, t)
	if err != nil && !errors.Is(err, backup.ErrNotFound) {
		return nil, err
	}
	tag := SlotTag(slot)
	for _, s := range cat {
		if slices.Contains(s.Tags, tag) {
			return &BackupResult{SnapshotID: s.ID, Type: s.Type, Repeated: true}, nil
		}
	}
	p, err := m.cfg.Policies.Get(ctx, t)
	if err != nil {
		return nil, err
	}
	// Authorized before the source is opened, as the Engine authorizes
	// before any I/O: a denial is audited (access.denied) and returned.
	task, err := op.Start(ctx, m.cfg.Authorizer, m.cfg.Auditor, steward.ActionBackupCreate, t)
	if err != nil {
		return nil, err
	}
	src, err := m.cfg.Source(ctx, t)
	if err != nil {
		err = fmt.Errorf("fleet: source of %q: %w", t, err)
		task.Finish(ctx, err, audit.TypeBackupFailed, fmt.Sprintf("scheduled backup of %q (slot %s) not run", t, slot.Format(time.RFC3339)),
			map[string]any{"slot": slot.Format(time.RFC3339)})
		return nil, err
	}
	o := m.cfg.Options
	o.Type = backupType(cat, p, m.cfg.Clock.Now())
	o.Tags = append(slices.Clone(o.Tags), "scheduled", tag)
	snap, err := m.cfg.Engine.Backup(ctx, t, src, &o)
	partial := errors.Is(err, backup.ErrPartial)
	if err != nil && !partial {
		return nil, err
	}
	return &BackupResult{SnapshotID: snap.ID, Type: snap.Type, Partial: partial}, nil
}

// backupType is full when the tenant has no full snapshot younger than
// its policy's FullEvery (7 days when unset), incremental otherwise.
func backupType(cat []backup.Snapshot, p retention.Policy, now time.Time) backup.Type {
	every := time.Duration(p.FullEvery)
	if every == 0 {
		every = 7 * 24 * time.Hour
	}
	for _, s := range cat {
		if s.Type == backup.Full && now.Sub(s.Timestamp) < every {
			return backup.Incremental
		}
	}
	return backup.Full
}

type retentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	m *Member
}

// Work applies the tenant's policy (forget + prune). A policy that keeps
// nothing or does not validate cancels the job: retrying cannot help.
func (w *retentionWorker) Work(ctx context.Context, job *river.Job[RetentionArgs]) error {
	ctx = w.m.jobCtx(ctx)
	t := job.Args.Tenant
	p, err := w.m.cfg.Policies.Get(ctx, t)
	if err != nil {
		return err
	}
	rep, err := retention.Apply(ctx, w.m.cfg.Engine, t, p, false,
		&retention.Config{Clock: w.m.cfg.Clock, Auditor: w.m.cfg.Auditor, Authorizer: w.m.cfg.Authorizer})
	if errors.Is(err, retention.ErrEmptyPolicy) || errors.Is(err, retention.ErrInvalidPolicy) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	return river.RecordOutput(ctx, map[string]any{"kept": len(rep.Decisions) - len(rep.Forgotten), "forgotten": len(rep.Forgotten)})
}

type drillWorker struct {
	river.WorkerDefaults[DrillArgs]
	m *Member
}

// Work waits (snoozing) while the backup of the drill's slot is enqueued
// and unfinished, then drills the tenant's newest snapshot and records
// it as a retention.Scheduler would (Policies.RecordDrill: the stored drill
// status, its audit event, an alert on entering a breach). A drill that
// ran and failed cancels the job (a retry would restore the same
// snapshot); a drill that could not run, or found no snapshot yet, is
// retried.
func (w *drillWorker) Work(ctx context.Context, job *river.Job[DrillArgs]) error {
	ctx = w.m.jobCtx(ctx)
	t := job.Args.Tenant
	waiting, err := w.m.backupPending(ctx, BackupArgs(job.Args))
	if err != nil {
		return err
	}
	if waiting {
		return river.JobSnooze(drillWait)
	}
	vs, err := w.m.cfg.Restorer.Drill(ctx, []string{t})
	if err != nil {
		return err
	}
	if len(vs) != 1 {
		return fmt.Errorf("fleet: drill of %q returned %d validations, want 1", t, len(vs))
	}
	v := vs[0]
	if v.SnapshotID == "" {
		// No snapshot yet: the slot's first backup may still be running.
		// Retried with backoff; discarded with this error once the budget
		// is spent.
		return fmt.Errorf("fleet: drill of %q: %s", t, v.Report)
	}
	alerts, err := w.m.recordDrill(ctx, v)
	if err != nil {
		return err
	}
	if err := river.RecordOutput(ctx, DrillResult{Validation: v, Alerts: alerts}); err != nil {
		return err
	}
	if v.Status != restore.StatusPassed {
		return river.JobCancel(fmt.Errorf("fleet: drill of %q %s: %s", t, v.Status, v.Report))
	}
	return nil
}

// drillWait is how long a drill snoozes while its slot's backup runs.
const drillWait = time.Second

// backupPending reports whether the backup job a names is enqueued and
// not finished: a drill of the same slot waits for it (snoozing, which
// spends no attempt), so that it drills the slot's snapshot. A backup
// that failed for good does not hold the drill back.
func (m *Member) backupPending(ctx context.Context, a BackupArgs) (bool, error) {
	args, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	var pending bool
	err = m.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+m.table("river_job")+`
		WHERE kind = $1 AND args @> $2::jsonb AND finalized_at IS NULL)`, KindBackup, string(args)).Scan(&pending)
	if err != nil {
		return false, fmt.Errorf("fleet: drill of %q: look for the slot's backup: %w", a.Tenant, err)
	}
	return pending, nil
}

// DrillResult is a drill job's recorded output (river_job metadata
// "output").
type DrillResult struct {
	Validation *restore.Validation `json:"validation"`
	// Alerts are the drill breaches this drill entered (a failure, a TTR
	// over the policy's SLO), as retention.Policies.RecordDrill returned them.
	Alerts []retention.DrillAlert `json:"alerts,omitempty"`
}

// recordDrill stores and audits v under the tenant's policy.
func (m *Member) recordDrill(ctx context.Context, v *restore.Validation) ([]retention.DrillAlert, error) {
	p, err := m.cfg.Policies.Get(ctx, v.Tenant)
	if err != nil {
		return nil, err
	}
	alerts, err := m.cfg.Policies.RecordDrill(ctx, v, p, m.cfg.Clock.Now())
	if err != nil {
		return nil, fmt.Errorf("fleet: record the drill of %q: %w", v.Tenant, err)
	}
	for _, a := range alerts {
		if m.cfg.DrillAlert == nil {
			break
		}
		m.cfg.DrillAlert(ctx, a)
	}
	return alerts, nil
}

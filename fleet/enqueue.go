package fleet

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/iluxsys/steward/retention"
)

// LatestSlot returns the newest time of spec's cron schedule that is not
// after now and is after now-catchUp, or the zero time when there is none
// (or spec is empty). It is the slot a run at now belongs to.
func LatestSlot(spec string, now time.Time, catchUp time.Duration) (time.Time, error) {
	if spec == "" {
		return time.Time{}, nil
	}
	s, err := retention.ParseSchedule(spec)
	if err != nil {
		return time.Time{}, err
	}
	var slot time.Time
	for t := s.Next(now.Add(-catchUp)); !t.IsZero() && !t.After(now); t = s.Next(t) {
		slot = t
	}
	if slot.IsZero() {
		return slot, nil
	}
	return slot.UTC(), nil
}

// EnqueueReport says what one EnqueueDue did.
type EnqueueReport struct {
	// Inserted counts the new jobs, Duplicates the due slots already
	// enqueued (by this or another member, in any state).
	Inserted, Duplicates int
	// Errors holds, per tenant, why its slots were not enqueued (an
	// unreadable policy or schedule).
	Errors map[string]error
}

// EnqueueDue enqueues, for every tenant, the newest due slot of its backup
// schedule and, when the member has a Restorer, of its drill schedule
// (see LatestSlot and Config.CatchUp). Each job is unique per (kind,
// tenant, slot), so calling it from every member, or again, enqueues
// nothing twice. The leader calls it every Config.EnqueueInterval; tests
// and hosts may call it themselves. A tenant whose policy cannot be read
// is in the report's Errors and the others are enqueued; the error is for
// a listing or an insert that failed.
func (m *Member) EnqueueDue(ctx context.Context) (*EnqueueReport, error) {
	ctx = m.jobCtx(ctx)
	now := m.cfg.Clock.Now()
	tenants, err := m.cfg.Tenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("fleet: list tenants: %w", err)
	}
	rep := &EnqueueReport{}
	var params []river.InsertManyParams
	for _, t := range tenants {
		jobs, err := m.dueJobs(ctx, t, now)
		if err != nil {
			if rep.Errors == nil {
				rep.Errors = map[string]error{}
			}
			rep.Errors[t] = err
			continue
		}
		params = append(params, jobs...)
	}
	if len(params) == 0 {
		return rep, nil
	}
	res, err := m.client.InsertMany(ctx, params)
	if err != nil {
		return rep, fmt.Errorf("fleet: enqueue %d jobs: %w", len(params), err)
	}
	for _, r := range res {
		if r.UniqueSkippedAsDuplicate {
			rep.Duplicates++
		} else {
			rep.Inserted++
		}
	}
	return rep, nil
}

// dueJobs returns tenant t's due slots as jobs.
func (m *Member) dueJobs(ctx context.Context, t string, now time.Time) ([]river.InsertManyParams, error) {
	p, err := m.cfg.Policies.Get(ctx, t)
	if err != nil {
		return nil, err
	}
	var out []river.InsertManyParams
	opts := budget(p)
	slot, err := LatestSlot(p.Schedule, now, m.cfg.CatchUp)
	if err != nil {
		return nil, err
	}
	if !slot.IsZero() {
		out = append(out, river.InsertManyParams{Args: BackupArgs{Tenant: t, Slot: slot}, InsertOpts: opts})
	}
	if m.cfg.Restorer == nil {
		return out, nil
	}
	slot, err = LatestSlot(p.DrillSchedule, now, m.cfg.CatchUp)
	if err != nil {
		return nil, err
	}
	if !slot.IsZero() {
		out = append(out, river.InsertManyParams{Args: DrillArgs{Tenant: t, Slot: slot}, InsertOpts: opts})
	}
	return out, nil
}

// budget gives a job of p's tenant p's retry budget (0: the member's
// Config.MaxAttempts). River keeps it in the job's row (max_attempts).
func budget(p retention.Policy) *river.InsertOpts {
	return &river.InsertOpts{MaxAttempts: p.MaxAttempts}
}

// enqueueWorker runs EnqueueDue for the leader's periodic job.
type enqueueWorker struct {
	river.WorkerDefaults[EnqueueArgs]
	m *Member
}

func (w *enqueueWorker) Work(ctx context.Context, _ *river.Job[EnqueueArgs]) error {
	rep, err := w.m.EnqueueDue(ctx)
	if err != nil {
		return err
	}
	return river.RecordOutput(ctx, enqueueOutput(rep))
}

func enqueueOutput(rep *EnqueueReport) map[string]any {
	return map[string]any{"inserted": rep.Inserted, "duplicates": rep.Duplicates, "errors": errorStrings(rep.Errors)}
}

// errorStrings is a report's errors per tenant as their messages, for a
// job's recorded output.
func errorStrings(errs map[string]error) map[string]string {
	out := map[string]string{}
	for t, err := range errs {
		out[t] = err.Error()
	}
	return out
}

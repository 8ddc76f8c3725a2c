package retention

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/restore"
)

// drillState is what the Scheduler knows of one tenant's drills: the
// stored status and the breaches it has alerted.
type drillState struct {
	status                DrillStatus
	failed, slow, overdue bool
}

// runDrills runs the due drills of tenants, one after the other (each
// streams with the memory of one restore), then checks every drilled
// tenant for an overdue drill. It returns ctx's error when ctx ended.
func (s *Scheduler) runDrills(ctx context.Context, tenants []string, policies map[string]Policy, now time.Time, rep *RunReport) error {
	var scheduled []string
	for _, t := range tenants {
		if policies[t].DrillSchedule == "" {
			continue
		}
		if err := s.loadDrill(ctx, t); err != nil {
			rep.drillFail(t, err)
			continue
		}
		scheduled = append(scheduled, t)
		if !s.drillDue(t, policies[t], now) {
			continue
		}
		if s.cfg.Restorer == nil {
			rep.DrillsNotRun = append(rep.DrillsNotRun, t)
			continue
		}
		if err := s.runDrill(ctx, t, policies[t], now, rep); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.drillFail(t, err)
		}
	}
	for _, t := range scheduled {
		s.checkOverdue(ctx, t, policies[t], now, rep)
	}
	return nil
}

// loadDrill reads a tenant's stored drill status on first sight. The
// breaches a stored status shows were alerted by the Scheduler that
// stored it, so they are not alerted again.
func (s *Scheduler) loadDrill(ctx context.Context, t string) error {
	s.mu.Lock()
	_, known := s.drills[t]
	s.mu.Unlock()
	if known {
		return nil
	}
	st := &drillState{status: DrillStatus{Tenant: t}}
	d, err := s.cfg.Policies.drillStatus(ctx, t)
	switch {
	case err == nil:
		st.status = *d
		st.failed = d.LastStatus == restore.StatusFailed
		st.slow = d.LastStatus == restore.StatusPassed && d.OverSLO()
	case !errors.Is(err, ErrNoDrill):
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drills[t] = st
	return nil
}

// drillDue reports whether t's drill schedule had a slot since the last
// one handled, and marks it handled.
func (s *Scheduler) drillDue(t string, p Policy, now time.Time) bool {
	sched, err := ParseSchedule(p.DrillSchedule)
	if err != nil {
		return false // policies are validated when read
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	last, ok := s.drillSlot[t]
	if !ok {
		last = s.started
	}
	if sched.Next(last).After(now) {
		return false
	}
	s.drillSlot[t] = now
	return true
}

// runDrill validates t's newest snapshot, records the outcome (audit
// event, stored status) and alerts a failure or a TTR over the SLO when
// the tenant enters that breach. Its error is for a drill that could not
// run (forbidden, ctx ended), not for one that failed.
func (s *Scheduler) runDrill(ctx context.Context, t string, p Policy, now time.Time, rep *RunReport) error {
	vs, err := s.cfg.Restorer.Drill(ctx, []string{t})
	if err != nil {
		return err
	}
	if len(vs) != 1 {
		return fmt.Errorf("drill of %q returned %d validations, want 1", t, len(vs))
	}
	v := vs[0]
	s.mu.Lock()
	st := s.drills[t]
	st.status = st.status.next(v, p, now)
	status := st.status
	s.mu.Unlock()
	rep.Drills++
	recordDrill(ctx, s.cfg.Auditor, &status)
	if err := s.cfg.Policies.putDrillStatus(ctx, &status); err != nil {
		rep.drillFail(t, err)
	}
	a := DrillAlert{Tenant: t, Status: status.LastStatus, TTR: time.Duration(status.TTR), SLO: time.Duration(status.SLO),
		LastSuccess: status.LastSuccess, Report: status.Report}
	passed := status.LastStatus == restore.StatusPassed
	if !passed {
		rep.DrillsFailed++
	}
	s.breach(ctx, rep, &st.failed, !passed, a, audit.DrillConditionFailed)
	if passed {
		s.breach(ctx, rep, &st.slow, status.OverSLO(), a, audit.DrillConditionSlow)
	}
	return nil
}

// recordDrill audits one drill's outcome on aud: TypeDrillPassed, or
// TypeDrillFailed at LevelWarning (the alert, if any, is the error).
func recordDrill(ctx context.Context, aud audit.Auditor, d *DrillStatus) {
	typ, level := audit.TypeDrillPassed, audit.LevelInfo
	if d.LastStatus != restore.StatusPassed {
		typ, level = audit.TypeDrillFailed, audit.LevelWarning
	}
	data := map[string]any{"status": d.LastStatus, audit.DataTTRMS: time.Duration(d.TTR).Milliseconds(), "report": d.Report}
	if d.SnapshotID != "" {
		data[audit.DataSnapshotID] = d.SnapshotID
	}
	if d.SLO > 0 {
		data[audit.DataSLOMS] = time.Duration(d.SLO).Milliseconds()
	}
	_ = aud.Record(context.WithoutCancel(ctx), audit.Event{Type: typ, Level: level, Tenant: d.Tenant,
		UserID: steward.PrincipalID(ctx), Data: data,
		Message: fmt.Sprintf("scheduled DR drill of %q %s in %s", d.Tenant, d.LastStatus, time.Duration(d.TTR).Round(time.Millisecond))})
}

// DataLastSuccess is the key of an overdue drill.alert event's Data
// holding the tenant's last successful drill (RFC 3339, "" when none),
// which with the tenant names the breach (see DrillOverdue).
const DataLastSuccess = "last_success"

// RecordDrillAlert audits a as a TypeDrillAlert at LevelError, the event
// a Scheduler records when a tenant enters a drill breach, for hosts
// that find breaches themselves (fleet). An overdue alert's Data also
// holds its last success (DataLastSuccess) and deadline.
func RecordDrillAlert(ctx context.Context, aud audit.Auditor, a DrillAlert) error {
	data := map[string]any{audit.DataCondition: a.Condition, "status": a.Status, audit.DataTTRMS: a.TTR.Milliseconds()}
	if a.SLO > 0 {
		data[audit.DataSLOMS] = a.SLO.Milliseconds()
	}
	if a.Condition == audit.DrillConditionOverdue {
		data[DataLastSuccess] = eventTime(a.LastSuccess)
		data["deadline"] = eventTime(a.Deadline)
	}
	return aud.Record(context.WithoutCancel(ctx), audit.Event{Type: audit.TypeDrillAlert, Level: audit.LevelError,
		Tenant: a.Tenant, Message: a.message(), Data: data})
}

// checkOverdue alerts when t is overdue (DrillOverdue), counting from
// the Scheduler's start when no drill of t succeeded.
func (s *Scheduler) checkOverdue(ctx context.Context, t string, p Policy, now time.Time, rep *RunReport) {
	s.mu.Lock()
	st := s.drills[t]
	status := st.status
	s.mu.Unlock()
	a, in := DrillOverdue(t, p, &status, s.started, now)
	s.breach(ctx, rep, &st.overdue, in, a, audit.DrillConditionOverdue)
}

// DrillOverdue returns tenant's overdue alert under p at now, and whether
// the tenant is overdue: its last successful drill (d's; d may be nil when
// none was recorded) or, when none succeeded, since (when the host began
// watching it) is past DrillDeadline. It is false when p schedules no
// drills or its schedule does not parse.
func DrillOverdue(tenant string, p Policy, d *DrillStatus, since, now time.Time) (DrillAlert, bool) {
	a := DrillAlert{Tenant: tenant, Condition: audit.DrillConditionOverdue}
	ref := since
	if d != nil {
		a.Status, a.LastSuccess, a.Report = d.LastStatus, d.LastSuccess, d.Report
		if !d.LastSuccess.IsZero() {
			ref = d.LastSuccess
		}
	}
	deadline, err := DrillDeadline(p, ref)
	if err != nil || deadline.IsZero() {
		return a, false
	}
	a.Deadline = deadline
	return a, now.After(deadline)
}

// breach sets *flag to in and, when that enters the breach, records a
// TypeDrillAlert at LevelError, calls the DrillAlert hook and adds a to
// rep.
func (s *Scheduler) breach(ctx context.Context, rep *RunReport, flag *bool, in bool, a DrillAlert, condition string) {
	s.mu.Lock()
	was := *flag
	*flag = in
	s.mu.Unlock()
	if !in || was {
		return
	}
	a.Condition = condition
	rep.DrillAlerts = append(rep.DrillAlerts, a)
	_ = RecordDrillAlert(ctx, s.cfg.Auditor, a) // a failure is the Auditor's to report
	if s.cfg.DrillAlert != nil {
		s.cfg.DrillAlert(ctx, a)
	}
}

package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
)

// ErrNoDrill: no scheduled drill of the tenant has been recorded yet.
var ErrNoDrill = errors.New("retention: no drill recorded")

// DrillStatus is what the Scheduler remembers of a tenant's scheduled
// drills, stored beside its policy ("<prefix>drills/<tenant>.json") after
// each drill, so that a restarted Scheduler and a health check read the
// same state. It is a status, not an authority: a store writer can edit
// it (the audit log's drill events are the authenticated record).
type DrillStatus struct {
	Tenant string `json:"tenant"`
	// LastRun is when the newest drill ran (the Scheduler's clock).
	LastRun time.Time `json:"last_run"`
	// LastStatus is the newest drill's status: restore.StatusPassed or
	// restore.StatusFailed.
	LastStatus string `json:"last_status"`
	// LastSuccess is when the newest drill that passed ran; zero if none.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// SnapshotID is the snapshot the newest drill restored ("" when the
	// tenant had none).
	SnapshotID string `json:"snapshot_id,omitempty"`
	// TTR is the newest drill's time to restore; SLO the policy's
	// objective then (0: none).
	TTR Duration `json:"ttr"`
	SLO Duration `json:"slo,omitempty"`
	// Report is the newest drill's validation report.
	Report string `json:"report,omitempty"`
	// Passed and Failed count the drills recorded.
	Passed int `json:"passed"`
	Failed int `json:"failed"`
}

// OverSLO reports whether the newest drill took longer than its SLO.
func (d *DrillStatus) OverSLO() bool { return d.SLO > 0 && d.TTR > d.SLO }

// SuccessRate is Passed / (Passed + Failed), 1 when nothing was recorded.
func (d *DrillStatus) SuccessRate() float64 {
	if d.Passed+d.Failed == 0 {
		return 1
	}
	return float64(d.Passed) / float64(d.Passed+d.Failed)
}

// DrillDeadline returns when a tenant whose last successful drill ran at
// last is overdue under p: the second slot of p's DrillSchedule after
// last. One slot's drill may fail or be missed (a failed drill alerts on
// its own); when the slot after it passes without a success too, the
// tenant is overdue. The zero time means p schedules no drills.
func DrillDeadline(p Policy, last time.Time) (time.Time, error) {
	if p.DrillSchedule == "" {
		return time.Time{}, nil
	}
	s, err := ParseSchedule(p.DrillSchedule)
	if err != nil {
		return time.Time{}, err
	}
	return s.Next(s.Next(last)), nil
}

func (ps *Policies) drillKey(tenant string) string {
	return ps.cfg.Prefix + "drills/" + tenant + ".json"
}

// DrillStatus returns tenant's drill status as the Scheduler stored it,
// or an error matching ErrNoDrill when no drill was recorded. It is
// authorized as ActionRetentionRead.
func (ps *Policies) DrillStatus(ctx context.Context, tenant string) (*DrillStatus, error) {
	if err := validScope(tenant); err != nil {
		return nil, err
	}
	if _, err := op.Start(ctx, ps.cfg.Authorizer, ps.cfg.Auditor, steward.ActionRetentionRead, tenant); err != nil {
		return nil, err
	}
	return ps.drillStatus(ctx, tenant)
}

func (ps *Policies) drillStatus(ctx context.Context, tenant string) (*DrillStatus, error) {
	b, err := storage.ReadAllLimit(ctx, ps.store, ps.drillKey(tenant), 1<<20)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errs.Errorf("retention", "drill status of %q: %w", tenant, ErrNoDrill)
	}
	if err != nil {
		return nil, errs.Errorf("retention", "drill status of %q: %w", tenant, err)
	}
	var d DrillStatus
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, errs.Errorf("retention", "drill status of %q does not decode: %w", tenant, err)
	}
	return &d, nil
}

func (ps *Policies) putDrillStatus(ctx context.Context, d *DrillStatus) error {
	b, _ := json.MarshalIndent(d, "", "  ")
	if err := storage.PutBytes(ctx, ps.store, ps.drillKey(d.Tenant), b, nil); err != nil {
		return errs.Errorf("retention", "store drill status of %q: %w", d.Tenant, err)
	}
	return nil
}

// next returns d updated with validation v, run at now under p.
func (d DrillStatus) next(v *restore.Validation, p Policy, now time.Time) DrillStatus {
	d.LastRun, d.LastStatus, d.SnapshotID, d.Report = now, v.Status, v.SnapshotID, v.Report
	d.TTR, d.SLO = Duration(v.Duration), p.DrillTTRSLO
	if v.Status == restore.StatusPassed {
		d.Passed++
		d.LastSuccess = now
	} else {
		d.Failed++
	}
	return d
}

// RecordDrill records v, a drill of its tenant run at under p by
// something other than a Scheduler (a fleet worker, a host's own job), as
// a Scheduler records its own: the tenant's DrillStatus is updated and
// stored, the drill audited (audit.TypeDrillPassed or TypeDrillFailed on
// the Policies' Auditor), and a failed drill or a TTR over p's SLO that
// the previous stored drill was not in is alerted (audit.TypeDrillAlert)
// and returned. Overdue drills are a Scheduler's, a fleet's
// (DrillOverdue) or a health check's to notice. It is authorized as
// ActionRetentionWrite; a Validation without a tenant, or an invalid one,
// is refused before any I/O.
func (ps *Policies) RecordDrill(ctx context.Context, v *restore.Validation, p Policy, at time.Time) ([]DrillAlert, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: no validation to record", ErrInvalidPolicy)
	}
	if err := validScope(v.Tenant); err != nil {
		return nil, err
	}
	if _, err := op.Start(ctx, ps.cfg.Authorizer, ps.cfg.Auditor, steward.ActionRetentionWrite, v.Tenant); err != nil {
		return nil, err
	}
	prev, err := ps.drillStatus(ctx, v.Tenant)
	if errors.Is(err, ErrNoDrill) {
		prev, err = &DrillStatus{Tenant: v.Tenant}, nil
	}
	if err != nil {
		return nil, err
	}
	next := prev.next(v, p, at)
	recordDrill(ctx, ps.cfg.Auditor, &next)
	if err := ps.putDrillStatus(ctx, &next); err != nil {
		return nil, err
	}
	alerts := entered(prev, &next)
	for i := range alerts {
		_ = RecordDrillAlert(ctx, ps.cfg.Auditor, alerts[i]) // a failure is the Auditor's to report
	}
	return alerts, nil
}

// entered returns the breaches next is in and prev was not: a failed
// drill after one that was not, a passed drill over its SLO after one
// that was not.
func entered(prev, next *DrillStatus) []DrillAlert {
	a := DrillAlert{Tenant: next.Tenant, Status: next.LastStatus, TTR: time.Duration(next.TTR), SLO: time.Duration(next.SLO),
		LastSuccess: next.LastSuccess, Report: next.Report}
	failed := func(d *DrillStatus) bool { return d.LastStatus == restore.StatusFailed }
	slow := func(d *DrillStatus) bool { return d.LastStatus == restore.StatusPassed && d.OverSLO() }
	var out []DrillAlert
	if failed(next) && !failed(prev) {
		a.Condition = audit.DrillConditionFailed
		out = append(out, a)
	}
	if slow(next) && !slow(prev) {
		a.Condition = audit.DrillConditionSlow
		out = append(out, a)
	}
	return out
}

// DrillAlert reports a tenant entering a drill breach: its latest drill
// failed, took longer than its SLO, or its last successful drill is older
// than its schedule allows (Condition: audit.DrillConditionFailed,
// DrillConditionSlow or DrillConditionOverdue).
type DrillAlert struct {
	Tenant    string `json:"tenant"`
	Condition string `json:"condition"`
	// Status is the newest drill's status ("" when none ran).
	Status string `json:"status,omitempty"`
	// TTR and SLO are the newest drill's time to restore and objective.
	TTR time.Duration `json:"ttr_ns,omitempty"`
	SLO time.Duration `json:"slo_ns,omitempty"`
	// LastSuccess is the last successful drill (zero: none seen);
	// Deadline when the tenant became overdue (overdue alerts only).
	LastSuccess time.Time `json:"last_success,omitzero"`
	Deadline    time.Time `json:"deadline,omitzero"`
	// Report is the newest drill's validation report.
	Report string `json:"report,omitempty"`
}

// message is the alert's sentence.
func (a *DrillAlert) message() string {
	switch a.Condition {
	case audit.DrillConditionFailed:
		return fmt.Sprintf("DR drill of %q failed: %s", a.Tenant, a.Report)
	case audit.DrillConditionSlow:
		return fmt.Sprintf("DR drill of %q took %s to restore, over its SLO of %s", a.Tenant, a.TTR.Round(time.Second), a.SLO)
	}
	last := "never"
	if !a.LastSuccess.IsZero() {
		last = a.LastSuccess.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("DR drill of %q overdue: last successful drill %s, due by %s", a.Tenant, last, a.Deadline.UTC().Format(time.RFC3339))
}

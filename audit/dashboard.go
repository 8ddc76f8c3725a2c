package audit

import (
	"context"
	"maps"
	"slices"
	"time"
)

// BackupMetrics summarises the backups of tenants (events of
// TypeBackupCreated and TypeBackupFailed; the SDK's internal scopes
// "_general" and "_releases" are left out). An event is a failure when
// Event.Failed says so, whatever its type.
type BackupMetrics struct {
	// TotalCount is the number of backups, successful or not.
	TotalCount int `json:"total_count"`
	// Last24h is the number of backups in the 24 hours before GeneratedAt.
	Last24h int `json:"last_24h"`
	// FailedCount is the number of failed backups.
	FailedCount int `json:"failed_count"`
	// AvgDurationMS is the mean DataDurationMS of successful backups.
	AvgDurationMS float64 `json:"avg_duration_ms"`
	// AvgSizeBytes is the mean DataSizeBytes of successful backups.
	AvgSizeBytes float64 `json:"avg_size_bytes"`
	// LastSuccess is the newest successful backup's time, nil when none.
	LastSuccess *time.Time `json:"last_success"`
	// LastFailure is the newest failed backup's time, nil when none.
	LastFailure *time.Time `json:"last_failure"`
	// SuccessRate is successes / (successes + failures), 1 when there are none.
	SuccessRate float64 `json:"success_rate"`
}

// RestoreMetrics summarises restores (events of TypeRestoreCompleted and
// TypeRestoreFailed; an event is a failure when Event.Failed says so).
type RestoreMetrics struct {
	// TotalCount is the number of restores, successful or not.
	TotalCount int `json:"total_count"`
	// SuccessCount is the number of successful restores.
	SuccessCount int `json:"success_count"`
	// FailedCount is the number of failed restores.
	FailedCount int `json:"failed_count"`
	// AvgTTRMS is the mean DataTTRMS of successful restores.
	AvgTTRMS float64 `json:"avg_ttr_ms"`
	// P95TTRMS is the 95th percentile (nearest rank) of their DataTTRMS.
	P95TTRMS float64 `json:"p95_ttr_ms"`
	// LastRestore is the newest restore's time, successful or not; nil
	// when none.
	LastRestore *time.Time `json:"last_restore"`
	// SuccessRate is successes / (successes + failures), 1 when there are none.
	SuccessRate float64 `json:"success_rate"`
}

// ReleaseMetrics summarises releases (events of TypeReleaseDeployed,
// TypeReleaseRolledBack, TypeReleaseDeployFail and TypeReleaseRollbackErr).
// A failed deployment or rollback (Event.Failed) counts only in FailedCount:
// it leaves ActiveVersion alone.
type ReleaseMetrics struct {
	// TotalCount is the number of successful deployments.
	TotalCount int `json:"total_count"`
	// ActiveVersion is the version of the newest successful deployment or
	// rollback.
	ActiveVersion string `json:"active_version"`
	// RollbackCount is the number of successful rollbacks.
	RollbackCount int `json:"rollback_count"`
	// FailedCount is the number of failed or refused deployments and
	// rollbacks.
	FailedCount int `json:"failed_count"`
	// LastDeploy is the newest successful deployment's time, nil when none.
	LastDeploy *time.Time `json:"last_deploy"`
	// LastRollback is the newest successful rollback's time, nil when none.
	LastRollback *time.Time `json:"last_rollback"`
}

// EventMetrics counts every event by outcome (Event.Failed), whatever its
// type: failures of operations the other sections do not summarise (a
// repository that could not be initialised, a retention run or a flag
// change that failed, an access denial) show here.
type EventMetrics struct {
	// TotalCount is the number of events.
	TotalCount int `json:"total_count"`
	// SuccessCount is the number of events that record no failure.
	SuccessCount int `json:"success_count"`
	// FailedCount is the number of events that record a failure.
	FailedCount int `json:"failed_count"`
	// FailuresByType counts the failures by event type; nil when none.
	FailuresByType map[EventType]int `json:"failures_by_type,omitempty"`
	// LastFailure is the newest failure's time, nil when none.
	LastFailure *time.Time `json:"last_failure"`
}

// Dashboard holds the figures derived from the audit trail.
type Dashboard struct {
	// GeneratedAt is the time the figures are as of.
	GeneratedAt time.Time `json:"generated_at"`
	// TenantBackups summarises backups.
	TenantBackups BackupMetrics `json:"tenant_backups"`
	// Restores summarises restores.
	Restores RestoreMetrics `json:"restores"`
	// Releases summarises deployments and rollbacks.
	Releases ReleaseMetrics `json:"releases"`
	// Events counts every event by outcome.
	Events EventMetrics `json:"events"`
}

// Dashboard derives the metrics from every event of the log (one pass).
// Like Events, it needs steward.ActionAuditRead and fails with a
// *TamperError on a log that does not verify.
func (l *Log) Dashboard(ctx context.Context) (*Dashboard, error) {
	d := NewDashboardBuilder(l.cfg.Clock.Now())
	for e, err := range l.Events(ctx, Filter{}) {
		if err != nil {
			return nil, err
		}
		d.Add(&e)
	}
	return d.Result(), nil
}

// DashboardBuilder accumulates events into a Dashboard; hosts that keep
// events elsewhere can feed it directly. Create one with
// NewDashboardBuilder; it is not safe for concurrent use.
type DashboardBuilder struct {
	now             time.Time
	d               Dashboard
	backupOK        int
	durSum, sizeSum float64
	durN, sizeN     int
	ttrs            []float64
}

// NewDashboardBuilder starts a Dashboard as of now (for "last 24h").
func NewDashboardBuilder(now time.Time) *DashboardBuilder {
	return &DashboardBuilder{now: now, d: Dashboard{GeneratedAt: now}}
}

// Number reads a figure of Event.Data (DataTTRMS, DataSizeBytes, ...):
// float64 when read back from JSON, int64 or int when recorded in the same
// process. It reports false for anything else.
func Number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}

func later(p **time.Time, t time.Time) {
	if *p == nil || t.After(**p) {
		tt := t
		*p = &tt
	}
}

// Add accounts for one event; a failure is what Event.Failed says. It
// does not keep e.
func (b *DashboardBuilder) Add(e *Event) {
	failed := e.Failed()
	b.addEvent(e, failed)
	switch e.Type {
	case TypeBackupCreated, TypeBackupFailed:
		b.addBackup(e, failed)
	case TypeRestoreCompleted, TypeRestoreFailed:
		b.addRestore(e, failed)
	case TypeReleaseDeployed, TypeReleaseRolledBack, TypeReleaseDeployFail, TypeReleaseRollbackErr:
		b.addRelease(e, failed)
	}
}

func (b *DashboardBuilder) addEvent(e *Event, failed bool) {
	m := &b.d.Events
	m.TotalCount++
	if !failed {
		m.SuccessCount++
		return
	}
	m.FailedCount++
	if m.FailuresByType == nil {
		m.FailuresByType = map[EventType]int{}
	}
	m.FailuresByType[e.Type]++
	later(&m.LastFailure, e.Timestamp)
}

func (b *DashboardBuilder) addBackup(e *Event, failed bool) {
	if e.Tenant == "_general" || e.Tenant == "_releases" {
		return
	}
	m := &b.d.TenantBackups
	m.TotalCount++
	if b.now.Sub(e.Timestamp) <= 24*time.Hour && !e.Timestamp.After(b.now) {
		m.Last24h++
	}
	if failed {
		m.FailedCount++
		later(&m.LastFailure, e.Timestamp)
		return
	}
	b.backupOK++
	later(&m.LastSuccess, e.Timestamp)
	if v, ok := Number(e.Data[DataDurationMS]); ok {
		b.durSum += v
		b.durN++
	}
	if v, ok := Number(e.Data[DataSizeBytes]); ok {
		b.sizeSum += v
		b.sizeN++
	}
}

func (b *DashboardBuilder) addRestore(e *Event, failed bool) {
	m := &b.d.Restores
	m.TotalCount++
	later(&m.LastRestore, e.Timestamp)
	if failed {
		m.FailedCount++
		return
	}
	m.SuccessCount++
	if v, ok := Number(e.Data[DataTTRMS]); ok {
		b.ttrs = append(b.ttrs, v)
	}
}

func (b *DashboardBuilder) addRelease(e *Event, failed bool) {
	m := &b.d.Releases
	if failed {
		m.FailedCount++
		return
	}
	switch e.Type {
	case TypeReleaseDeployed:
		m.TotalCount++
		later(&m.LastDeploy, e.Timestamp)
	case TypeReleaseRolledBack:
		m.RollbackCount++
		later(&m.LastRollback, e.Timestamp)
	default:
		return // a failure type recorded without a failure: nothing changed
	}
	if v, ok := e.Data[DataVersion].(string); ok {
		m.ActiveVersion = v
	}
}

// Result returns the Dashboard so far, a copy: the builder may go on
// accepting events.
func (b *DashboardBuilder) Result() *Dashboard {
	d := b.d
	d.Events.FailuresByType = maps.Clone(d.Events.FailuresByType)
	if b.durN > 0 {
		d.TenantBackups.AvgDurationMS = b.durSum / float64(b.durN)
	}
	if b.sizeN > 0 {
		d.TenantBackups.AvgSizeBytes = b.sizeSum / float64(b.sizeN)
	}
	d.TenantBackups.SuccessRate = rate(b.backupOK, d.TenantBackups.FailedCount)
	d.Restores.SuccessRate = rate(d.Restores.SuccessCount, d.Restores.FailedCount)
	if n := len(b.ttrs); n > 0 {
		var sum float64
		for _, v := range b.ttrs {
			sum += v
		}
		d.Restores.AvgTTRMS = sum / float64(n)
		s := slices.Clone(b.ttrs)
		slices.Sort(s)
		// Nearest-rank percentile.
		idx := (95*n + 99) / 100
		d.Restores.P95TTRMS = s[idx-1]
	}
	return &d
}

func rate(ok, failed int) float64 {
	if ok+failed == 0 {
		return 1
	}
	return float64(ok) / float64(ok+failed)
}

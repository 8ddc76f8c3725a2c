package audit

import (
	"context"
	"slices"
	"time"
)

// BackupMetrics summarises backups.
type BackupMetrics struct {
	TotalCount    int        `json:"total_count"`
	Last24h       int        `json:"last_24h"`
	FailedCount   int        `json:"failed_count"`
	AvgDurationMS float64    `json:"avg_duration_ms"`
	AvgSizeBytes  float64    `json:"avg_size_bytes"`
	LastSuccess   *time.Time `json:"last_success"`
	LastFailure   *time.Time `json:"last_failure"`
	// SuccessRate is successes / (successes + failures), 1 when there are none.
	SuccessRate float64 `json:"success_rate"`
}

// RestoreMetrics summarises restores.
type RestoreMetrics struct {
	TotalCount   int        `json:"total_count"`
	SuccessCount int        `json:"success_count"`
	FailedCount  int        `json:"failed_count"`
	AvgTTRMS     float64    `json:"avg_ttr_ms"`
	P95TTRMS     float64    `json:"p95_ttr_ms"`
	LastRestore  *time.Time `json:"last_restore"`
	SuccessRate  float64    `json:"success_rate"`
}

// ReleaseMetrics summarises releases.
type ReleaseMetrics struct {
	TotalCount    int        `json:"total_count"`
	ActiveVersion string     `json:"active_version"`
	RollbackCount int        `json:"rollback_count"`
	LastDeploy    *time.Time `json:"last_deploy"`
	LastRollback  *time.Time `json:"last_rollback"`
}

// Dashboard holds the figures derived from the audit trail.
type Dashboard struct {
	GeneratedAt   time.Time      `json:"generated_at"`
	TenantBackups BackupMetrics  `json:"tenant_backups"`
	Restores      RestoreMetrics `json:"restores"`
	Releases      ReleaseMetrics `json:"releases"`
}

// Dashboard derives the metrics from every event of the log (one pass).
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
// events elsewhere can feed it directly.
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

func num(v any) (float64, bool) {
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

// Add accounts for one event.
func (b *DashboardBuilder) Add(e *Event) {
	d := &b.d
	switch e.Type {
	case TypeBackupCreated, TypeBackupFailed:
		if e.Tenant == "_general" || e.Tenant == "_releases" {
			return
		}
		d.TenantBackups.TotalCount++
		if b.now.Sub(e.Timestamp) <= 24*time.Hour && !e.Timestamp.After(b.now) {
			d.TenantBackups.Last24h++
		}
		if e.Type == TypeBackupFailed {
			d.TenantBackups.FailedCount++
			later(&d.TenantBackups.LastFailure, e.Timestamp)
			return
		}
		b.backupOK++
		later(&d.TenantBackups.LastSuccess, e.Timestamp)
		if v, ok := num(e.Data[DataDurationMS]); ok {
			b.durSum += v
			b.durN++
		}
		if v, ok := num(e.Data[DataSizeBytes]); ok {
			b.sizeSum += v
			b.sizeN++
		}
	case TypeRestoreCompleted, TypeRestoreFailed:
		d.Restores.TotalCount++
		later(&d.Restores.LastRestore, e.Timestamp)
		if e.Type == TypeRestoreFailed {
			d.Restores.FailedCount++
			return
		}
		d.Restores.SuccessCount++
		if v, ok := num(e.Data[DataTTRMS]); ok {
			b.ttrs = append(b.ttrs, v)
		}
	case TypeReleaseDeployed:
		d.Releases.TotalCount++
		later(&d.Releases.LastDeploy, e.Timestamp)
		if v, ok := e.Data[DataVersion].(string); ok {
			d.Releases.ActiveVersion = v
		}
	case TypeReleaseRolledBack:
		d.Releases.RollbackCount++
		later(&d.Releases.LastRollback, e.Timestamp)
		if v, ok := e.Data[DataVersion].(string); ok {
			d.Releases.ActiveVersion = v
		}
	}
}

// Result returns the Dashboard so far.
func (b *DashboardBuilder) Result() *Dashboard {
	d := b.d
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

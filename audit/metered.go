package audit

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/iluxsys/steward/internal/errs"
)

// Names of the instruments Metered creates.
const (
	// MetricEvents counts recorded events, with the attributes type, level
	// and outcome.
	MetricEvents = "steward.audit.events"
	// MetricBackupDuration is the duration of successful backups, in ms,
	// from DataDurationMS of TypeBackupCreated events.
	MetricBackupDuration = "steward.backup.duration"
	// MetricRestoreTTR is the time to recovery of successful restores, in
	// ms, from DataTTRMS of TypeRestoreCompleted events.
	MetricRestoreTTR = "steward.restore.ttr"
)

// maxMeteredTypes bounds the distinct values of the type attribute: event
// types past the first maxMeteredTypes a MeteredAuditor sees are counted
// as "other". The SDK's own types are about twenty.
const maxMeteredTypes = 64

// otherAttr stands for a type or level past the bounds.
const otherAttr = "other"

// MeteredAuditor records each event on an inner Auditor and measures it in
// OpenTelemetry instruments, so that metrics come from any Auditor a host
// uses, not only from Log. Create one with Metered; the zero value is not
// usable. It is safe for concurrent use when the inner Auditor is.
//
// Its attributes have bounded cardinality: the counter MetricEvents has
// type (at most 64 distinct values, then "other"), level (info, warning,
// error or "other"; empty counts as info, as Log stores it) and outcome
// ("success" or "failure", from Event.Failed: a failure recorded under a
// success type, or at LevelWarning with DataError, still counts as one).
// There is no tenant attribute: tenants grow without bound, and each
// value is a time series kept by the meter and its backend for as long as
// the process runs. Per-tenant figures are the Log's to give (Query,
// Dashboard with Filter.Tenant); a host that needs them as metrics, over
// a tenant set it bounds, can wrap the Auditor itself. The histograms have
// no attributes.
type MeteredAuditor struct {
	inner    Auditor
	events   metric.Int64Counter
	backupMS metric.Float64Histogram
	ttrMS    metric.Float64Histogram

	mu    sync.Mutex
	types map[EventType]struct{} // the type attribute's values so far
}

// Metered returns an Auditor that records each event on inner (Nop when
// nil) and then measures it with instruments from meter: the counter
// MetricEvents and the histograms MetricBackupDuration and
// MetricRestoreTTR (unit ms; successful backups and restores only). It
// returns an error when meter is nil or refuses an instrument.
//
// An event is measured whether or not inner stored it: the metrics count
// what the SDK did, and an audit store that fails is when they matter
// most. Record returns inner's error unchanged.
func Metered(inner Auditor, meter metric.Meter) (*MeteredAuditor, error) {
	if meter == nil {
		return nil, errors.New("audit: Metered needs a metric.Meter: pass the host's, or do not wrap the Auditor")
	}
	m := &MeteredAuditor{inner: OrNop(inner), types: map[EventType]struct{}{}}
	var err error
	if m.events, err = meter.Int64Counter(MetricEvents, metric.WithDescription("audit events recorded"), metric.WithUnit("{event}")); err != nil {
		return nil, errs.Errorf("audit", "metric %s: %w", MetricEvents, err)
	}
	if m.backupMS, err = meter.Float64Histogram(MetricBackupDuration, metric.WithDescription("duration of successful backups"), metric.WithUnit("ms")); err != nil {
		return nil, errs.Errorf("audit", "metric %s: %w", MetricBackupDuration, err)
	}
	if m.ttrMS, err = meter.Float64Histogram(MetricRestoreTTR, metric.WithDescription("time to recovery of successful restores"), metric.WithUnit("ms")); err != nil {
		return nil, errs.Errorf("audit", "metric %s: %w", MetricRestoreTTR, err)
	}
	return m, nil
}

// Record records e on the inner Auditor, measures it, and returns the inner
// Auditor's error.
func (m *MeteredAuditor) Record(ctx context.Context, e Event) error {
	err := m.inner.Record(ctx, e)
	m.measure(ctx, &e)
	return err
}

// Unwrap returns the inner Auditor.
func (m *MeteredAuditor) Unwrap() Auditor { return m.inner }

func (m *MeteredAuditor) measure(ctx context.Context, e *Event) {
	failed := e.Failed()
	m.events.Add(ctx, 1, metric.WithAttributes(
		attribute.String("type", m.typeAttr(e.Type)),
		attribute.String("level", levelAttr(e.Level)),
		attribute.String("outcome", e.outcome()),
	))
	if failed {
		return
	}
	switch e.Type {
	case TypeBackupCreated:
		if v, ok := Number(e.Data[DataDurationMS]); ok {
			m.backupMS.Record(ctx, v)
		}
	case TypeRestoreCompleted:
		if v, ok := Number(e.Data[DataTTRMS]); ok {
			m.ttrMS.Record(ctx, v)
		}
	}
}

// typeAttr is t, or "other" once maxMeteredTypes other types were seen.
func (m *MeteredAuditor) typeAttr(t EventType) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.types[t]; !ok {
		if len(m.types) >= maxMeteredTypes {
			return otherAttr
		}
		m.types[t] = struct{}{}
	}
	return string(t)
}

// levelAttr is l as a bounded attribute value.
func levelAttr(l Level) string {
	switch l {
	case "", LevelInfo:
		return string(LevelInfo)
	case LevelWarning, LevelError:
		return string(l)
	}
	return otherAttr
}

package audit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/audit/audittest"
	"github.com/iluxsys/steward/storage"
)

// meterReader is a MeterProvider with a manual reader: collect returns
// what the instruments hold.
type meterReader struct {
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newMeterReader(t *testing.T) *meterReader {
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return &meterReader{reader: r, mp: mp}
}

// figures is what the instruments of Metered hold.
type figures struct {
	events map[string]int64 // "type level outcome" -> count
	keys   map[string]bool  // attribute keys seen on the counter
	// histogram name -> count, sum
	histCount map[string]uint64
	histSum   map[string]float64
}

func (m *meterReader) collect(t *testing.T) figures {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, m.reader.Collect(context.Background(), &rm))
	f := figures{events: map[string]int64{}, keys: map[string]bool{}, histCount: map[string]uint64{}, histSum: map[string]float64{}}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			switch data := md.Data.(type) {
			case metricdata.Sum[int64]:
				require.Equal(t, audit.MetricEvents, md.Name)
				require.True(t, data.IsMonotonic, "a counter")
				for _, dp := range data.DataPoints {
					for _, kv := range dp.Attributes.ToSlice() {
						f.keys[string(kv.Key)] = true
					}
					f.events[attr(dp.Attributes, "type")+" "+attr(dp.Attributes, "level")+" "+attr(dp.Attributes, "outcome")] += dp.Value
				}
			case metricdata.Histogram[float64]:
				require.Equal(t, "ms", md.Unit, "%s's unit", md.Name)
				for _, dp := range data.DataPoints {
					require.Zero(t, dp.Attributes.Len(), "%s has no attributes, got %v", md.Name, dp.Attributes.ToSlice())
					f.histCount[md.Name] += dp.Count
					f.histSum[md.Name] += dp.Sum
				}
			default:
				t.Fatalf("unexpected instrument %s (%T)", md.Name, md.Data)
			}
		}
	}
	return f
}

func attr(s attribute.Set, k string) string {
	v, _ := s.Value(attribute.Key(k))
	return v.AsString()
}

// meteredEvents are a few events of each kind Metered tells apart.
func meteredEvents() []audit.Event {
	failed := map[string]any{audit.DataError: "disk full"}
	return []audit.Event{
		{Type: audit.TypeBackupCreated, Tenant: "acme", Data: map[string]any{audit.DataDurationMS: int64(100)}},
		{Type: audit.TypeBackupCreated, Tenant: "globex", Level: audit.LevelInfo, Data: map[string]any{audit.DataDurationMS: 300}},
		// A failed backup: counted as a failure, its duration left out.
		{Type: audit.TypeBackupFailed, Level: audit.LevelError, Tenant: "acme", Data: map[string]any{audit.DataDurationMS: int64(7), audit.DataError: "disk full"}},
		{Type: audit.TypeRestoreCompleted, Tenant: "acme", Data: map[string]any{audit.DataTTRMS: 2500.0}},
		// A failure under a success type, at info level: outcome failure.
		{Type: audit.TypeRestoreCompleted, Tenant: "acme", Data: map[string]any{audit.DataTTRMS: 9, audit.DataError: "pack missing"}},
		{Type: audit.TypeRepoInitialized, Level: audit.LevelError, Tenant: "initech", Data: failed},
		{Type: audit.TypeAccessDenied, Level: audit.LevelWarning, Tenant: "acme", Data: map[string]any{audit.DataError: "forbidden"}},
	}
}

func requireMeteredFigures(t *testing.T, f figures) {
	t.Helper()
	require.Equal(t, map[string]int64{
		"backup.created info success":    2,
		"backup.failed error failure":    1,
		"restore.completed info success": 1,
		"restore.completed info failure": 1,
		"repo.initialized error failure": 1,
		"access.denied warning failure":  1,
	}, f.events)
	require.Equal(t, map[string]bool{"type": true, "level": true, "outcome": true}, f.keys, "no tenant attribute")
	require.Equal(t, uint64(2), f.histCount[audit.MetricBackupDuration], "successful backups only")
	require.InDelta(t, 400, f.histSum[audit.MetricBackupDuration], 1e-9)
	require.Equal(t, uint64(1), f.histCount[audit.MetricRestoreTTR], "successful restores only")
	require.InDelta(t, 2500, f.histSum[audit.MetricRestoreTTR], 1e-9)
}

func TestMeteredOverNop(t *testing.T) {
	mr := newMeterReader(t)
	m, err := audit.Metered(audit.Nop(), mr.mp.Meter("test"))
	require.NoError(t, err)
	for _, e := range meteredEvents() {
		require.NoError(t, m.Record(context.Background(), e))
	}
	requireMeteredFigures(t, mr.collect(t))
}

// Over a Log, the events are stored and measured; the figures are the
// same as over Nop, and the events read back as recorded.
func TestMeteredOverLog(t *testing.T) {
	mr := newMeterReader(t)
	l := newLog(t, storage.NewMemory())
	m, err := audit.Metered(l, mr.mp.Meter("test"))
	require.NoError(t, err)
	require.Same(t, l, m.Unwrap())
	for _, e := range meteredEvents() {
		require.NoError(t, m.Record(context.Background(), e))
	}
	requireMeteredFigures(t, mr.collect(t))
	got, err := l.Query(master(), audit.Filter{})
	require.NoError(t, err)
	require.Len(t, got, len(meteredEvents()))
	failures, err := l.Query(master(), audit.Filter{FailuresOnly: true})
	require.NoError(t, err)
	require.Len(t, failures, 4, "the failures Metered counted")
}

// An event the inner Auditor fails to store is still measured, and its
// error returned unchanged.
func TestMeteredInnerError(t *testing.T) {
	mr := newMeterReader(t)
	boom := errors.New("store down")
	m, err := audit.Metered(audit.AuditorFunc(func(context.Context, audit.Event) error { return boom }), mr.mp.Meter("test"))
	require.NoError(t, err)
	require.ErrorIs(t, m.Record(context.Background(), audit.Event{Type: audit.TypeBackupFailed, Level: audit.LevelError}), boom)
	require.Equal(t, map[string]int64{"backup.failed error failure": 1}, mr.collect(t).events)
}

func TestMeteredRefusesNilMeter(t *testing.T) {
	m, err := audit.Metered(audit.Nop(), nil)
	require.Error(t, err)
	require.Nil(t, m)
}

// The type attribute is bounded: past 64 distinct types, events count as
// "other"; unknown levels count as "other" too, and an empty level as info.
func TestMeteredBoundsAttributes(t *testing.T) {
	mr := newMeterReader(t)
	m, err := audit.Metered(nil, mr.mp.Meter("test"))
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, m.Record(context.Background(), audit.Event{Type: audit.EventType(fmt.Sprintf("host.event_%03d", i))}))
	}
	require.NoError(t, m.Record(context.Background(), audit.Event{Type: "host.event_000", Level: "critical"}))
	f := mr.collect(t)
	require.Len(t, f.events, 64+2, "64 types, other, and one unknown level")
	require.Equal(t, int64(36), f.events["other info success"])
	require.Equal(t, int64(1), f.events["host.event_000 info success"])
	require.Equal(t, int64(1), f.events["host.event_000 other success"])
}

func TestWrappersUnwrap(t *testing.T) {
	mr := newMeterReader(t)
	l := newLog(t, storage.NewMemory())
	n := audit.Notifying(l, nil, nil)
	m, err := audit.Metered(n, mr.mp.Meter("test"))
	require.NoError(t, err)
	require.Same(t, n, m.Unwrap())
	require.Same(t, l, n.Unwrap())
	// A nil inner Auditor is Nop: recording works.
	require.NoError(t, audit.Notifying(nil, nil, nil).Record(context.Background(), audit.Event{Type: "x"}))
}

func TestWrappersConformance(t *testing.T) {
	mr := newMeterReader(t)
	audittest.Run(t, func(t *testing.T) audit.Auditor {
		m, err := audit.Metered(audit.Nop(), mr.mp.Meter("test"))
		require.NoError(t, err)
		return m
	})
	audittest.Run(t, func(t *testing.T) audit.Auditor {
		m, err := audit.Metered(newLog(t, storage.NewMemory()), mr.mp.Meter("test"))
		require.NoError(t, err)
		return m
	})
	audittest.Run(t, func(t *testing.T) audit.Auditor {
		return audit.Notifying(newLog(t, storage.NewMemory()), nil, nil, audit.Slog{})
	})
}

package siem_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/audit/siem"
)

// memExporter is an OpenTelemetry log exporter that keeps what it gets.
type memExporter struct {
	mu   sync.Mutex
	recs []sdklog.Record
}

func (e *memExporter) Export(_ context.Context, recs []sdklog.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range recs {
		e.recs = append(e.recs, r.Clone())
	}
	return nil
}

func (e *memExporter) Shutdown(context.Context) error   { return nil }
func (e *memExporter) ForceFlush(context.Context) error { return nil }

// TestOtelslogBridge: through the OpenTelemetry bridge for slog and the
// SDK's batch processor, each event reaches the exporter as a log record
// with the event's time, severity and message, and its fields in the
// "audit" map.
func TestOtelslogBridge(t *testing.T) {
	exp := &memExporter{}
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
	log, seen := newLog(t, nil)
	sink := siem.NewSlog(otelslog.NewLogger("steward/audit", otelslog.WithLoggerProvider(provider)), nil)
	require.NoError(t, sink.Attach(log))
	ctx := master()
	require.NoError(t, log.Record(ctx, audit.Event{Type: audit.TypeBackupCreated, Tenant: "acme", UserID: "ops", Message: "full backup",
		Data: map[string]any{audit.DataSnapshotID: "s1"}}))
	require.NoError(t, log.Record(ctx, audit.Event{Type: audit.TypeBackupFailed, Level: audit.LevelError, Tenant: "globex", Message: "disk full"}))
	_, err := sink.Close(context.Background())
	require.NoError(t, err)
	require.NoError(t, provider.Shutdown(context.Background())) // flushes the batch

	exp.mu.Lock()
	defer exp.mu.Unlock()
	all := seen.get()
	require.Len(t, exp.recs, len(all))
	for i, r := range exp.recs {
		want := all[i]
		require.Equal(t, want.Event.Message, r.Body().AsString())
		require.True(t, want.Event.Timestamp.Equal(r.Timestamp()), "the record's time is the event's")
		require.Equal(t, "steward/audit", r.InstrumentationScope().Name)
		fields := auditMap(t, r)
		require.Equal(t, int64(want.Seq), fields[siem.ParamSeq].AsInt64())
		require.Equal(t, want.Event.ID, fields[siem.ParamID].AsString())
		require.Equal(t, string(want.Event.Type), fields[siem.ParamType].AsString())
		require.Equal(t, want.Event.Tenant, fields[siem.ParamTenant].AsString())
		require.Equal(t, want.Hash, fields[siem.ParamHash].AsString())
	}
	require.Equal(t, otellog.SeverityInfo, exp.recs[0].Severity())
	require.Equal(t, otellog.SeverityError, exp.recs[1].Severity())
	require.Equal(t, "failure", auditMap(t, exp.recs[1])[siem.ParamOutcome].AsString())
	data := auditMap(t, exp.recs[0])[siem.AttrData]
	require.Equal(t, attribute.MAP, data.Type())
	require.Equal(t, []attribute.KeyValue{attribute.String(audit.DataSnapshotID, "s1")}, data.AsMap())
}

// auditMap is the record's "audit" attribute, by key.
func auditMap(t *testing.T, r sdklog.Record) map[string]attribute.Value {
	t.Helper()
	m := map[string]attribute.Value{}
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		if string(kv.Key) == siem.AttrGroup {
			require.Equal(t, attribute.MAP, kv.Value.Type())
			for _, f := range kv.Value.AsMap() {
				m[string(f.Key)] = f.Value
			}
		}
		return true
	})
	require.NotEmpty(t, m, "no %q attribute", siem.AttrGroup)
	return m
}

package siem_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/audit/siem"
)

// TestInstrument: the instruments report what Dropped, Delivered and
// Queued say, with the sink's name; unregistered, they report nothing.
func TestInstrument(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens: everything queues, then drops
	log, _ := newLog(t, nil)
	sink, err := siem.NewSyslog(addr, &siem.SyslogConfig{Config: fastRetries(siem.Config{QueueSize: 4})})
	require.NoError(t, err)
	require.NoError(t, sink.Attach(log))
	reader := sdkmetric.NewManualReader()
	unregister, err := sink.Instrument(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("steward"))
	require.NoError(t, err)
	for range 10 {
		require.NoError(t, log.Record(master(), audit.Event{Type: "host.note"}))
	}

	got := collect(t, reader)
	require.Equal(t, int64(sink.Dropped()), got[siem.MetricDropped])
	require.GreaterOrEqual(t, got[siem.MetricDropped], int64(5), "a queue of 4 and one line held")
	require.Equal(t, int64(sink.Queued()), got[siem.MetricQueued])
	require.Equal(t, int64(0), got[siem.MetricDelivered])

	require.NoError(t, unregister())
	require.Empty(t, collect(t, reader))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = sink.Close(ctx)
	require.ErrorIs(t, err, siem.ErrUndelivered)
}

// collect reads the sink's instruments: name to value, checking the
// "sink" attribute.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var dps []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				dps = d.DataPoints
			case metricdata.Gauge[int64]:
				dps = d.DataPoints
			}
			for _, dp := range dps {
				v, ok := dp.Attributes.Value("sink")
				require.True(t, ok)
				require.True(t, strings.HasPrefix(v.AsString(), "syslog tcp://127.0.0.1:"), v.AsString())
				got[m.Name] = dp.Value
			}
		}
	}
	return got
}

// BenchmarkRecord measures Log.Record on a memory store without a sink,
// with a syslog sink writing to a receiver on loopback that discards,
// and with a slog sink whose handler discards. Drops are reported per
// operation: a sender slower than Record drops rather than slowing it.
func BenchmarkRecord(b *testing.B) {
	ev := audit.Event{Type: audit.TypeBackupCreated, Tenant: "acme", UserID: "ops", Message: "full backup",
		Data: map[string]any{audit.DataSnapshotID: "0193e3d2-1111-7000-8000-000000000000", audit.DataSizeBytes: 1 << 30}}
	run := func(b *testing.B, sink *siem.Sink) {
		log, _ := newLog(b, nil)
		if sink != nil {
			require.NoError(b, sink.Attach(log))
		}
		ctx := master()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := log.Record(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if sink != nil {
			b.ReportMetric(float64(sink.Dropped())/float64(b.N), "drops/op")
			_, _ = sink.Close(context.Background())
		}
	}
	b.Run("no-sink", func(b *testing.B) { run(b, nil) })
	b.Run("syslog", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(b, err)
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
			}
		}()
		sink, err := siem.NewSyslog(ln.Addr().String(), nil)
		require.NoError(b, err)
		run(b, sink)
	})
	b.Run("slog", func(b *testing.B) {
		run(b, siem.NewSlog(slog.New(slog.DiscardHandler), nil))
	})
}

// BenchmarkLineAppend measures writing one line (the sender's work per
// event).
func BenchmarkLineAppend(b *testing.B) {
	l := sampleLine()
	buf := l.Append(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = l.Append(buf[:0])
	}
}

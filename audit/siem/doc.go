// Package siem streams audit events to a SIEM as an audit.Log records
// them: to a syslog daemon (RFC 5424 lines over TCP, TLS optional), or to
// a log/slog Logger and through it, with the OpenTelemetry bridge for
// slog, to any OpenTelemetry collector.
//
// # Wiring
//
// A Sink observes a Log (audit.Log.Observe), so it sees each event once
// stored, with its sequence number, in sequence order:
//
//	log, _ := audit.NewLog(ctx, store, &audit.LogConfig{RecordKey: key})
//	sink, _ := siem.NewSyslog("siem.example.com:6514", &siem.SyslogConfig{TLS: &tls.Config{ServerName: "siem.example.com"}})
//	_ = sink.Attach(log)
//	defer sink.Close(ctx) // delivers what is queued, within ctx
//
// With several writers of one log (processes), each streams the events
// it records; the SIEM then gets every sequence number from one of them.
//
// # Lines
//
// Each event is one line (see Line):
//
//	<110>1 2026-12-01T02:00:00.123456Z host steward 4242 backup.created [steward@32473 seq="17" id="0193…" type="backup.created" level="info" outcome="success" tenant="acme" principal="ops" action="" message="full backup" hash="9f…" prev="3c…"] {"id":"0193…",…}
//
// The parameters (ParamSeq ...) are always all present, in that order.
// The message is the event's JSON exactly as the log stored it, so a
// SIEM can check the chain itself: hash is hex SHA-256 over seq in
// decimal, a newline, prev, a newline and the message. ParseLine reads a
// line back.
//
// # slog and OpenTelemetry
//
// NewSlog writes each event as a slog record, at the event's time, with
// the same fields as attributes in the group "audit" (AttrGroup:
// "audit.seq", "audit.tenant", "audit.data.snapshot_id"). Through the
// OpenTelemetry bridge for slog (go.opentelemetry.io/contrib/bridges/otelslog)
// the records reach any OpenTelemetry collector:
//
//	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(exporter)))
//	sink := siem.NewSlog(otelslog.NewLogger("steward/audit", otelslog.WithLoggerProvider(provider)), nil)
//	_ = sink.Attach(log)
//
// # Delivery
//
// Observe never waits: it puts the event in a bounded queue
// (Config.QueueSize, default 4096) and returns, so a slow or unreachable
// SIEM never slows a backup. One sender goroutine per Sink (and, for
// syslog, one that watches the connection) delivers the queue in order,
// reconnecting with backoff (100 ms doubling to 30 s) and sending again
// the line that failed and those a broken connection may have lost
// (SyslogConfig.ReplayWindow), so delivery is at least once while the
// process runs. When the queue is full, events are dropped: Dropped
// counts them (and MetricDropped, see Instrument), and the drops of one
// outage are recorded as a single TypeDropped event, with their count
// and first and last sequence numbers, once delivery has caught up or at
// Close. Close delivers what it can within its context and says how many
// events were left.
//
// Lines queued when the process exits are lost to the SIEM, not to the
// audit log, which keeps every event: a gap in seq says where to look
// (audit.Log.Export with Filter.From and To set to the times of the
// lines either side of it).
package siem

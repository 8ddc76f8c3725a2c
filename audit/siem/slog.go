package siem

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"github.com/iluxsys/steward/audit"
)

// Groups of a slog record's attributes.
const (
	// AttrGroup holds an event's attributes in a slog record ("audit.seq",
	// "audit.tenant", ...), so that none collides with a handler's own
	// keys ("level", "msg") or a host's.
	AttrGroup = "audit"
	// AttrData, inside AttrGroup, holds the event's Data, one attribute
	// per key in key order (numbers as float64, as the log stores them).
	AttrData = "data"
)

// NewSlog returns a Sink that writes each event as a record to logger
// (slog.Default() when nil), through the same queue and sender as a
// syslog Sink, so that a slow handler never slows Record. The record's
// time is the event's, its message the event's (its type when empty), its
// level Error for a failure (audit.Event.Failed), Warn for a warning, Info
// otherwise; its attributes, in the group AttrGroup, are named as the
// syslog parameters (ParamSeq, ParamID, ParamType, ParamLevel,
// ParamOutcome, ParamTenant, ParamPrincipal, ParamAction, ParamMessage,
// ParamHash, ParamPrev), with the event's Data in the group AttrData:
// "audit.seq", "audit.data.snapshot_id".
//
// Through the OpenTelemetry bridge for slog
// (go.opentelemetry.io/contrib/bridges/otelslog), every event becomes an
// OpenTelemetry log record with those attributes, sent to any collector:
//
//	logger := otelslog.NewLogger("steward/audit", otelslog.WithLoggerProvider(provider))
//	sink := siem.NewSlog(logger, nil)
//	_ = sink.Attach(auditLog)
//
// A handler's error is a failed delivery: the record is handled again
// after a backoff.
func NewSlog(logger *slog.Logger, cfg *Config) *Sink {
	if logger == nil {
		logger = slog.Default()
	}
	return newSink("slog", &slogTransport{h: logger.Handler()}, defaultHeader(), cfg)
}

// slogTransport hands each line to a slog.Handler.
type slogTransport struct{ h slog.Handler }

func (t *slogTransport) send(ctx context.Context, l *Line) error {
	lvl := slog.LevelInfo
	switch l.Severity {
	case SeverityError:
		lvl = slog.LevelError
	case SeverityWarning:
		lvl = slog.LevelWarn
	}
	if !t.h.Enabled(ctx, lvl) {
		return nil
	}
	msg := l.Message
	if msg == "" {
		msg = l.Type
	}
	attrs := []slog.Attr{
		slog.Uint64(ParamSeq, l.Seq), slog.String(ParamID, l.ID), slog.String(ParamType, l.Type),
		slog.String(ParamLevel, l.Level), slog.String(ParamOutcome, l.Outcome), slog.String(ParamTenant, l.Tenant),
		slog.String(ParamPrincipal, l.Principal), slog.String(ParamAction, l.Action), slog.String(ParamMessage, l.Message),
		slog.String(ParamHash, l.Hash), slog.String(ParamPrev, l.Prev),
	}
	if data := dataAttrs(l.JSON); len(data) > 0 {
		attrs = append(attrs, slog.Attr{Key: AttrData, Value: slog.GroupValue(data...)})
	}
	r := slog.NewRecord(l.Timestamp, lvl, msg, 0)
	r.AddAttrs(slog.Attr{Key: AttrGroup, Value: slog.GroupValue(attrs...)})
	if err := t.h.Handle(ctx, r); err != nil {
		return fmt.Errorf("siem: slog handler: %w", err)
	}
	return nil
}

// dataAttrs are the Data of the event encoded in b, in key order; none
// when b does not decode (it always does when a Log stored it).
func dataAttrs(b []byte) []slog.Attr {
	var e audit.Event
	if json.Unmarshal(b, &e) != nil || len(e.Data) == 0 {
		return nil
	}
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, e.Data[k]))
	}
	return attrs
}

// A handler that took a record keeps it: nothing is sent again.
func (t *slogTransport) lost() <-chan struct{}        { return nil }
func (t *slogTransport) resend(context.Context) error { return nil }
func (t *slogTransport) pending() int                 { return 0 }
func (t *slogTransport) close() error                 { return nil }

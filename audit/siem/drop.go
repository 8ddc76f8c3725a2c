package siem

import (
	"context"
	"fmt"

	"github.com/iluxsys/steward/audit"
)

// TypeDropped is the type of the event a Sink records once per outage
// (the SIEM down or slower than the events, so the queue filled): how many
// events it dropped and the first and last of their sequence numbers
// (Data keys DataDropped, DataFirstSeq, DataLastSeq, DataSink). It is
// recorded at LevelError with audit.DataError saying why, so it counts as
// a failure and notifies by default, once delivery has caught up (the
// queue half empty) or at Close. The event goes to the SIEM too, when
// there is room for it: the SIEM then learns of its own gap. Should it be
// dropped in turn, it is counted in the next outage, never recorded in a
// loop.
const TypeDropped audit.EventType = "audit.siem_dropped"

// Keys of a TypeDropped event's Data.
const (
	// DataDropped is how many events were dropped.
	DataDropped = "dropped"
	// DataFirstSeq is the sequence number of the first event dropped.
	DataFirstSeq = "first_seq"
	// DataLastSeq is the sequence number of the last event dropped; the
	// events between it and DataFirstSeq that were not dropped were
	// delivered (the range holds DataDropped events or more).
	DataLastSeq = "last_seq"
	// DataSink names the Sink ("syslog tcp://host:port", "slog").
	DataSink = "sink"
)

// auditGap records the drops not yet audited, if any, on the Auditor.
func (s *Sink) auditGap(ctx context.Context) {
	s.mu.Lock()
	g, aud, why := s.gap, s.auditor, s.lastErr
	s.gap, s.lastErr = gap{}, ""
	s.mu.Unlock()
	if g.count == 0 || aud == nil {
		return
	}
	if why == "" {
		why = "queue full: the SIEM took events more slowly than they were recorded"
	} else {
		why = "queue full; last delivery error: " + why
	}
	e := audit.Event{
		Type:  TypeDropped,
		Level: audit.LevelError,
		Message: fmt.Sprintf("%s dropped %d audit events (seq %d to %d): its queue of %d was full",
			s.name, g.count, g.first, g.last, s.cfg.QueueSize),
		Data: map[string]any{
			DataDropped: g.count, DataFirstSeq: g.first, DataLastSeq: g.last, DataSink: s.name,
			audit.DataError: why,
		},
	}
	if err := aud.Record(ctx, e); err != nil && s.cfg.OnError != nil {
		s.cfg.OnError(fmt.Errorf("siem: %s: recording the drop of %d events (seq %d to %d): %w", s.name, g.count, g.first, g.last, err))
	}
}

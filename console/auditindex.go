package console

import (
	"context"
	"slices"
	"time"

	"github.com/iluxsys/steward/audit"
)

// indexEntry is what the shared cache keeps of every event, to find the
// events a filter matches without reading the log: about 150 bytes an
// event.
type indexEntry struct {
	point  audit.Checkpoint // where to read it again (audit.Log.At)
	typ    audit.EventType
	level  audit.Level
	tenant string
	user   string
	at     time.Time
	failed bool
}

// index adds r to the shared index. Call with mu held.
func (s *shared) index(r *audit.Recorded) {
	if s.names == nil {
		s.names = map[string]string{}
	}
	intern := func(v string) string {
		if w, ok := s.names[v]; ok {
			return w
		}
		s.names[v] = v
		return v
	}
	e := &r.Event
	s.events = append(s.events, indexEntry{point: audit.Checkpoint{Seq: r.Seq, Hash: r.Hash},
		typ: audit.EventType(intern(string(e.Type))), level: e.Level, tenant: intern(e.Tenant),
		user: intern(e.UserID), at: e.Timestamp, failed: e.Failed()})
}

// find returns where the newest f.Limit events matching f are (all with
// Limit 0), newest first.
func (s *shared) find(f audit.Filter) []audit.Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []audit.Checkpoint
	for _, e := range slices.Backward(s.events) {
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
		if f.FailuresOnly && !e.failed {
			continue
		}
		ev := audit.Event{Type: e.typ, Level: e.level, Tenant: e.tenant, UserID: e.user, Timestamp: e.at}
		if f.Match(&ev) || (f.FailuresOnly && matchButFailure(f, &ev)) {
			out = append(out, e.point)
		}
	}
	return out
}

// matchButFailure is f.Match for an event known to have failed.
func matchButFailure(f audit.Filter, e *audit.Event) bool {
	f.FailuresOnly = false
	return f.Match(e)
}

// selective reports whether f selects more than the newest events.
func selective(f audit.Filter) bool {
	return f.Tenant != "" || len(f.Types) > 0 || len(f.Levels) > 0 || f.UserID != "" || f.FailuresOnly ||
		!f.From.IsZero() || !f.To.IsZero()
}

// recentEvents returns the newest events matching f, newest first. A
// selective filter of a principal that may use the shared cache is
// answered from its index, with one read an event shown; any other
// reads the log from its tail (audit.Log.Recent), which for a selective
// filter may read far back.
func (c *console) recentEvents(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	if !selective(f) || !c.useShared(ctx, true) {
		evs, _, err := c.cfg.Log.Recent(ctx, f)
		return evs, err
	}
	recs, err := c.cfg.Log.At(ctx, f.Tenant, c.shared.find(f))
	if err != nil {
		return nil, err
	}
	out := make([]audit.Event, len(recs))
	for i := range recs {
		out[i] = recs[i].Event
	}
	return out, nil
}

package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
)

// indexEntry is what the shared cache keeps of every event, to find the
// events a filter matches without reading the log: about 200 bytes an
// event.
type indexEntry struct {
	point  audit.Checkpoint // where to read it again (audit.Log.At)
	id     string           // the event's ID, which the Audit page's cursors name
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
	s.events = append(s.events, indexEntry{point: audit.Checkpoint{Seq: r.Seq, Hash: r.Hash}, id: e.ID,
		typ: audit.EventType(intern(string(e.Type))), level: e.Level, tenant: intern(e.Tenant),
		user: intern(e.UserID), at: e.Timestamp, failed: e.Failed()})
}

// cursor places a page of the Audit page among the events its filter
// matches: the events older than the one of ID Before (the newest when
// ""), or the oldest ones newer than the one of ID After when it is set.
// Cursors name events by ID, which the page shows anyway, rather than by
// sequence number, whose gaps would tell a tenant-scoped principal how
// many events of other tenants were recorded between its own.
type cursor struct{ Before, After string }

// errNoSuchEvent: a cursor names no event the page's filter matches.
var errNoSuchEvent = errors.New("console: the page's event is not among those the filter matches")

// eventPage is one page of the events a filter matches, newest first,
// with whether more match on either side of it.
type eventPage struct {
	points       []audit.Checkpoint // where the page's events are
	newer, older bool               // more matches are newer / older than the page
	events       []audit.Recorded   // the events, once read
	paged        bool               // newer and older are known (false: the log could not be followed)
}

// find returns the page of the events matching f (f.Limit of them, all
// with 0) at cur, newest first; errNoSuchEvent when cur names no event
// that f matches.
func (s *shared) find(f audit.Filter, cur cursor) (eventPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var p eventPage
	at := len(s.events) // the entries before at are older than the page's cursor
	if id := cmp.Or(cur.After, cur.Before); id != "" {
		at = slices.IndexFunc(s.events, func(e indexEntry) bool { return e.id == id && matches(f, &e) })
		if at < 0 {
			return p, fmt.Errorf("%w: %q", errNoSuchEvent, id)
		}
	}
	if cur.After != "" { // the oldest newer than it
		p.older = matchIn(f, slices.Backward(s.events[:at+1]))
		p.points, p.newer = collect(f, slices.All(s.events[at+1:]))
		slices.Reverse(p.points)
		return p, nil
	}
	p.newer = matchIn(f, slices.All(s.events[at:]))
	p.points, p.older = collect(f, slices.Backward(s.events[:at]))
	return p, nil
}

// collect returns where the first f.Limit entries of seq matching f are,
// and whether another one matches after them.
func collect(f audit.Filter, seq iter.Seq2[int, indexEntry]) (points []audit.Checkpoint, more bool) {
	for _, e := range seq {
		if !matches(f, &e) {
			continue
		}
		if f.Limit > 0 && len(points) == f.Limit {
			return points, true
		}
		points = append(points, e.point)
	}
	return points, false
}

// matchIn reports whether an entry of seq matches f.
func matchIn(f audit.Filter, seq iter.Seq2[int, indexEntry]) bool {
	for _, e := range seq {
		if matches(f, &e) {
			return true
		}
	}
	return false
}

// matches is f.Match for the event e indexes.
func matches(f audit.Filter, e *indexEntry) bool {
	if f.FailuresOnly && !e.failed {
		return false
	}
	f.FailuresOnly = false // known to have failed
	ev := audit.Event{Type: e.typ, Level: e.level, Tenant: e.tenant, UserID: e.user, Timestamp: e.at}
	return f.Match(&ev)
}

// selective reports whether f selects more than the newest events.
func selective(f audit.Filter) bool {
	return f.Tenant != "" || len(f.Types) > 0 || len(f.Levels) > 0 || f.UserID != "" || f.FailuresOnly ||
		!f.From.IsZero() || !f.To.IsZero()
}

// auditEvents returns the page of the events matching f at cur, newest
// first. The principal must be allowed to read f.Tenant's events (the
// whole log's without a tenant), checked first. The page is found in the
// shared index, then its events are read with the principal's rights
// (audit.Log.At: one read an event, and a record of another tenant than
// f.Tenant is refused). The newest events of the whole log are read from
// its tail (audit.Log.RecentRecords) until the index holds the log's
// history, so that the first Audit page of a process does not wait for
// it; so is the newest page, without links, when the log cannot be
// followed.
func (c *console) auditEvents(ctx context.Context, f audit.Filter, cur cursor) (eventPage, error) {
	if err := c.authorize(ctx, steward.ActionAuditRead, f.Tenant); err != nil {
		return eventPage{}, err
	}
	if cur == (cursor{}) && !selective(f) && !c.shared.hasHistory() {
		return c.tailEvents(ctx, f, true)
	}
	if !c.useShared(ctx, true) {
		return c.tailEvents(ctx, f, false)
	}
	p, err := c.shared.find(f, cur)
	if err != nil {
		return p, err
	}
	recs, err := c.cfg.Log.At(ctx, f.Tenant, p.points)
	if err != nil {
		return eventPage{}, err
	}
	p.events, p.paged = recs, true
	return p, nil
}

// tailEvents is the newest page of f's events read from the log's tail;
// paged, it reads one more to know whether there are older ones.
func (c *console) tailEvents(ctx context.Context, f audit.Filter, paged bool) (eventPage, error) {
	if paged && f.Limit > 0 {
		f.Limit++
	}
	recs, _, err := c.cfg.Log.RecentRecords(ctx, f)
	if err != nil {
		return eventPage{}, err
	}
	p := eventPage{events: recs, paged: paged}
	if paged && f.Limit > 0 && len(recs) == f.Limit {
		p.events, p.older = recs[:len(recs)-1], true
	}
	return p, nil
}

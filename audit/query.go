package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/storage"
)

// Filter selects events. Zero fields match everything.
type Filter struct {
	// Types keeps events of these types.
	Types []EventType
	// Levels keeps events of these levels.
	Levels []Level
	// FailuresOnly keeps the events that record a failure (Event.Failed),
	// whatever their type and level.
	FailuresOnly bool
	// Tenant keeps the events of this tenant.
	Tenant string
	// UserID keeps the events of this principal.
	UserID string
	// From keeps events at or after it.
	From time.Time
	// To keeps events before it.
	To time.Time
	// Limit keeps the newest Limit matches (0: all).
	Limit int
}

// Match reports whether e passes the filter.
func (f *Filter) Match(e *Event) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
		return false
	}
	if len(f.Levels) > 0 && !slices.Contains(f.Levels, e.Level) {
		return false
	}
	if f.FailuresOnly && !e.Failed() {
		return false
	}
	if f.Tenant != "" && e.Tenant != f.Tenant {
		return false
	}
	if f.UserID != "" && e.UserID != f.UserID {
		return false
	}
	if !f.From.IsZero() && e.Timestamp.Before(f.From) {
		return false
	}
	if !f.To.IsZero() && !e.Timestamp.Before(f.To) {
		return false
	}
	return true
}

// Events yields the events that match f, oldest first, streaming (Limit is
// ignored here; see Query). It checks the chain as Verify does, without
// the checkpoints: a forged, edited, moved or missing record ends the
// sequence with a *TamperError. With a key, records written before it
// existed are checked to be pinned by a later keyed record before the
// first event is yielded.
func (l *Log) Events(ctx context.Context, f Filter) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if err := l.cfg.Authorizer.Authorize(ctx, steward.ActionAuditRead, f.Tenant); err != nil {
			yield(Event{}, err)
			return
		}
		if err := l.checkPinned(ctx); err != nil {
			yield(Event{}, err)
			return
		}
		c := l.newChain()
		for rec, err := range l.records(ctx) {
			if err == nil {
				err = c.next(&rec)
			}
			if err != nil {
				yield(Event{}, err)
				return
			}
			var e Event
			if err := json.Unmarshal(rec.Event, &e); err != nil {
				yield(Event{}, &TamperError{Seq: rec.Seq, Key: l.eventKey(rec.Seq), Reason: "event does not decode"})
				return
			}
			if f.Match(&e) && !yield(e, nil) {
				return
			}
		}
		if err := c.finish(); err != nil {
			yield(Event{}, err)
		}
	}
}

// checkPinned walks, with a key, the records without MAC at the start of
// the log (written before the key existed) up to the first record with
// one, whose link must pin them.
func (l *Log) checkPinned(ctx context.Context) error {
	if !l.key.Keyed() {
		return nil
	}
	first, err := l.readRecord(ctx, l.eventKey(1))
	if errors.Is(err, storage.ErrNotFound) || (err == nil && first.Tag != "") {
		return nil
	}
	if err != nil {
		return err
	}
	c := l.newChain()
	for rec, err := range l.records(ctx) {
		if err == nil {
			err = c.next(&rec)
		}
		if err != nil || c.tagged {
			return err
		}
	}
	return c.finish()
}

// Query returns the events that match f, oldest first; with f.Limit, the
// newest Limit of them.
func (l *Log) Query(ctx context.Context, f Filter) ([]Event, error) {
	var out []Event
	for e, err := range l.Events(ctx, f) {
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		if f.Limit > 0 && len(out) > 2*f.Limit {
			out = append(out[:0], out[len(out)-f.Limit:]...)
		}
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out, nil
}

// Format is an export format.
type Format string

// Export formats.
const (
	JSON  Format = "json"  // one JSON array
	JSONL Format = "jsonl" // one JSON object per line
	CSV   Format = "csv"   // a header row, then one row per event
)

// ParseFormat parses "json", "jsonl" or "csv" (case-insensitive).
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case JSON, JSONL, CSV:
		return f, nil
	}
	return "", fmt.Errorf("audit: export format %q: use json, jsonl or csv", s)
}

// CSVHeader is the header row of CSV exports. The last column, outcome, is
// "failure" for an event that records one (Event.Failed) and "success"
// otherwise; it comes last so that readers of the columns before it are
// not disturbed.
var CSVHeader = []string{"id", "timestamp", "type", "level", "message", "user_id", "tenant", "data", "outcome"}

// exported is an event as exports write it: its stored fields and its
// outcome, so that a reader of the export need not know the rule.
type exported struct {
	Event
	Outcome string `json:"outcome"`
}

// Export writes the events matching f to w in format, streaming: the log
// is never held in memory. Every exported event carries its outcome,
// "failure" or "success" (Event.Failed): JSON and JSONL objects in an
// "outcome" key after the event's own, CSV rows in the last column. CSV cells that a spreadsheet would run as a
// formula (starting with =, +, -, @, tab or carriage return) are prefixed
// with a single quote.
func (l *Log) Export(ctx context.Context, w io.Writer, format Format, f Filter) error {
	if _, err := ParseFormat(string(format)); err != nil {
		return err
	}
	var cw *csv.Writer
	switch format {
	case JSON:
		if _, err := io.WriteString(w, "["); err != nil {
			return err
		}
	case CSV:
		cw = csv.NewWriter(w)
		if err := cw.Write(CSVHeader); err != nil {
			return err
		}
	}
	n := 0
	for e, err := range l.Events(ctx, f) {
		if err != nil {
			return err
		}
		switch format {
		case JSON, JSONL:
			b, err := json.Marshal(exported{Event: e, Outcome: e.outcome()})
			if err != nil {
				return err
			}
			sep := ""
			if format == JSON && n > 0 {
				sep = ","
			}
			if format == JSONL {
				b = append(b, '\n')
			}
			if _, err := io.WriteString(w, sep); err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		case CSV:
			data := ""
			if len(e.Data) > 0 {
				b, _ := json.Marshal(e.Data)
				data = string(b)
			}
			row := []string{e.ID, e.Timestamp.UTC().Format(time.RFC3339Nano), string(e.Type), string(e.Level), e.Message, e.UserID, e.Tenant, data, e.outcome()}
			for i := range row {
				row[i] = SafeCSVCell(row[i])
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		n++
	}
	switch format {
	case JSON:
		_, err := io.WriteString(w, "]\n")
		return err
	case CSV:
		cw.Flush()
		return cw.Error()
	}
	return nil
}

// SafeCSVCell defuses a cell a spreadsheet would evaluate as a formula.
func SafeCSVCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

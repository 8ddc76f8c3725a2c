package console

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
)

// flagChange is one line of a flag's history.
type flagChange struct {
	Event    audit.Event
	Old, New string // the flag's summary before and after, as the Set audited it
}

// flagHistoryData is the history page's data.
type flagHistoryData struct {
	Flag    string
	Changes []flagChange // newest first
}

// flagHistory lists a flag's changes from the audit log, newest first,
// each with the state before and after.
func (c *console) flagHistory(w http.ResponseWriter, r *http.Request) {
	if !c.flagsReady(w, r) {
		return
	}
	if c.cfg.Log == nil {
		c.notConfigured(w, r, "flags", "The audit log, which holds each flag's history,")
		return
	}
	name := r.PathValue("name")
	evs, err := c.typedEvents(r.Context(), audit.TypeFlagChanged, audit.TypeFlagDeleted)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := flagHistoryData{Flag: name}
	for _, e := range slices.Backward(evs) {
		if e.Data[audit.DataFlag] == name {
			d.Changes = append(d.Changes, flagChange{Event: e, Old: summary(e.Data["old"]), New: summary(e.Data["new"])})
		}
	}
	c.render(w, r, http.StatusOK, "flaghistory", "", page{Title: "History of " + name, Nav: "flags", Data: d})
}

// summary prints an audited value, "" for none.
func summary(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// typedEvents returns the events of types (some of keptTypes), oldest
// first: from the shared cache when the principal may read the whole log,
// else by reading the whole log (which refuses the others).
func (c *console) typedEvents(ctx context.Context, types ...audit.EventType) ([]audit.Event, error) {
	if c.allowed(ctx, steward.ActionAuditRead, "") && c.useShared(ctx, true) {
		return c.shared.keptEvents(types...), nil
	}
	return c.cfg.Log.Query(ctx, audit.Filter{Types: types})
}

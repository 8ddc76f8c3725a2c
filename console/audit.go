package console

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
)

// defaultAuditLimit is how many events the Audit page lists by default.
const defaultAuditLimit = 100

// auditQuery is the Audit page's filter as the form sends it, and the
// page's cursor (from the Newer and Older links).
type auditQuery struct {
	Type, Tenant, User, From, To string
	FailuresOnly                 bool
	Limit                        int // events a page
	Cursor                       cursor
}

// parseAuditQuery reads the filter; dates are YYYY-MM-DD, in UTC.
func parseAuditQuery(v url.Values) (auditQuery, audit.Filter, error) {
	q := auditQuery{Type: v.Get("type"), Tenant: v.Get("tenant"), User: v.Get("user"),
		From: v.Get("from"), To: v.Get("to"), FailuresOnly: v.Get("failures") == "on", Limit: defaultAuditLimit}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, audit.Filter{}, fmt.Errorf("console: limit %q is not a positive number", s)
		}
		q.Limit = n
	}
	q.Cursor = cursor{Before: v.Get("before"), After: v.Get("after")}
	if q.Cursor.Before != "" && q.Cursor.After != "" {
		return q, audit.Filter{}, errors.New("console: a page is before an event or after one, not both")
	}
	f := audit.Filter{Tenant: q.Tenant, UserID: q.User, FailuresOnly: q.FailuresOnly, Limit: q.Limit}
	if q.Type != "" {
		f.Types = []audit.EventType{audit.EventType(q.Type)}
	}
	var err error
	if f.From, err = parseDay(q.From, 0); err != nil {
		return q, f, err
	}
	f.To, err = parseDay(q.To, 24*time.Hour)
	return q, f, err
}

// parseDay parses a YYYY-MM-DD date (zero for ""), plus add.
func parseDay(s string, add time.Duration) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return t, fmt.Errorf("console: date %q is not YYYY-MM-DD", s)
	}
	return t.Add(add), nil
}

// auditData is the Audit page's data.
type auditData struct {
	Query                  auditQuery
	Events                 []audit.Event
	Verified               *verification
	VerifyErr              string // why the chain does not verify, or may not be verified
	ExportJSONL, ExportCSV string // the export links, with the filter
	Newer, Older           string // the links to the next pages, "" at either end
	Unpaged                bool   // the log could not be followed: the newest events, without pages
}

// filterValues is q's filter as query parameters, without the cursor.
func (q auditQuery) filterValues() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"type": q.Type, "tenant": q.Tenant, "user": q.User, "from": q.From, "to": q.To} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.FailuresOnly {
		v.Set("failures", "on")
	}
	return v
}

// exportLink is the export URL of q's filter in format.
func (c *console) exportLink(q auditQuery, format audit.Format) string {
	v := q.filterValues()
	v.Set("format", string(format))
	return c.cfg.BasePath + "/audit/export?" + v.Encode()
}

// pageLinks sets d's links to the pages newer and older than p.
func (c *console) pageLinks(d *auditData, p eventPage) {
	if !p.paged || len(p.events) == 0 {
		d.Unpaged = !p.paged
		return
	}
	link := func(name, id string) string {
		v := d.Query.filterValues()
		if d.Query.Limit != defaultAuditLimit {
			v.Set("limit", strconv.Itoa(d.Query.Limit))
		}
		v.Set(name, id)
		return c.cfg.BasePath + "/audit?" + v.Encode()
	}
	if id := p.events[0].Event.ID; p.newer && id != "" {
		d.Newer = link("after", id)
	}
	if id := p.events[len(p.events)-1].Event.ID; p.older && id != "" {
		d.Older = link("before", id)
	}
}

// auditList lists a page of the matching events, newest first (see
// auditEvents), with the chain's verification status.
func (c *console) auditList(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Log == nil {
		c.notConfigured(w, r, "audit", "The audit log")
		return
	}
	q, f, err := parseAuditQuery(r.URL.Query())
	if err != nil {
		c.badRequest(w, r, err.Error())
		return
	}
	ctx := r.Context()
	if f.Tenant == "" && !c.allowed(ctx, steward.ActionAuditRead, "") {
		// A tenant-scoped principal reads its own tenant's events.
		if own := c.ownTenants(ctx, steward.ActionAuditRead); len(own) > 0 {
			f.Tenant, q.Tenant = own[0], own[0]
		}
	}
	d := auditData{Query: q, ExportJSONL: c.exportLink(q, audit.JSONL), ExportCSV: c.exportLink(q, audit.CSV)}
	p, err := c.auditEvents(ctx, f, q.Cursor)
	if errors.Is(err, errNoSuchEvent) {
		c.badRequest(w, r, err.Error())
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, rec := range p.events {
		d.Events = append(d.Events, rec.Event)
	}
	c.pageLinks(&d, p)
	c.render(w, r, http.StatusOK, "audit", "", page{Title: "Audit", Nav: "audit", Data: d})
}

// auditVerify verifies the chain and shows its status: the events appended
// since the last verification, or every event with ?full=1 (and at least
// once a day). The Audit page loads it with htmx once it is shown; without
// JavaScript the page links to it.
func (c *console) auditVerify(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Log == nil {
		c.notConfigured(w, r, "audit", "The audit log")
		return
	}
	var d auditData
	if err := c.authorize(r.Context(), steward.ActionAuditRead, ""); err != nil {
		d.VerifyErr = "you may not verify the whole chain"
	} else if v, err := c.verifyChain(r.Context(), r.URL.Query().Get("full") == "1"); err != nil {
		d.VerifyErr = err.Error()
	} else {
		d.Verified = v
	}
	fragment := ""
	if isHTMX(r) {
		fragment = "chain-status"
	}
	c.render(w, r, http.StatusOK, "auditverify", fragment, page{Title: "Audit chain", Nav: "audit", Data: d})
}

// auditExport streams the matching events as JSONL or CSV (?format=).
// Without a limit in the query it exports every match.
func (c *console) auditExport(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Log == nil {
		c.notConfigured(w, r, "audit", "The audit log")
		return
	}
	v := r.URL.Query()
	format, err := audit.ParseFormat(v.Get("format"))
	if err != nil || format == audit.JSON {
		c.badRequest(w, r, fmt.Sprintf("console: export format %q is not jsonl or csv", v.Get("format")))
		return
	}
	_, f, err := parseAuditQuery(v)
	if err != nil {
		c.badRequest(w, r, err.Error())
		return
	}
	if v.Get("limit") == "" {
		f.Limit = 0
	}
	if err := c.authorize(r.Context(), steward.ActionAuditRead, f.Tenant); err != nil {
		c.fail(w, r, err)
		return
	}
	c.streamExport(w, r, format, f)
}

// streamExport writes the export; a failure after the first byte aborts
// the connection so that a truncated file is not taken for a whole one.
func (c *console) streamExport(w http.ResponseWriter, r *http.Request, format audit.Format, f audit.Filter) {
	ext, ctype := "jsonl", "application/jsonl"
	if format == audit.CSV {
		ext, ctype = "csv", "text/csv; charset=utf-8"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", attachment("audit."+ext))
	if err := c.cfg.Log.Export(r.Context(), w, format, f); err != nil {
		slog.ErrorContext(r.Context(), "console: audit export failed", "err", err)
		panic(http.ErrAbortHandler)
	}
}

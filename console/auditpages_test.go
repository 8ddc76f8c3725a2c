package console_test

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/storage"
)

var (
	eventIDRE = regexp.MustCompile(`data-testid="event-([^"]+)"`)
	newerRE   = regexp.MustCompile(`href="([^"]+)" rel="prev" data-testid="page-newer"`)
	olderRE   = regexp.MustCompile(`href="([^"]+)" rel="next" data-testid="page-older"`)
)

// auditPage is one Audit page as user sees it: its events' IDs, newest
// first, and its Newer and Older links ("" when absent).
type auditPage struct {
	ids          []string
	newer, older string
}

func getAuditPage(t testing.TB, h http.Handler, user, path string) auditPage {
	t.Helper()
	w := get(t, h, user, path)
	require.Equal(t, http.StatusOK, w.Code, "%s: %s", path, w.Body.String())
	body := w.Body.String()
	var p auditPage
	for _, m := range eventIDRE.FindAllStringSubmatch(body, -1) {
		p.ids = append(p.ids, m[1])
	}
	if m := newerRE.FindStringSubmatch(body); m != nil {
		p.newer = html.UnescapeString(m[1])
	}
	if m := olderRE.FindStringSubmatch(body); m != nil {
		p.older = html.UnescapeString(m[1])
	}
	return p
}

// walkAuditPages follows the Older links from path to the last page, then
// the Newer links back to the first; it returns every page, newest first,
// and requires the way back to show the same pages.
func walkAuditPages(t testing.TB, h http.Handler, user, path string) [][]string {
	t.Helper()
	var pages [][]string
	p := getAuditPage(t, h, user, path)
	require.Empty(t, p.newer, "%s: the first page has no newer one", path)
	for {
		require.NotEmpty(t, p.ids, "%s: an empty page", path)
		pages = append(pages, p.ids)
		if p.older == "" {
			break
		}
		require.Less(t, len(pages), 1000, "the Older links loop")
		p = getAuditPage(t, h, user, p.older)
		require.NotEmpty(t, p.newer, "a page after the first links to the newer one")
	}
	for i := len(pages) - 2; i >= 0; i-- {
		p = getAuditPage(t, h, user, p.newer)
		require.Equal(t, pages[i], p.ids, "page %d, reached back by the Newer links", i+1)
	}
	require.Empty(t, p.newer)
	return pages
}

// ids are the events' IDs, newest first.
func ids(evs []audit.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].ID
	}
	return out
}

// seedEvents records n events of acme and globex, alternately, one in
// five a failure of globex's naming it secretly.
func seedEvents(t testing.TB, f *fixture, n int) {
	t.Helper()
	for i := range n {
		e := audit.Event{Type: audit.TypeBackupCreated, Tenant: "acme", UserID: "scheduler", Message: fmt.Sprint("acme event ", i)}
		if i%2 == 1 {
			e.Tenant, e.Message = "globex", fmt.Sprint("globex event ", i)
		}
		if i%5 == 0 {
			e.Type, e.Tenant, e.Level, e.Message = audit.TypeBackupFailed, "globex", audit.LevelError, "globex secret failure"
		}
		require.NoError(t, f.log.Record(masterCtx(), e))
	}
}

// The Audit page pages through the matching events with Newer and Older
// links (by sequence number): 25 at a time, the pages together are every
// match, newest first, as the log returns them (Log.Recent), for the
// master, a filter, and a tenant-scoped principal, whose pages are its
// tenant's events and the first of them what the old page showed.
func TestAuditPagesThroughEveryMatch(t *testing.T) {
	f := newFixture(t)
	seedEvents(t, f, 230)
	acmeCtx := steward.WithPrincipal(masterCtx(), steward.Principal{ID: "acme-admin", Tenants: []string{"acme"}})
	for _, tc := range []struct {
		user, query string // the filter's query, without the page size
		filter      audit.Filter
	}{
		{user: userMaster},
		{user: userMaster, query: "tenant=globex&failures=on", filter: audit.Filter{Tenant: "globex", FailuresOnly: true}},
		{user: userAcme, filter: audit.Filter{Tenant: "acme"}},
	} {
		ctx := masterCtx()
		if tc.user == userAcme {
			ctx = acmeCtx
		}
		all, _, err := f.log.Recent(ctx, tc.filter) // the old page's way
		require.NoError(t, err)
		require.Greater(t, len(all), 25, tc.query)
		pages := walkAuditPages(t, f.h, tc.user, "/audit?limit=25&"+tc.query)
		require.Len(t, pages, (len(all)+24)/25, tc.query)
		require.Equal(t, ids(all), slices.Concat(pages...), tc.query)

		tc.filter.Limit = 100
		first, _, err := f.log.Recent(ctx, tc.filter)
		require.NoError(t, err)
		require.Equal(t, ids(first), getAuditPage(t, f.h, tc.user, "/audit?"+tc.query).ids,
			"%s: the default first page, 100 events", tc.query)
	}
}

// A cursor names an event the filter matches: a page before the oldest or
// after the newest is empty; one that names no such event (none
// at all, or one of another tenant for a tenant-scoped principal) is
// refused, as are both cursors at once. The links name events by ID,
// never by sequence number.
func TestAuditPageCursors(t *testing.T) {
	f := newFixture(t)
	seedEvents(t, f, 20)
	all, err := f.log.Query(masterCtx(), audit.Filter{})
	require.NoError(t, err)
	oldest, newest := all[0].ID, all[len(all)-1].ID
	require.Empty(t, getAuditPage(t, f.h, userMaster, "/audit?before="+oldest).ids)
	require.Empty(t, getAuditPage(t, f.h, userMaster, "/audit?after="+newest).ids)
	p := getAuditPage(t, f.h, userMaster, "/audit?after="+oldest+"&limit=2")
	require.Equal(t, []string{all[2].ID, all[1].ID}, p.ids)
	require.Contains(t, p.newer, "after="+all[2].ID)
	require.Contains(t, p.older, "before="+all[1].ID)

	var globex string
	for _, e := range all {
		if e.Tenant == "globex" {
			globex = e.ID
		}
	}
	for user, q := range map[string]string{userMaster: "before=no-such-event", userAcme: "before=" + globex} {
		w := get(t, f.h, user, "/audit?"+q)
		require.Equal(t, http.StatusBadRequest, w.Code, "%s: %s", q, w.Body.String())
		require.NotContains(t, w.Body.String(), `data-testid="event-`)
	}
	require.Equal(t, http.StatusBadRequest, get(t, f.h, userMaster, "/audit?before="+oldest+"&after="+newest).Code)
}

// When the log cannot be followed (an old record edited in the store),
// the first page still shows the newest events, read from the tail, and an
// older page shows them too, saying it cannot page, without links.
func TestAuditPageWithoutTheIndex(t *testing.T) {
	f := newFixture(t)
	seedEvents(t, f, 150)
	key := "audit/events/00000000000000000003"
	b, err := storage.ReadAll(masterCtx(), f.store, key)
	require.NoError(t, err)
	edited := strings.Replace(string(b), `"tenant":"globex"`, `"tenant":"evil"`, 1)
	require.NotEqual(t, string(b), edited)
	require.NoError(t, storage.PutBytes(masterCtx(), f.store, key, []byte(edited), nil))

	first := getAuditPage(t, f.h, userMaster, "/audit?limit=25")
	require.Len(t, first.ids, 25)
	require.NotEmpty(t, first.older)
	w := get(t, f.h, userMaster, first.older)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), `data-testid="audit-unpaged"`)
	require.NotContains(t, w.Body.String(), `data-testid="audit-pager"`)
	require.Equal(t, first.ids, getAuditPage(t, f.h, userMaster, first.older).ids, "the newest events")
}

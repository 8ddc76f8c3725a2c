package console_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/console"
)

func TestNewRefusesABadConfig(t *testing.T) {
	for name, cfg := range map[string]*console.Config{
		"nil":               nil,
		"no Authenticate":   {},
		"relative BasePath": {Authenticate: authenticate, BasePath: "admin"},
		"trailing slash":    {Authenticate: authenticate, BasePath: "/admin/"},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := console.New(cfg)
			require.ErrorIs(t, err, console.ErrConfig)
			require.Nil(t, h)
		})
	}
}

// pageCase is one page of the fixture and text it must show a master.
type pageCase struct {
	name, path string
	want       []string
}

// pages lists every page of the fixture.
func pages(f *fixture) []pageCase {
	acme := f.snaps["acme"]
	return []pageCase{
		{"overview", "/", []string{`data-testid="tenant-acme"`, `data-testid="tenant-globex"`}},
		{"snapshots", "/snapshots", []string{acme[0].ID, acme[1].ID, f.snaps["globex"][0].ID}},
		{"snapshot", "/snapshots/acme/" + acme[1].ID, []string{"users", "assets", acme[1].Checksums["users"]}},
		{"files", "/snapshots/acme/" + acme[1].ID + "/files?dir=users", []string{"alice.json", "carol.json"}},
		{"diff", "/diff?tenant=acme&a=" + acme[0].ID + "&b=" + acme[1].ID, []string{"1 added, 1 removed, 1 changed"}},
		{"restore", "/restore", []string{`data-testid="restore-tenant"`, "<option>globex</option>"}},
		{"restore-options", "/restore?tenant=acme&snapshot=" + acme[1].ID, []string{`data-testid="module-users"`}},
		{"restore-plan", "/restore/plan?tenant=acme&mode=full&snapshot=" + acme[1].ID, []string{`data-testid="restore-confirm"`}},
		{"flags", "/flags", []string{`data-testid="flag-new-ui"`}},
		{"audit", "/audit", []string{`hx-get="/audit/verify"`, "backup.created"}},
		{"audit-verify", "/audit/verify", []string{"chain verified"}},
		{"releases", "/releases", []string{`data-testid="active-prod">1.1.0`, "rollback-prod-1.0.0"}},
		{"retention", "/retention?tenant=acme", []string{`data-testid="retention-summary"`, "newest"}},
	}
}

func TestEveryPageRendersForAMaster(t *testing.T) {
	f := newFixture(t)
	for _, pc := range pages(f) {
		t.Run(pc.name, func(t *testing.T) {
			w := get(t, f.h, userMaster, pc.path)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			for _, s := range pc.want {
				require.Contains(t, w.Body.String(), s)
			}
		})
	}
}

var scriptTagRE = regexp.MustCompile(`<script[^>]*>`)

// Every response carries the CSP (no inline scripts allowed) and nosniff,
// and no page holds an inline script or an inline event handler.
func TestSecurityHeadersAndNoInlineScript(t *testing.T) {
	f := newFixture(t)
	paths := []string{"/static/console.css", "/nope"}
	for _, pc := range pages(f) {
		paths = append(paths, pc.path)
	}
	for _, p := range paths {
		w := get(t, f.h, userMaster, p)
		csp := w.Header().Get("Content-Security-Policy")
		require.Contains(t, csp, "default-src 'self'", p)
		require.Contains(t, csp, "frame-ancestors 'none'", p)
		require.NotContains(t, csp, "unsafe-inline", p)
		require.NotContains(t, csp, "unsafe-eval", p)
		require.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"), p)
		require.Equal(t, "no-store", w.Header().Get("Cache-Control"), p)
		for _, tag := range scriptTagRE.FindAllString(w.Body.String(), -1) {
			require.Contains(t, tag, " src=", "inline script on %s", p)
		}
		require.NotRegexp(t, `\son[a-z]+="`, w.Body.String(), "inline event handler on %s", p)
	}
	w := get(t, f.h, "", "/")
	require.Equal(t, http.StatusUnauthorized, w.Code)
	require.Contains(t, w.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'")
}

func TestHtmxIsServedFromTheHandler(t *testing.T) {
	f := newFixture(t)
	w := get(t, f.h, userMaster, "/static/htmx-2.0.11.min.js")
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), `version:"2.0.11"`)
	require.Contains(t, w.Body.String(), "Zero-Clause BSD")
	require.Contains(t, w.Header().Get("Content-Type"), "javascript")
}

func TestEveryRequestAuthenticates(t *testing.T) {
	f := newFixture(t)
	cfg := *f.cfg
	cfg.Authenticate = func(*http.Request) (steward.Principal, error) {
		return steward.Principal{}, fmt.Errorf("account locked: %w", steward.ErrForbidden)
	}
	locked, err := console.New(&cfg)
	require.NoError(t, err)
	w := get(t, locked, userMaster, "/")
	require.Equal(t, http.StatusForbidden, w.Code, "an Authenticate error matching ErrForbidden")
	require.NotContains(t, w.Body.String(), "acme")

	for _, p := range []string{"/", "/snapshots", "/static/console.css", "/audit/export?format=csv"} {
		w := get(t, f.h, "", p)
		require.Equal(t, http.StatusUnauthorized, w.Code, p)
		require.NotContains(t, w.Body.String(), "acme", p)
	}
}

// A console without SDK values says so on every page instead of failing.
func TestPagesSayWhatIsNotConfigured(t *testing.T) {
	h, err := console.New(&console.Config{Authenticate: authenticate})
	require.NoError(t, err)
	for _, p := range []string{"/", "/snapshots", "/restore", "/flags", "/audit", "/releases", "/retention"} {
		w := get(t, h, userMaster, p)
		require.Equal(t, http.StatusOK, w.Code, p)
		require.Contains(t, w.Body.String(), "is not configured", p)
	}
}

func TestBasePath(t *testing.T) {
	f := newFixture(t)
	cfg := *f.cfg
	cfg.BasePath = "/admin"
	h, err := console.New(&cfg)
	require.NoError(t, err)
	w := get(t, h, userMaster, "/admin/")
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), `href="/admin/snapshots"`)
	require.Contains(t, w.Body.String(), `src="/admin/static/htmx-2.0.11.min.js"`)
	require.Equal(t, http.StatusOK, get(t, h, userMaster, "/admin/snapshots?tenant=acme").Code)
	require.Equal(t, http.StatusNotFound, get(t, h, userMaster, "/snapshots").Code)
}

func TestDownloadStreamsTheOriginalBytes(t *testing.T) {
	f := newFixture(t)
	id := f.snaps["acme"][1].ID
	for _, p := range []string{"assets/logo.png", "users/carol.json"} {
		w := get(t, f.h, userMaster, "/snapshots/acme/"+id+"/download?path="+url.QueryEscape(p))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.Equal(t, f.files["acme"][p], w.Body.Bytes(), "downloaded %s differs from the original", p)
		require.Contains(t, w.Header().Get("Content-Disposition"), "attachment")
	}
	w := get(t, f.h, userMaster, "/snapshots/acme/"+id+"/download?path=users/nobody.json")
	require.Equal(t, http.StatusNotFound, w.Code)
	w = get(t, f.h, userMaster, "/snapshots/acme/"+id+"/download?path=users")
	require.Equal(t, http.StatusNotFound, w.Code, "a directory is not downloadable")
}

func TestDiffListsAddedRemovedAndChangedWithSizes(t *testing.T) {
	f := newFixture(t)
	a, b := f.snaps["acme"][0].ID, f.snaps["acme"][1].ID
	w := get(t, f.h, userMaster, "/diff?tenant=acme&a="+a+"&b="+b)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	body := w.Body.String()
	row := func(p string) string {
		m := regexp.MustCompile(`(?s)<tr class="(\w+)" data-testid="change-` + regexp.QuoteMeta(p) + `">(.*?)</tr>`).FindStringSubmatch(body)
		require.NotNil(t, m, "no row for %s in the diff", p)
		return m[1] + " " + m[2]
	}
	require.Contains(t, row("users/carol.json"), "added")
	require.Contains(t, row("users/carol.json"), "16 B")
	require.Contains(t, row("users/bob.json"), "removed")
	require.Contains(t, row("users/bob.json"), "14 B")
	require.Contains(t, row("config/app.yaml"), "changed")
	require.Contains(t, row("config/app.yaml"), "12 B")
	require.Contains(t, row("config/app.yaml"), "22 B")
	require.NotContains(t, body, `data-testid="change-assets/logo.png"`, "an unchanged file is not in the diff")
}

func TestSnapshotFilters(t *testing.T) {
	f := newFixture(t)
	acme, globex := f.snaps["acme"], f.snaps["globex"]
	for _, tc := range []struct {
		query    string
		want, no []string
	}{
		{"tenant=acme", []string{acme[0].ID, acme[1].ID}, []string{globex[0].ID}},
		{"type=full", []string{acme[0].ID, globex[0].ID}, []string{acme[1].ID, globex[1].ID}},
		{"tag=nightly&tenant=globex", []string{globex[1].ID}, []string{globex[0].ID, acme[1].ID}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			w := get(t, f.h, userMaster, "/snapshots?"+tc.query)
			require.Equal(t, http.StatusOK, w.Code)
			for _, id := range tc.want {
				require.Contains(t, w.Body.String(), `data-testid="snapshot-`+id)
			}
			for _, id := range tc.no {
				require.NotContains(t, w.Body.String(), `data-testid="snapshot-`+id)
			}
		})
	}
}

func TestAuditExportCSVAndJSONL(t *testing.T) {
	f := newFixture(t)
	w := get(t, f.h, userMaster, "/audit/export?format=csv&type=backup.created&tenant=acme")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	rows, err := csv.NewReader(strings.NewReader(w.Body.String())).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 1+2, "a header and acme's 2 backups: %v", rows)
	require.Equal(t, "type", rows[0][2])
	for _, row := range rows[1:] {
		require.Equal(t, "backup.created", row[2])
		require.Equal(t, "acme", row[6])
	}

	w = get(t, f.h, userMaster, "/audit/export?format=jsonl&tenant=globex&type=backup.created")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	sc, n := bufio.NewScanner(w.Body), 0
	for sc.Scan() {
		var e audit.Event
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		require.Equal(t, "globex", e.Tenant)
		n++
	}
	require.Equal(t, 2, n)
	require.Equal(t, http.StatusBadRequest, get(t, f.h, userMaster, "/audit/export?format=xml").Code)
}

func TestAuditPageFilters(t *testing.T) {
	f := newFixture(t)
	w := get(t, f.h, userMaster, "/audit?tenant=acme&type=backup.created")
	require.Equal(t, 2, strings.Count(w.Body.String(), `data-testid="event-`))
}

func TestRetentionPreviewChangesNothing(t *testing.T) {
	f := newFixture(t)
	w := get(t, f.h, userMaster, "/retention?tenant=acme")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	for _, s := range f.snaps["acme"] {
		require.Contains(t, w.Body.String(), `data-testid="decision-`+s.ID)
	}
	cat, err := f.engine.Catalog(masterCtx(), "acme")
	require.NoError(t, err)
	require.Len(t, cat, 2)
}

// The chain's status is the Log's verdict: an event edited in the store
// shows as not verified.
func TestAuditVerifyReportsATamperedChain(t *testing.T) {
	f := newFixture(t)
	require.Contains(t, get(t, f.h, userMaster, "/audit/verify").Body.String(), "every event checked")
	// Events appended since are checked incrementally.
	require.NoError(t, f.log.Record(masterCtx(), audit.Event{Type: "test.event", Message: "one more"}))
	require.Contains(t, get(t, f.h, userMaster, "/audit/verify").Body.String(), "1 new events checked")
	key := "audit/events/00000000000000000003"
	rc, err := f.store.Get(masterCtx(), key)
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	edited := strings.Replace(string(b), `"tenant":"globex"`, `"tenant":"evil"`, 1)
	require.NotEqual(t, string(b), edited, "event 3 is globex's second backup")
	require.NoError(t, f.store.Put(masterCtx(), key, strings.NewReader(edited), nil))

	// The incremental check reads only events appended since: it cannot
	// see the edit (and says it checked no new event); a full one does.
	w := get(t, f.h, userMaster, "/audit/verify")
	require.Contains(t, w.Body.String(), "0 new events checked")
	w = get(t, f.h, userMaster, "/audit/verify?full=1")
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), "not verified")
	require.NotContains(t, w.Body.String(), "chain verified")
	w = get(t, f.h, userMaster, "/audit/verify")
	require.Contains(t, w.Body.String(), "not verified", "once found, a problem is reported until the chain passes whole")
	w = do(t, f.h, userMaster, http.MethodGet, "/audit/verify", nil, http.Header{"Hx-Request": {"true"}})
	require.Contains(t, w.Body.String(), `data-testid="chain-status"`)
	require.NotContains(t, w.Body.String(), "<html", "htmx gets the status alone")
}

func TestSnapshotsPaginate(t *testing.T) {
	f := newFixture(t)
	for i := range 100 {
		f.backup(t, "acme", map[string][]byte{"users/n.json": []byte(strconv.Itoa(i))}, "incremental", nil)
	}
	w := get(t, f.h, userMaster, "/snapshots?tenant=acme")
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	require.Equal(t, 100, strings.Count(body, `<tr data-testid="snapshot-`), "a page holds 100")
	require.Contains(t, body, "page 1 of 2 (102 in all)")
	require.NotContains(t, body, f.snaps["acme"][0].ID, "the oldest is on page 2")
	m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(body)
	require.NotNil(t, m)
	w = get(t, f.h, userMaster, html.UnescapeString(m[1]))
	body = w.Body.String()
	require.Equal(t, 2, strings.Count(body, `<tr data-testid="snapshot-`))
	require.Contains(t, body, f.snaps["acme"][0].ID)
	require.Contains(t, body, "tenant=acme", "the next page keeps the filter")
}

// Editing the policy previews its plan and changes nothing; saving stores
// it through Policies, and a tenant-scoped principal may not.
func TestRetentionEditPreviewAndSave(t *testing.T) {
	f := newFixture(t)
	acme := f.snaps["acme"]
	// Keep only the newest: the older snapshot would be forgotten.
	w := get(t, f.h, userMaster, "/retention?tenant=acme&keep_last=1&incremental_days=0&weekly_full_count=0&monthly_full_count=0&pre_deploy_days=0")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), "The edited policy of acme keeps <strong>1</strong> snapshots and would forget <strong>1</strong>")
	require.Regexp(t, `data-testid="decision-`+acme[0].ID+`"><td>.*?</td><td>.*?</td><td>.*?</td>\s*<td>forget`, w.Body.String())
	stored, err := f.cfg.Policies.Get(masterCtx(), "acme")
	require.NoError(t, err)
	require.Zero(t, stored.KeepLast, "a preview stored the policy")

	w = get(t, f.h, userMaster, "/retention?tenant=acme&keep_last=0&incremental_days=0&weekly_full_count=0&monthly_full_count=0&pre_deploy_days=0")
	require.Contains(t, w.Body.String(), `data-testid="policy-error"`, "an empty policy cannot be previewed")

	token := csrfToken(t, f.h, userMaster, "/flags")
	form := url.Values{"csrf": {token}, "keep_last": {"1"}, "incremental_days": {"0"}, "weekly_full_count": {"0"}, "monthly_full_count": {"0"}, "pre_deploy_days": {"0"}}
	w = post(t, f.h, userAcme, "/retention/acme", url.Values{"csrf": {csrfToken(t, f.h, userAcme, "/restore/plan?tenant=acme&mode=full&snapshot="+acme[1].ID)}, "keep_last": {"1"}})
	require.Equal(t, http.StatusForbidden, w.Code, "a tenant's admin may not change its policy")
	w = post(t, f.h, userMaster, "/retention/acme", form)
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	stored, err = f.cfg.Policies.Get(masterCtx(), "acme")
	require.NoError(t, err)
	require.Equal(t, 1, stored.KeepLast)
	require.Zero(t, stored.IncrementalDays)
	require.Equal(t, "0 2 * * *", stored.Schedule, "fields the form does not edit are kept")
	cat, err := f.engine.Catalog(masterCtx(), "acme")
	require.NoError(t, err)
	require.Len(t, cat, 2, "saving a policy forgets nothing")
}

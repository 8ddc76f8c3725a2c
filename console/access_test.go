package console_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
)

// A tenant-scoped principal sees its own tenant and nothing of another:
// lists leave it out, and pages and actions naming it are refused.
func TestTenantScopedPrincipalSeesOnlyItsTenant(t *testing.T) {
	f := newFixture(t)
	own, other := f.snaps["acme"][1].ID, f.snaps["globex"][1].ID
	for _, p := range []string{"/", "/snapshots", "/restore", "/retention"} {
		w := get(t, f.h, userAcme, p)
		require.Equal(t, http.StatusOK, w.Code, "%s: %s", p, w.Body.String())
		require.NotContains(t, w.Body.String(), "globex", p)
		require.NotContains(t, w.Body.String(), other, p)
	}
	require.Contains(t, get(t, f.h, userAcme, "/").Body.String(), `data-testid="tenant-acme"`)
	require.Contains(t, get(t, f.h, userAcme, "/snapshots").Body.String(), own)

	allowed := []string{
		"/snapshots/acme/" + own,
		"/snapshots/acme/" + own + "/files?dir=users",
		"/snapshots/acme/" + own + "/download?path=users/alice.json",
		"/restore?tenant=acme&snapshot=" + own,
	}
	for _, p := range allowed {
		require.Equal(t, http.StatusOK, get(t, f.h, userAcme, p).Code, p)
	}
	refused := []string{
		"/snapshots?tenant=globex",
		"/snapshots/globex/" + other,
		"/snapshots/globex/" + other + "/files",
		"/snapshots/globex/" + other + "/download?path=users/alice.json",
		"/diff?tenant=globex&a=" + f.snaps["globex"][0].ID + "&b=" + other,
		"/restore?tenant=globex",
		"/restore?tenant=globex&snapshot=" + other,
		"/restore/plan?tenant=globex&snapshot=" + other + "&mode=full",
		"/retention?tenant=globex",
		"/audit?tenant=globex",
		"/audit/export?format=csv&tenant=globex",
		"/flags",
		"/releases",
	}
	for _, p := range refused {
		w := get(t, f.h, userAcme, p)
		require.Equal(t, http.StatusForbidden, w.Code, "%s: %s", p, w.Body.String())
		require.NotContains(t, w.Body.String(), `alice`, p)
	}
}

// A tenant-scoped principal with a valid CSRF token still cannot restore
// another tenant, toggle a flag or roll a release back: 403, and nothing
// changed.
func TestTenantScopedPrincipalCannotActOnOthers(t *testing.T) {
	f := newFixture(t)
	token := csrfToken(t, f.h, userAcme, "/restore/plan?tenant=acme&mode=full&snapshot="+f.snaps["acme"][1].ID)
	other := f.snaps["globex"][1].ID
	w := post(t, f.h, userAcme, "/restore/run", url.Values{"csrf": {token}, "tenant": {"globex"},
		"snapshot": {other}, "mode": {"full"}, "confirm": {"globex"}})
	require.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
	require.Empty(t, treeOf(t, f.live), "a refused restore wrote files")

	before, _ := f.flags.Get("new-ui")
	w = post(t, f.h, userAcme, "/flags/new-ui/toggle", url.Values{"csrf": {token}, "enabled": {"true"}})
	require.Equal(t, http.StatusForbidden, w.Code)
	after, _ := f.flags.Get("new-ui")
	require.Equal(t, before.Version, after.Version, "a refused toggle changed the flag")

	w = post(t, f.h, userAcme, "/releases/rollback", url.Values{"csrf": {token}, "release": {"prod-1.0.0"}, "reason": {"x"}})
	require.Equal(t, http.StatusForbidden, w.Code)
	active, err := f.releases.Active(masterCtx(), "prod")
	require.NoError(t, err)
	require.Equal(t, "1.1.0", active.Version)
}

// Every POST without the principal's CSRF token is refused with 403 before
// anything runs: the flag, the target and the active release are unchanged.
func TestPostsWithoutCSRFTokenChangeNothing(t *testing.T) {
	f := newFixture(t)
	acmeToken := csrfToken(t, f.h, userAcme, "/restore/plan?tenant=acme&mode=full&snapshot="+f.snaps["acme"][1].ID)
	posts := []struct {
		path string
		form url.Values
	}{
		{"/flags/new-ui/toggle", url.Values{"enabled": {"true"}}},
		{"/flags/new-ui", url.Values{"rollout": {"100"}}},
		{"/restore/run", url.Values{"tenant": {"acme"}, "snapshot": {f.snaps["acme"][1].ID}, "mode": {"full"}, "confirm": {"acme"}}},
		{"/releases/rollback", url.Values{"release": {"prod-1.0.0"}, "reason": {"bad deploy"}}},
		{"/releases/deploy", url.Values{"release": {"prod-1.0.0"}, "reason": {"again"}}},
		{"/retention/acme", url.Values{"keep_last": {"1"}}},
	}
	tokens := map[string]string{"none": "", "forged": "AAAA", "another principal's": acmeToken}
	flagBefore, _ := f.flags.Get("new-ui")
	for name, tok := range tokens {
		for _, p := range posts {
			form := url.Values{}
			for k, v := range p.form {
				form[k] = v
			}
			if tok != "" {
				form.Set("csrf", tok)
			}
			w := post(t, f.h, userMaster, p.path, form)
			require.Equal(t, http.StatusForbidden, w.Code, "%s token, POST %s: %s", name, p.path, w.Body.String())
			require.Contains(t, w.Body.String(), "CSRF")
		}
	}
	flagAfter, _ := f.flags.Get("new-ui")
	require.Equal(t, flagBefore, flagAfter, "the flag changed")
	require.Empty(t, treeOf(t, f.live), "the restore wrote files")
	active, err := f.releases.Active(masterCtx(), "prod")
	require.NoError(t, err)
	require.Equal(t, "1.1.0", active.Version, "the release was rolled back")
	deps, err := f.releases.Deployments(masterCtx(), 0)
	require.NoError(t, err)
	require.Len(t, deps, 2, "only the two seeded deploys")
	policy, err := f.cfg.Policies.Get(masterCtx(), "acme")
	require.NoError(t, err)
	require.Zero(t, policy.KeepLast, "the policy changed")
}

// The token also works in the header htmx sends.
func TestCSRFTokenInHeader(t *testing.T) {
	f := newFixture(t)
	token := csrfToken(t, f.h, userMaster, "/flags")
	w := do(t, f.h, userMaster, http.MethodPost, "/flags/new-ui/toggle", url.Values{"enabled": {"true"}},
		http.Header{"X-Csrf-Token": {token}, "Hx-Request": {"true"}})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), `aria-checked="true"`, "htmx gets the flag's row back, on")
	require.NotContains(t, w.Body.String(), "<html", "htmx gets a fragment, not a page")
	fl, _ := f.flags.Get("new-ui")
	require.True(t, fl.Enabled)
}

// An htmx request that fails gets the message alone, retargeted into the
// page's alert region, with the failure's status.
func TestHTMXErrorsAreRetargeted(t *testing.T) {
	f := newFixture(t)
	token := csrfToken(t, f.h, userMaster, "/flags")
	w := do(t, f.h, userMaster, http.MethodPost, "/flags/no-such-flag/toggle", url.Values{"enabled": {"true"}},
		http.Header{"X-Csrf-Token": {token}, "Hx-Request": {"true"}})
	require.Equal(t, http.StatusNotFound, w.Code)
	require.Equal(t, "#flash", w.Header().Get("HX-Retarget"))
	require.Contains(t, w.Body.String(), `no-such-flag`)
	require.NotContains(t, w.Body.String(), "<html")
}

// A tenant-scoped principal's Audit page shows its own tenant's events,
// and its export links keep that tenant.
func TestTenantScopedAuditDefaultsToItsTenant(t *testing.T) {
	f := newFixture(t)
	w := get(t, f.h, userAcme, "/audit")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), `value="acme" data-testid="audit-tenant"`)
	require.NotContains(t, w.Body.String(), "globex")
	require.Contains(t, get(t, f.h, userAcme, "/audit/verify").Body.String(), "you may not verify the whole chain")
	m := regexp.MustCompile(`href="([^"]+)" data-testid="export-csv"`).FindStringSubmatch(w.Body.String())
	require.NotNil(t, m)
	link := html.UnescapeString(m[1])
	w = get(t, f.h, userAcme, link)
	require.Equal(t, http.StatusOK, w.Code, "%s: %s", link, w.Body.String())
	require.Contains(t, w.Body.String(), "acme")
	require.NotContains(t, w.Body.String(), "globex")
}

// Every page, as a tenant-scoped principal: its own tenant's pages show
// and name no other tenant; the global ones (flags, releases) are refused.
func TestEveryPageForATenantScopedPrincipal(t *testing.T) {
	f := newFixture(t)
	refused := map[string]bool{"flags": true, "releases": true}
	menu := get(t, f.h, userAcme, "/").Body.String()
	require.Contains(t, menu, `data-testid="nav-snapshots"`)
	require.NotContains(t, menu, `data-testid="nav-flags"`, "the menu leaves out what the principal may not open")
	require.NotContains(t, menu, `data-testid="nav-releases"`)
	require.Contains(t, get(t, f.h, userMaster, "/").Body.String(), `data-testid="nav-flags"`)
	for _, pc := range pages(f) {
		t.Run(pc.name, func(t *testing.T) {
			w := get(t, f.h, userAcme, pc.path)
			if refused[pc.name] {
				require.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
				return
			}
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			require.NotContains(t, w.Body.String(), "globex")
			for _, s := range f.snaps["globex"] {
				require.NotContains(t, w.Body.String(), s.ID)
			}
		})
	}
}

// A tenant-scoped principal's Overview and Audit pages come from the index
// the server keeps of the whole log, yet show nothing of another tenant:
// whether the index was built for the master first or for the tenant, on
// every page of its events, with a cursor taken from another tenant's
// event, and with filters; naming another tenant is refused. Every event
// it is shown is its tenant's.
func TestTenantScopedPagesFromTheServerIndexShowOnlyItsTenant(t *testing.T) {
	for _, first := range []string{userMaster, userAcme} {
		t.Run(first+" first", func(t *testing.T) {
			f := newFixture(t)
			seedEvents(t, f, 60)
			master := get(t, f.h, first, "/").Body.String()
			if first == userMaster {
				require.Contains(t, master, "globex secret failure", "the master sees globex's failure")
			}
			all, err := f.log.Query(masterCtx(), audit.Filter{})
			require.NoError(t, err)
			tenantOf := map[string]string{}
			for _, e := range all {
				tenantOf[e.ID] = e.Tenant
			}
			body := get(t, f.h, userAcme, "/").Body.String()
			require.Contains(t, body, `data-testid="tenant-acme"`)
			require.NotContains(t, body, "globex")

			var acmeEvents []string
			for _, e := range all {
				if e.Tenant == "acme" {
					acmeEvents = append(acmeEvents, e.ID)
				}
			}
			acmeEvent := acmeEvents[len(acmeEvents)/2]
			paths := []string{"/audit?limit=7", "/audit?before=" + acmeEvent + "&limit=3", "/audit?after=" + acmeEvent + "&limit=3",
				"/audit?user=scheduler", "/audit?failures=on", "/audit?type=backup.failed"}
			for len(paths) > 0 {
				p := paths[0]
				paths = paths[1:]
				w := get(t, f.h, userAcme, p)
				require.Equal(t, http.StatusOK, w.Code, "%s: %s", p, w.Body.String())
				require.NotContains(t, w.Body.String(), "globex", p)
				pg := getAuditPage(t, f.h, userAcme, p)
				for _, id := range pg.ids {
					require.Equal(t, "acme", tenantOf[id], "%s shows event %s", p, id)
				}
				if pg.older != "" && strings.Contains(p, "limit=7") {
					paths = append(paths, pg.older)
				}
			}
			for _, p := range []string{"/audit?tenant=globex&before=" + acmeEvent, "/audit?tenant=globex", "/audit/export?format=jsonl&tenant=globex"} {
				w := get(t, f.h, userAcme, p)
				require.Equal(t, http.StatusForbidden, w.Code, "%s: %s", p, w.Body.String())
				require.NotContains(t, w.Body.String(), "secret", p)
			}
		})
	}
}

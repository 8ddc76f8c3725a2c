package console_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/console"
)

// The file browser offers ticks to a principal who may restore; a plan
// of the ticked entries holds only them, and the restore writes only
// them: a ticked file and a ticked directory's files, nothing else.
func TestRestoreTickedFilesOnly(t *testing.T) {
	f := newFixture(t)
	snap := f.snaps["acme"][1].ID
	files := "/snapshots/acme/" + snap + "/files?dir=users"
	body := get(t, f.h, userAcme, files).Body.String()
	require.Contains(t, body, `name="path" value="users/alice.json"`)
	require.Contains(t, body, `action="/restore/plan"`)

	plan := "/restore/plan?tenant=acme&mode=selective&snapshot=" + snap + "&path=users/alice.json&path=config"
	w := get(t, f.h, userAcme, plan)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), "2 files restored")
	require.Contains(t, w.Body.String(), `<input type="hidden" name="path" value="users/alice.json">`)
	require.NotContains(t, w.Body.String(), "carol.json", "the plan holds only the ticked entries")
	require.Equal(t, http.StatusBadRequest, get(t, f.h, userAcme, "/restore/plan?tenant=acme&mode=selective&snapshot="+snap+"&path=users/nobody.json").Code)

	// Something of the tenant's own already there stays.
	require.NoError(t, os.MkdirAll(filepath.Join(f.live, "acme"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(f.live, "acme", "notes.txt"), []byte("mine"), 0o644))
	form := url.Values{"csrf": {csrfRE.FindStringSubmatch(w.Body.String())[1]}, "tenant": {"acme"}, "snapshot": {snap},
		"mode": {"selective"}, "path": {"users/alice.json", "config"}, "confirm": {"acme"}}
	body = restoreAndWait(t, f.h, userAcme, form)
	require.Contains(t, body, `data-testid="report-paths">users/alice.json, config</span>`)
	want := map[string][]byte{"users/alice.json": f.files["acme"]["users/alice.json"],
		"config/app.yaml": f.files["acme"]["config/app.yaml"], "notes.txt": []byte("mine")}
	require.Equal(t, want, treeOf(t, f.live+"/acme"), "only the ticked entries are written")
}

// No ticks for a principal who may not restore the tenant.
func TestFileBrowserTicksNeedTheRestorePermission(t *testing.T) {
	f := newFixture(t)
	cfg := *f.cfg
	cfg.Restorer = nil
	h, err := console.New(&cfg)
	require.NoError(t, err)
	body := get(t, h, userMaster, "/snapshots/acme/"+f.snaps["acme"][1].ID+"/files").Body.String()
	require.NotContains(t, body, `name="path"`)
	require.Contains(t, get(t, f.h, userMaster, "/snapshots/acme/"+f.snaps["acme"][1].ID+"/files").Body.String(), `name="path"`)
}

// In the browser: tick one file in the file browser, plan, confirm; the
// restored directory holds that file's bytes and nothing unticked.
func TestBrowserRestoreTickedFiles(t *testing.T) {
	tb := newTab(t)
	f := newFixture(t)
	base := serve(t, f.h, userAcme)
	tb.load(t, chromedp.Navigate(base+"/restore?tenant=acme&snapshot="+f.snaps["acme"][1].ID))
	tb.load(t, chromedp.Click(sel("tick-files")))
	tb.load(t, chromedp.Click(chromedp.CSS(`[data-testid="entry-users"] a`)))
	tb.do(t, chromedp.Click(sel("tick-users/carol.json")))
	tb.load(t, chromedp.Click(sel("restore-ticked")))
	require.Contains(t, tb.text(t, "plan-counts"), "1 files restored")
	require.Contains(t, tb.text(t, "plan-paths"), "users/carol.json")
	require.Empty(t, treeOf(t, f.live), "the plan wrote files")

	tb.do(t, chromedp.SendKeys(sel("restore-confirm"), "acme"))
	tb.load(t, chromedp.Click(sel("restore-run")))
	tb.do(t, chromedp.WaitVisible(sel("report")))
	require.Equal(t, "users/carol.json", tb.text(t, "report-paths"))
	require.Equal(t, map[string][]byte{"users/carol.json": f.files["acme"]["users/carol.json"]}, treeOf(t, f.live+"/acme"),
		"only the ticked file is written")
	require.Empty(t, tb.cspViolations())
}

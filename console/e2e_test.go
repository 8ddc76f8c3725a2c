package console_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"
)

// The restore wizard in a real browser: tenant, snapshot, mode, the plan,
// the tenant ID typed, the report; the files are really on disk.
func TestBrowserRestoreWizard(t *testing.T) {
	tb := newTab(t)
	f := newFixture(t)
	base := serve(t, f.h, userMaster)
	tb.load(t, chromedp.Navigate(base+"/restore"))
	tb.do(t, chromedp.SetValue(sel("restore-tenant"), "acme"))
	tb.load(t, chromedp.Click(sel("restore-next")))
	tb.load(t, chromedp.Click(sel("restore-next")))
	tb.load(t, chromedp.Click(sel("restore-plan")))
	require.Contains(t, tb.text(t, "plan-counts"), "4 files restored")
	require.Empty(t, treeOf(t, f.live), "the plan wrote files")

	tb.do(t, chromedp.SendKeys(sel("restore-confirm"), "acme"))
	tb.load(t, chromedp.Click(sel("restore-run")))
	tb.do(t, chromedp.WaitVisible(sel("report"))) // the job page polls until the restore ends
	require.Contains(t, tb.text(t, "report-counts"), "4 files")
	require.Contains(t, tb.text(t, "safety-backup"), "none", "the target was empty: no safety backup")
	require.Equal(t, f.files["acme"], treeOf(t, f.live+"/acme"), "the restored files differ from the snapshot's")

	// Again, the older snapshot into the target that now holds the files:
	// a safety backup first, and bob.json back.
	tb.load(t, chromedp.Navigate(base+"/restore?tenant=acme&snapshot="+f.snaps["acme"][0].ID))
	tb.load(t, chromedp.Click(sel("restore-plan")))
	tb.do(t, chromedp.SendKeys(sel("restore-confirm"), "acme"))
	tb.load(t, chromedp.Click(sel("restore-run")))
	tb.do(t, chromedp.WaitVisible(sel("report")))
	safety := strings.TrimSpace(tb.text(t, "safety-backup"))
	s, err := f.engine.Snapshot(masterCtx(), "acme", safety)
	require.NoError(t, err, "the report's safety backup %q", safety)
	require.Contains(t, s.Tags, "pre-restore")
	require.Contains(t, treeOf(t, f.live+"/acme"), "users/bob.json", "the older snapshot is restored")
	require.Empty(t, tb.cspViolations())
}

// Toggling a flag and moving its rollout slider through htmx change what
// the Set answers.
func TestBrowserFlagToggleAndRollout(t *testing.T) {
	tb := newTab(t)
	f := newFixture(t)
	base := serve(t, f.h, userMaster)
	tb.load(t, chromedp.Navigate(base+"/flags"))
	require.Equal(t, "object", run(t, tb, chromedp.Evaluate[string](`typeof htmx`)), "htmx did not load")
	tb.markPage(t)
	tb.do(t,
		chromedp.Click(sel("toggle-new-ui")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="toggle-new-ui"][aria-checked="true"]`)),
	)
	require.Equal(t, base+"/flags", run(t, tb, chromedp.Location()), "the toggle swapped the row in place")
	require.True(t, tb.samePage(t), "the toggle swapped the row in place")
	// A user can click in the new row at once: htmx must have bound its
	// forms, or Save would post natively and load a new page.
	require.True(t, tb.htmxBound(t, "flag-new-ui"), "the swapped row's forms are not bound by htmx yet")
	fl, _ := f.flags.Get("new-ui")
	require.True(t, fl.Enabled)
	require.False(t, f.flags.Enabled("new-ui", "globex"), "on, but at 0 %")

	// Drag the slider to its right end with the keyboard (End), as a user
	// would; the page shows the value as it moves, then Save stores it.
	tb.do(t,
		chromedp.Focus(sel("rollout-new-ui")),
		chromedp.KeyEvent(kb.End),
		chromedp.Poll[chromedp.Void](`document.querySelector('[data-testid="rollout-value-new-ui"]').textContent === "100 %"`),
	)
	require.False(t, f.flags.Enabled("new-ui", "globex"), "moved, not saved yet")
	tb.do(t,
		chromedp.Click(sel("save-new-ui")),
		chromedp.Poll[chromedp.Void](`document.querySelector('[data-testid="flag-new-ui"][data-version="3"]') !== null`),
	)
	require.True(t, tb.samePage(t), "Save swapped the row in place")
	require.Equal(t, "100 %", tb.text(t, "rollout-value-new-ui"))
	require.True(t, f.flags.Enabled("new-ui", "globex"))
	require.True(t, f.flags.Enabled("new-ui", "acme"))
	require.Empty(t, tb.cspViolations())
}

// Every page loads in the browser without a CSP violation or a script
// error. With STEWARD_CONSOLE_SCREENSHOTS set to a directory, it saves a
// screenshot of each page there.
func TestBrowserPagesLogNoCSPViolation(t *testing.T) {
	tb := newTab(t)
	f := newFixture(t)
	base := serve(t, f.h, userMaster)
	for _, pc := range pages(f) {
		tb.load(t, chromedp.Navigate(base+pc.path))
		require.Equal(t, "object", run(t, tb, chromedp.Evaluate[string](`typeof htmx`)), "htmx on %s", pc.path)
		if pc.name == "audit" { // htmx loads the chain's status once the page shows
			tb.do(t, chromedp.WaitVisible(sel("chain-status")))
			require.Contains(t, tb.text(t, "chain-status"), "chain verified")
		}
		tb.screenshot(t, pc.name)
	}
	require.Empty(t, tb.cspViolations())
	for _, m := range tb.messages() {
		require.False(t, strings.HasPrefix(m, "exception") || strings.HasPrefix(m, "error"), "browser messages: %v", tb.messages())
	}
}

// The detector above can fail: an inline script under the console's CSP is
// reported.
func TestBrowserCSPViolationIsDetected(t *testing.T) {
	tb := newTab(t)
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/", f.h)
	mux.HandleFunc("/canary", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><title>canary</title><script>document.title = "ran"</script>`))
	})
	base := serve(t, mux, userMaster)
	tb.load(t, chromedp.Navigate(base+"/canary"))
	require.Equal(t, "canary", run(t, tb, chromedp.Title()), "the inline script ran")
	require.Eventually(t, func() bool { return len(tb.cspViolations()) > 0 }, 5e9, 1e8, "no violation seen: %v", tb.messages())
}

// Rolling a release back in the browser needs the reason typed first.
func TestBrowserRollback(t *testing.T) {
	tb := newTab(t)
	f := newFixture(t)
	base := serve(t, f.h, userMaster)
	tb.load(t, chromedp.Navigate(base+"/releases"))
	// The reason is required: the browser does not submit without it.
	tb.do(t, chromedp.Click(sel("rollback-prod-1.0.0")))
	require.Equal(t, base+"/releases", run(t, tb, chromedp.Location()))
	active, err := f.releases.Active(masterCtx(), "prod")
	require.NoError(t, err)
	require.Equal(t, "1.1.0", active.Version)

	tb.do(t, chromedp.SendKeys(sel("reason-prod-1.0.0"), "checkout broken"))
	tb.load(t, chromedp.Click(sel("rollback-prod-1.0.0")))
	require.Contains(t, tb.text(t, "rollback-done"), "prod-1.0.0")
	active, err = f.releases.Active(masterCtx(), "prod")
	require.NoError(t, err)
	require.Equal(t, "1.0.0", active.Version)
	require.Equal(t, "1.0.0", strings.TrimSpace(tb.text(t, "active-prod")))
	require.Empty(t, tb.cspViolations())
}

// Typing in the policy form previews the edited policy in place (htmx),
// and saving nothing is stored until Save.
func TestBrowserRetentionLivePreview(t *testing.T) {
	tb := newTab(t)
	f := newFixture(t)
	base := serve(t, f.h, userMaster)
	tb.load(t, chromedp.Navigate(base+"/retention?tenant=acme"))
	require.Contains(t, tb.text(t, "retention-summary"), "The policy of acme keeps 2")
	tb.do(t,
		chromedp.Clear(sel("policy-keep_last")),
		chromedp.SendKeys(sel("policy-keep_last"), "1"),
		chromedp.Poll[chromedp.Void](`document.querySelector('[data-testid="retention-summary"]').textContent.includes("The edited policy")`),
	)
	require.Equal(t, base+"/retention?tenant=acme", run(t, tb, chromedp.Location()), "the preview swapped in place")
	stored, err := f.cfg.Policies.Get(masterCtx(), "acme")
	require.NoError(t, err)
	require.Zero(t, stored.KeepLast)
	tb.load(t, chromedp.Click(sel("policy-save")))
	stored, err = f.cfg.Policies.Get(masterCtx(), "acme")
	require.NoError(t, err)
	require.Equal(t, 1, stored.KeepLast)
	require.Empty(t, tb.cspViolations())
}

// A running restore's page shows progress as it arrives on the event
// stream, without reloading, then loads the report by itself.
func TestBrowserRestoreProgressArrivesLive(t *testing.T) {
	tb := newTab(t)
	f := newFixture(t)
	h, gate := f.gated(t)
	base := serve(t, h, userMaster)
	tb.load(t, chromedp.Navigate(base+"/restore/plan?tenant=acme&mode=full&snapshot="+f.snaps["acme"][1].ID))
	tb.do(t, chromedp.SendKeys(sel("restore-confirm"), "acme"))
	tb.load(t, chromedp.Click(sel("restore-run")))
	tb.do(t, chromedp.WaitVisible(sel("restore-running")))
	require.Equal(t, "object", run(t, tb, chromedp.Evaluate[string](`window.stayed = {}; typeof window.stayed`)))

	gate <- struct{}{} // one file
	tb.do(t, chromedp.Poll[chromedp.Void](`document.querySelector('[data-testid="restore-progress"]').textContent.startsWith("1 of 4 files")`))
	require.Equal(t, "object", run(t, tb, chromedp.Evaluate[string](`typeof window.stayed`)), "the page reloaded instead of following the stream")
	require.Equal(t, "1", run(t, tb, chromedp.AttributeValue(sel("restore-running"), "data-files-done")).Value)
	tb.screenshot(t, "restore-running")

	close(gate)
	tb.do(t, chromedp.WaitVisible(sel("report")))
	require.Contains(t, tb.text(t, "report-counts"), "4 files")
	tb.screenshot(t, "restore-report")
	require.Equal(t, f.files["acme"], treeOf(t, f.live+"/acme"))
	require.Empty(t, tb.cspViolations())
}

// A tenant admin pages through its Audit events in the browser: the form
// sets the page size, Older and Newer follow the links, and every page
// holds only its tenant's events, the way back showing the first again.
func TestBrowserAuditPages(t *testing.T) {
	tb := newTab(t)
	f := newFixture(t)
	seedEvents(t, f, 40)
	base := serve(t, f.h, userAcme)
	rows := func() []string {
		return run(t, tb, chromedp.Evaluate[[]string](
			`[...document.querySelectorAll('[data-testid="events"] tbody tr')].map(r => r.cells[2].textContent)`))
	}
	tb.load(t, chromedp.Navigate(base+"/audit"))
	tb.do(t, chromedp.Clear(sel("audit-limit")), chromedp.SendKeys(sel("audit-limit"), "4"))
	tb.load(t, chromedp.Submit(sel("audit-limit")))
	first := run(t, tb, chromedp.Evaluate[string](`document.querySelector('[data-testid="events"]').innerText`))
	require.Equal(t, []string{"acme", "acme", "acme", "acme"}, rows())
	tb.load(t, chromedp.Click(sel("page-older")))
	require.Contains(t, run(t, tb, chromedp.Location()), "before=")
	require.Equal(t, []string{"acme", "acme", "acme", "acme"}, rows())
	tb.load(t, chromedp.Click(sel("page-newer")))
	require.Equal(t, first, run(t, tb, chromedp.Evaluate[string](`document.querySelector('[data-testid="events"]').innerText`)))
	require.Empty(t, tb.cspViolations())
}

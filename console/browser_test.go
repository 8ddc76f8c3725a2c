package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// One headless Chromium serves every browser test of the binary; each test
// opens its own tab. TestMain closes it.
var shared struct {
	once    sync.Once
	ctx     context.Context // the browser's; nil when it could not start
	cancel  func()
	dataDir string
	skip    string // why browser tests skip
}

// cleanups run after every test and benchmark of the binary.
var cleanups []func()

func TestMain(m *testing.M) {
	code := m.Run()
	for _, fn := range cleanups {
		fn()
	}
	if shared.cancel != nil {
		shared.cancel()
	}
	if shared.dataDir != "" {
		_ = os.RemoveAll(shared.dataDir)
	}
	os.Exit(code)
}

// chromiumPath finds Debian's chromium binary.
func chromiumPath() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium binary on PATH (apt-get install chromium)")
}

// startBrowser starts the shared Chromium: headless, no sandbox, no
// background traffic, a fresh profile.
func startBrowser() {
	path, err := chromiumPath()
	if err != nil {
		shared.skip = "browser tests skipped: " + err.Error()
		return
	}
	if shared.dataDir, err = os.MkdirTemp("", "console-chromium-"); err != nil {
		shared.skip = "browser tests skipped: " + err.Error()
		return
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.UserDataDir(shared.dataDir), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancelCtx()
		cancelAlloc()
		shared.skip = "browser tests skipped: chromium did not start: " + err.Error()
		return
	}
	shared.ctx, shared.cancel = ctx, func() { cancelCtx(); cancelAlloc() }
}

// tab is one browser tab with the console messages it logged.
type tab struct {
	ctx  context.Context
	mu   sync.Mutex
	logs []string
}

// newTab opens a tab of the shared browser, or skips the test naming
// chromium when there is none. It records every console message, browser
// log entry (CSP violations are "security" entries) and uncaught exception.
func newTab(t *testing.T) *tab {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	shared.once.Do(startBrowser)
	if shared.ctx == nil {
		t.Skip(shared.skip)
	}
	ctx, cancel := chromedp.NewContext(shared.ctx)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx), "open a tab")
	tb := &tab{ctx: ctx}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.logs = append(tb.logs, fmt.Sprintf("%s [%s] %s", m.Type, m.Source, m.Text))
			tb.mu.Unlock()
		}
	}()
	return tb
}

// do runs steps in the tab, within a minute. The steps must not navigate:
// use load for those that do.
func (tb *tab) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, time.Minute)
	defer cancel()
	err := chromedp.Do(ctx, steps...)
	require.NoError(t, err, "%sbrowser messages: %v", navigated(err), tb.messages())
}

// navigated explains the error Chrome returns when the page navigates under
// a step. The usual cause is a click in a form that htmx had not bound yet,
// which the browser then submitted itself.
func navigated(err error) string {
	if err == nil || !strings.Contains(err.Error(), "Inspected target navigated or closed") {
		return ""
	}
	return "the page navigated during the steps (a form submitted natively, not by htmx? a link?); "
}

// load runs steps that end in a navigation (a click on a link or a submit
// button) and waits until the new page has loaded with status 200. The
// load event comes after DOMContentLoaded, when htmx processes the page, so
// the page's hx-* handlers are bound when load returns.
func (tb *tab) load(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, time.Minute)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	require.NoError(t, err, "browser messages: %v", tb.messages())
	require.Equal(t, int64(http.StatusOK), resp.Status, "%s", resp.URL)
}

// text is the visible text of the element with data-testid id.
func (tb *tab) text(t *testing.T, id string) string {
	t.Helper()
	return run(t, tb, chromedp.Text(sel(id)))
}

// run runs one action in the tab and returns its value.
func run[T any](t *testing.T, tb *tab, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err, "%sbrowser messages: %v", navigated(err), tb.messages())
	return v
}

// markPage marks the document the tab shows now, for samePage.
func (tb *tab) markPage(t *testing.T) {
	t.Helper()
	require.Equal(t, "object", run(t, tb, chromedp.Evaluate[string](`window.consoleTestMark = {}; typeof window.consoleTestMark`)))
}

// samePage reports whether the tab still shows the document markPage
// marked: an htmx swap keeps it, a navigation (a form the browser submitted
// itself, even one redirected back to the same address) does not.
func (tb *tab) samePage(t *testing.T) bool {
	t.Helper()
	return run(t, tb, chromedp.Evaluate[bool](`typeof window.consoleTestMark === "object"`))
}

// htmxBound reports whether htmx has bound the hx-* handlers of the element
// with data-testid id and of its content. htmx marks swapped-in content
// htmx-added until it binds them; a form in it submits natively until then.
func (tb *tab) htmxBound(t *testing.T, id string) bool {
	t.Helper()
	return run(t, tb, chromedp.Evaluate[bool](`document.querySelector('[data-testid="`+id+`"]').closest(".htmx-added") === null`))
}

func (tb *tab) messages() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.logs...)
}

// cspViolations returns the messages that report a Content-Security-Policy
// violation.
func (tb *tab) cspViolations() []string {
	var out []string
	for _, m := range tb.messages() {
		if strings.Contains(m, "Content Security Policy") || strings.Contains(m, "Content-Security-Policy") {
			out = append(out, m)
		}
	}
	return out
}

// serve starts the handler on 127.0.0.1 with every request as user.
func serve(t *testing.T, h http.Handler, user string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("X-Test-User", user)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)
	return srv.URL
}

// screenshot saves a full-page PNG of the tab as name.png in the
// directory STEWARD_CONSOLE_SCREENSHOTS names (nothing when unset): the
// README's pictures.
func (tb *tab) screenshot(t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("STEWARD_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := run(t, tb, chromedp.FullScreenshot(100))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// sel selects the element with data-testid id.
func sel(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }

package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/flags"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/restore"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// staticHandler serves the embedded htmx, script, stylesheet and icon.
func staticHandler() http.Handler {
	return http.FileServerFS(staticFS)
}

// views holds one template set per page, each the layout, the partials and
// the page's own file.
type views struct {
	pages map[string]*template.Template
}

// parseTemplates parses every page at start, so a broken template fails New.
func parseTemplates() (*views, error) {
	base, err := template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/pages/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	v := &views{pages: map[string]*template.Template{}}
	for _, f := range files {
		t, err := base.Clone()
		if err == nil {
			t, err = t.ParseFS(templateFS, f)
		}
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", f, err)
		}
		v.pages[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return v, nil
}

// page is what every template receives.
type page struct {
	Title     string
	Nav       string // the navigation entry to highlight
	Base      string // Config.BasePath
	CSRF      string
	Principal steward.Principal
	Refresh   int       // when > 0, the page reloads itself after so many seconds (without JavaScript)
	Menu      []navItem // the navigation entries the principal may use
	Data      any
}

// render writes page name inside the layout, or only its block fragment
// when fragment is not "" (an htmx swap).
func (c *console) render(w http.ResponseWriter, r *http.Request, status int, name, fragment string, p page) {
	t, ok := c.views.pages[name]
	if !ok {
		http.Error(w, "console: no template "+name, http.StatusInternalServerError)
		return
	}
	pr := principal(r.Context())
	p.Base, p.Principal, p.CSRF = c.cfg.BasePath, pr, c.csrf.token(pr.ID)
	if fragment == "" {
		fragment, p.Menu = "layout", c.menu(r.Context())
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, fragment, p); err != nil {
		slog.ErrorContext(r.Context(), "console: render", "page", name, "err", err)
		http.Error(w, "console: cannot render "+name, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail renders err as an error page with the status it maps to.
// Server errors are also logged, since the user can do nothing about them.
func (c *console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status >= 500 {
		slog.ErrorContext(r.Context(), "console: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	c.failWith(w, r, status, err.Error())
}

// badRequest renders msg as an error page with status 400.
func (c *console) badRequest(w http.ResponseWriter, r *http.Request, msg string) {
	c.failWith(w, r, http.StatusBadRequest, msg)
}

// failWith renders msg with status: a whole page, or for htmx the message
// alone, retargeted into the layout's alert region (the layout's
// htmx-config swaps error responses).
func (c *console) failWith(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if isHTMX(r) {
		w.Header().Set("HX-Retarget", "#flash")
		w.Header().Set("HX-Reswap", "innerHTML")
		c.render(w, r, status, "error", "content", page{Data: msg})
		return
	}
	c.render(w, r, status, "error", "", page{Title: "Error", Data: msg})
}

// statusOf maps the SDK's sentinels to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, steward.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, steward.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, backup.ErrNotFound), errors.Is(err, flags.ErrNotFound), errors.Is(err, release.ErrNotFound),
		errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, steward.ErrInvalidTenant), errors.Is(err, flags.ErrInvalid),
		errors.Is(err, restore.ErrInvalidOptions), errors.Is(err, release.ErrInvalidVersion):
		return http.StatusBadRequest
	case errors.Is(err, flags.ErrConflict), errors.Is(err, release.ErrConflict), errors.Is(err, restore.ErrWouldDelete):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// errNotFound: a path, flag or page the request names does not exist.
var errNotFound = errors.New("console: not found")

// isHTMX reports whether htmx sent r (and wants a fragment back).
func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// notConfigured renders the page that says what the host did not configure.
func (c *console) notConfigured(w http.ResponseWriter, r *http.Request, nav, what string) {
	c.render(w, r, http.StatusOK, "unconfigured", "", page{Title: "Not configured", Nav: nav, Data: what})
}

// menu is the navigation without the pages the principal may not open.
func (c *console) menu(ctx context.Context) []navItem {
	out := make([]navItem, 0, len(nav))
	for _, n := range nav {
		if n.Needs == "" || c.allowed(ctx, n.Needs, "") {
			out = append(out, n)
		}
	}
	return out
}

package console

import (
	"context"
	"errors"
	"net/http"

	"github.com/iluxsys/steward"
)

// csp is the Content-Security-Policy of every response: scripts, styles and
// everything else only from the console itself, no inline script or style,
// no framing.
const csp = "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// handler wires the routes behind the security headers, authentication and
// the CSRF check, under BasePath.
func (c *console) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", staticHandler())
	c.routes(mux)
	var h http.Handler = c.authenticate(c.checkCSRF(mux))
	if c.cfg.BasePath != "" {
		h = http.StripPrefix(c.cfg.BasePath, h)
	}
	return securityHeaders(h)
}

// routes registers every page.
func (c *console) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", c.overview)
	mux.HandleFunc("GET /snapshots", c.snapshots)
	mux.HandleFunc("GET /snapshots/{tenant}/{id}", c.snapshotDetail)
	mux.HandleFunc("GET /snapshots/{tenant}/{id}/files", c.snapshotFiles)
	mux.HandleFunc("GET /snapshots/{tenant}/{id}/download", c.download)
	mux.HandleFunc("GET /diff", c.diff)
	mux.HandleFunc("GET /restore", c.restoreWizard)
	mux.HandleFunc("GET /restore/plan", c.restorePlan)
	mux.HandleFunc("POST /restore/run", c.restoreRun)
	mux.HandleFunc("GET /restore/jobs/{id}", c.restoreJob)
	mux.HandleFunc("GET /restore/jobs/{id}/events", c.restoreEvents)
	mux.HandleFunc("GET /flags", c.flagList)
	mux.HandleFunc("POST /flags/{name}/toggle", c.flagToggle)
	mux.HandleFunc("POST /flags/{name}", c.flagUpdate)
	mux.HandleFunc("GET /flags/evaluate", c.flagEvaluate)
	mux.HandleFunc("GET /flags/{name}/history", c.flagHistory)
	mux.HandleFunc("GET /audit", c.auditList)
	mux.HandleFunc("GET /audit/export", c.auditExport)
	mux.HandleFunc("GET /audit/verify", c.auditVerify)
	mux.HandleFunc("GET /releases", c.releases)
	mux.HandleFunc("POST /releases/rollback", c.rollback)
	mux.HandleFunc("POST /releases/deploy", c.deploy)
	mux.HandleFunc("GET /releases/diff", c.releaseDiffPage)
	mux.HandleFunc("GET /retention", c.retentionPreview)
	mux.HandleFunc("POST /retention/{tenant}", c.retentionSave)
}

// securityHeaders sets the headers every response carries, errors included.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		// Pages and downloads hold tenant data: no cache keeps them.
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// authenticate runs Config.Authenticate on every request, static files
// included, and puts the principal in the request's context, so every SDK call
// authorizes as that principal.
func (c *console) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := c.cfg.Authenticate(r)
		if err != nil {
			status := http.StatusUnauthorized
			if errors.Is(err, steward.ErrForbidden) {
				status = http.StatusForbidden
			}
			http.Error(w, "console: "+err.Error(), status)
			return
		}
		if p.ID == "" {
			http.Error(w, "console: the principal has no ID", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(withRequestState(steward.WithPrincipal(r.Context(), p))))
	})
}

// principal returns the request's principal, set by authenticate.
func principal(ctx context.Context) steward.Principal {
	p, _ := steward.PrincipalFrom(ctx)
	return p
}

package health

import (
	"encoding/json"
	"net/http"
)

// Handler returns an http.Handler that runs Check on each request and
// serves the Report as JSON: status 200 when ok, 503 Service Unavailable
// when degraded (what load balancers and uptime monitors understand),
// never cached. Each request runs the checks (one at a time across
// requests), so put it where only monitors reach it: the report names
// tenants and what is wrong with them.
func (c *Checker) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "health: use GET", http.StatusMethodNotAllowed)
			return
		}
		rep := c.Check(r.Context())
		body, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			http.Error(w, "health: encode report: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		code := http.StatusOK
		if rep.Status != StatusOK {
			code = http.StatusServiceUnavailable
		}
		w.WriteHeader(code)
		_, _ = w.Write(append(body, '\n'))
	})
}

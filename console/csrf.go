package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
)

// csrfField is the form field, and csrfHeader the header htmx sends, that
// carry the CSRF token.
const (
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
)

// csrfKey is the random per-handler key the tokens are derived under.
type csrfKey []byte

func newCSRFKey() (csrfKey, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("console: CSRF key: %w", err)
	}
	return k, nil
}

// token is the principal's CSRF token: an HMAC-SHA-256 of its ID. A page
// from another origin cannot read it, and it is useless to another
// principal or another handler.
func (k csrfKey) token(principalID string) string {
	m := hmac.New(sha256.New, k)
	m.Write([]byte("steward-console-csrf\x00" + principalID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// valid reports whether got is principalID's token.
func (k csrfKey) valid(principalID, got string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(k.token(principalID)))
}

// checkCSRF refuses, with 403 and before any handler runs, every request
// but GET and HEAD that carries no valid token in its header or form. It
// parses the form (at most maxForm bytes), so handlers read r.PostForm.
func (c *console) checkCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "console: cannot read the form: "+err.Error(), http.StatusBadRequest)
			return
		}
		got := r.Header.Get(csrfHeader)
		if got == "" {
			got = r.PostForm.Get(csrfField)
		}
		if !c.csrf.valid(principal(r.Context()).ID, got) {
			http.Error(w, "console: missing or invalid CSRF token: reload the page and try again", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// maxForm bounds a form's body.
const maxForm = 1 << 20

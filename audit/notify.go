package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/smtp"
	"net/url"
	"strings"
	"time"

	"github.com/iluxsys/steward/internal/errs"
)

// Notifier tells someone about an event (a failure, an RPO breach).
// Notify returns an error when the event could not be delivered.
type Notifier interface {
	Notify(ctx context.Context, e Event) error
}

// NotifyFilter decides which events notify. It must not modify the event.
type NotifyFilter func(e *Event) bool

// DefaultNotifyFilter selects failures (Event.Failed: LevelError, or a
// DataError, whatever the type, so an access denial counts) and
// rpo.breach events.
func DefaultNotifyFilter(e *Event) bool { return e.Failed() || e.Type == TypeRPOBreach }

// NotifyingAuditor records each event on an inner Auditor and passes those
// its filter selects to its notifiers. Create one with Notifying; the zero
// value is not usable. It is safe for concurrent use when the inner
// Auditor, the filter and the notifiers are.
type NotifyingAuditor struct {
	inner     Auditor
	filter    NotifyFilter
	onError   func(Notifier, error)
	notifiers []Notifier
}

// Notifying returns an Auditor that records every event on inner (Nop when
// nil) and then passes those selected by filter (DefaultNotifyFilter when
// nil) to each notifier in turn, synchronously. A notifier's failure is
// reported through onError (when set) and never fails the recording.
func Notifying(inner Auditor, filter NotifyFilter, onError func(Notifier, error), notifiers ...Notifier) *NotifyingAuditor {
	if filter == nil {
		filter = DefaultNotifyFilter
	}
	return &NotifyingAuditor{inner: OrNop(inner), filter: filter, onError: onError, notifiers: notifiers}
}

// Record records e on the inner Auditor, notifies when the filter selects
// e, and returns the inner Auditor's error.
func (n *NotifyingAuditor) Record(ctx context.Context, e Event) error {
	err := n.inner.Record(ctx, e)
	if n.filter(&e) {
		for _, nt := range n.notifiers {
			if nerr := nt.Notify(ctx, e); nerr != nil && n.onError != nil {
				n.onError(nt, nerr)
			}
		}
	}
	return err
}

// Unwrap returns the inner Auditor.
func (n *NotifyingAuditor) Unwrap() Auditor { return n.inner }

// SignatureHeader carries the webhook body's HMAC-SHA-256, as
// "sha256=<hex>".
const SignatureHeader = "X-Steward-Signature"

// Webhook POSTs each event as JSON to URL (the event's fields and its
// "outcome", "failure" or "success", as exports write it), signed with
// Secret in SignatureHeader, retrying 5xx answers and transport errors
// with backoff.
// URL often carries a token (in its path, query or user information): the
// errors Notify returns and String name it by scheme and host only.
type Webhook struct {
	// URL receives the POSTs.
	URL string
	// Secret keys the signature in SignatureHeader; see Sign.
	Secret []byte
	// Client defaults to an http.Client with Timeout.
	Client *http.Client
	// Timeout bounds each attempt of the default Client (default 10s).
	Timeout time.Duration
	// Retries after the first attempt (default 3).
	Retries int
	// Backoff before the first retry, doubled each time (default 200ms).
	Backoff time.Duration
}

// Sign returns the signature header value for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Notify sends e. Its error names the webhook by scheme and host and wraps
// the last attempt's cause (a *url.Error whose URL is shown the same way,
// or a non-2xx status), or is the context's error.
func (w *Webhook) Notify(ctx context.Context, e Event) error {
	body, err := json.Marshal(exported{Event: e, Outcome: e.outcome()})
	if err != nil {
		return err
	}
	client := w.Client
	if client == nil {
		t := w.Timeout
		if t == 0 {
			t = 10 * time.Second
		}
		client = &http.Client{Timeout: t}
	}
	retries := w.Retries
	if retries == 0 {
		retries = 3
	}
	backoff := w.Backoff
	if backoff == 0 {
		backoff = 200 * time.Millisecond
	}
	var last error
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff << (attempt - 1)):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
		if err != nil {
			return w.fail(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(SignatureHeader, Sign(w.Secret, body))
		resp, err := client.Do(req)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode < 300 {
			return nil
		}
		last = fmt.Errorf("status %s", resp.Status)
		if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			break // the receiver refuses it; retrying will not help
		}
	}
	return w.fail(last)
}

// String names the webhook by its URL's scheme and host, so that printing
// a Notifier (as an onError callback may) shows neither token nor Secret.
// It has a value receiver so that a Webhook printed by value is hidden too.
func (w Webhook) String() string { return "webhook " + webhookName(w.URL) }

// webhookName is a webhook URL's scheme and host: its path, query and user
// information may carry tokens.
func webhookName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(URL not shown: it does not parse)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// fail wraps err, keeping it for errors.Is and errors.As, in an error
// that names the webhook by scheme and host only. net/http's *url.Error
// quotes the full URL: it is replaced by a copy showing the name. When
// the cause's text still repeats part of the URL, it is withheld.
func (w *Webhook) fail(err error) error {
	name := webhookName(w.URL)
	u, perr := url.Parse(w.URL)
	if perr != nil || u.Host == "" {
		// The parser's message quotes the URL, or pieces of it.
		return &redactedError{msg: "audit: webhook " + name, err: err}
	}
	if ue, ok := err.(*url.Error); ok {
		c := *ue
		c.URL = name
		err = &c
	}
	msg := fmt.Sprintf("audit: webhook %s: %v", name, err)
	if urlSecretIn(msg, w.URL, u, name) {
		msg = fmt.Sprintf("audit: webhook %s: the cause is withheld: it repeats part of the URL", name)
	}
	return &redactedError{msg: msg, err: err}
}

// urlSecretIn reports whether msg holds the path, query, fragment or user
// information of the URL raw (parsed as u), plainly or escaped. Pieces
// shorter than 4 bytes or in name are ignored.
func urlSecretIn(msg, raw string, u *url.URL, name string) bool {
	secrets := []string{raw, u.EscapedPath(), u.Path, u.RawQuery, u.Fragment}
	secrets = append(secrets, strings.Split(u.Path, "/")...)
	for _, vs := range u.Query() {
		secrets = append(secrets, vs...)
	}
	if u.User != nil {
		p, _ := u.User.Password()
		secrets = append(secrets, u.User.String(), u.User.Username(), p)
	}
	for _, s := range secrets {
		if len(s) < 4 || strings.Contains(name, s) {
			continue
		}
		for _, f := range []string{s, url.PathEscape(s), url.QueryEscape(s)} {
			if strings.Contains(msg, f) {
				return true
			}
		}
	}
	return false
}

// redactedError keeps the cause for errors.Is and errors.As but prints a
// message with no credentials in it.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// SMTP mails each event. Addr is host:port; Auth may be nil for servers
// that need none (tests, local relays).
type SMTP struct {
	// Addr is the server's host:port.
	Addr string
	// Auth authenticates to the server; nil for none.
	Auth smtp.Auth
	// From is the sender's address.
	From string
	// To are the recipients; Notify fails when there are none.
	To []string
}

// Notify mails e, as JSON with its "outcome" as exports write it. The
// subject reads "[steward] LEVEL type tenant", with ERROR as the level of
// every failure (Event.Failed), whatever the level recorded, so that mail
// filters on ERROR catch them all.
func (s *SMTP) Notify(ctx context.Context, e Event) error {
	if len(s.To) == 0 {
		return errors.New("audit: smtp: no recipients")
	}
	body, _ := json.MarshalIndent(exported{Event: e, Outcome: e.outcome()}, "", "  ")
	head := strings.ToUpper(string(e.Level))
	if e.Failed() {
		head = strings.ToUpper(string(LevelError))
	}
	subject := fmt.Sprintf("[steward] %s %s %s", head, e.Type, e.Tenant)
	var msg bytes.Buffer
	fmt.Fprintf(&msg, "From: %s\r\nTo: %s\r\nSubject: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n\r\n%s\r\n",
		s.From, strings.Join(s.To, ", "), oneLine(subject), e.Message, body)
	done := make(chan error, 1)
	go func() { done <- smtp.SendMail(s.Addr, s.Auth, s.From, s.To, msg.Bytes()) }()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-done:
		if err != nil {
			return errs.Errorf("audit", "smtp %s: %w", s.Addr, err)
		}
		return nil
	}
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// Slog logs each event on a log/slog Logger.
type Slog struct {
	// Logger receives the events; nil means slog.Default().
	Logger *slog.Logger
}

// Notify logs e at a level matching its own, at error level for a failure
// (Event.Failed) whatever its level, with its outcome as an attribute.
func (s Slog) Notify(ctx context.Context, e Event) error {
	lg := s.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lvl := slog.LevelInfo
	switch {
	case e.Failed():
		lvl = slog.LevelError
	case e.Level == LevelWarning:
		lvl = slog.LevelWarn
	}
	lg.Log(ctx, lvl, e.Message, "type", string(e.Type), "outcome", e.outcome(), "tenant", e.Tenant, "user_id", e.UserID, "id", e.ID, "data", e.Data)
	return nil
}

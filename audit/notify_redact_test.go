package audit_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
)

// The pieces of a webhook URL that carry credentials.
var webhookSecrets = []string{"alice", "pa55word-secret", "path-token-secret", "query-token-secret", "frag-secret"}

// secretWebhookURL is a URL to addr with a secret in its user
// information, path, query and fragment.
func secretWebhookURL(scheme, addr string) string {
	return scheme + "://alice:pa55word-secret@" + addr + "/hooks/path-token-secret?token=query-token-secret#frag-secret"
}

func requireNoSecret(t *testing.T, text string) {
	t.Helper()
	for _, s := range webhookSecrets {
		require.NotContains(t, text, s, "the text repeats %q from the URL: %s", s, text)
	}
}

func TestWebhookErrorsHideURLSecrets(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer failing.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := ln.Addr().String()
	require.NoError(t, ln.Close())
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	for _, tc := range []struct {
		name  string
		ctx   context.Context
		url   string
		want  string // in the error's text
		cause func(t *testing.T, err error)
	}{
		{"status 500", context.Background(), secretWebhookURL("http", failing.Listener.Addr().String()),
			"webhook http://" + failing.Listener.Addr().String() + "/…: status 500", nil},
		{"closed port", context.Background(), secretWebhookURL("http", closedAddr),
			"webhook http://" + closedAddr + "/…", func(t *testing.T, err error) {
				var op *net.OpError
				require.ErrorAs(t, err, &op, "the dial error is reachable")
				require.ErrorIs(t, err, syscall.ECONNREFUSED)
				var ue *url.Error
				require.ErrorAs(t, err, &ue)
				requireNoSecret(t, ue.URL)
			}},
		{"canceled", canceled, secretWebhookURL("http", closedAddr), "", func(t *testing.T, err error) {
			require.ErrorIs(t, err, context.Canceled)
		}},
		{"unparsable", context.Background(), "http://alice:pa55word-secret@host:bad/path-token-secret?token=query-token-secret",
			"does not parse", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wh := &audit.Webhook{URL: tc.url, Secret: []byte("k"), Retries: 1, Backoff: time.Millisecond}
			err := wh.Notify(tc.ctx, audit.Event{Type: "x"})
			require.Error(t, err)
			requireNoSecret(t, err.Error())
			require.Contains(t, err.Error(), tc.want)
			if tc.cause != nil {
				tc.cause(t, err)
			}
		})
	}
}

func TestNotifiersPrintWithoutSecrets(t *testing.T) {
	wh := audit.Webhook{URL: secretWebhookURL("https", "hooks.example.com"), Secret: []byte("hmac-key-secret")}
	for _, text := range []string{fmt.Sprint(wh), fmt.Sprint(&wh), fmt.Sprintf("%+v", &wh)} {
		requireNoSecret(t, text)
		require.NotContains(t, text, "hmac-key-secret")
		require.Equal(t, "webhook https://hooks.example.com/…", text)
	}
	var n audit.Notifier = &audit.SMTP{Addr: "smtp.example.com:587", Auth: smtp.PlainAuth("", "ops", "pa55word-secret", "smtp.example.com"), To: []string{"x@example.com"}}
	for _, text := range []string{fmt.Sprint(n), fmt.Sprintf("%+v", n)} {
		require.NotContains(t, text, "pa55word-secret")
	}
}

func TestSMTPErrorHidesPassword(t *testing.T) {
	addr, _ := smtpServer(t) // offers no AUTH: the send fails at authentication
	host, _, _ := strings.Cut(addr, ":")
	n := &audit.SMTP{Addr: addr, Auth: smtp.PlainAuth("", "ops", "pa55word-secret", host), From: "a@example.test", To: []string{"b@example.test"}}
	err := n.Notify(context.Background(), audit.Event{Type: "x", Level: audit.LevelError})
	require.Error(t, err)
	require.Contains(t, err.Error(), "audit: smtp "+addr+": ")
	require.NotContains(t, err.Error(), "pa55word-secret")
}

package main

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// The demo seeds, serves the console on loopback and stops with its context.
func TestDemoServesTheConsole(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	urls, done := make(chan string, 1), make(chan error, 1)
	who, err := demoPrincipal("")
	require.NoError(t, err)
	go func() { done <- run(ctx, "127.0.0.1:0", who, func(u string) { urls <- u }) }()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatal(err)
	}
	for path, want := range map[string]string{"": "initech", "flags": "new-checkout", "releases": "1.1.0"} {
		resp, err := http.Get(url + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, string(body), want, path)
	}
	cancel()
	require.NoError(t, <-done)
}

func TestDemoRefusesANonLoopbackAddress(t *testing.T) {
	_, err := listenLoopback("0.0.0.0:0")
	require.ErrorContains(t, err, "loopback")
}

func TestDemoPrincipals(t *testing.T) {
	p, err := demoPrincipal("acme")
	require.NoError(t, err)
	require.Equal(t, []string{"acme"}, p.Tenants)
	require.Empty(t, p.Roles)
	_, err = demoPrincipal("nobody")
	require.ErrorContains(t, err, "acme")
}

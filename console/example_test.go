package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing/fstest"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/console"
	"github.com/iluxsys/steward/storage"
)

// ExampleNew mounts the console under /admin of a host's server. The host
// authenticates its users; here one header names an operator.
func ExampleNew() {
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
	engine, _ := backup.New(storage.NewMemory(), nil)
	_, _ = engine.Backup(ctx, "acme", backup.FSSource(fstest.MapFS{"users/1.json": {Data: []byte(`{"name":"Ana"}`)}}), nil)

	h, err := console.New(&console.Config{
		Engine:   engine,
		BasePath: "/admin",
		Authenticate: func(r *http.Request) (steward.Principal, error) {
			if r.Header.Get("X-Operator") != "ops" { // a session cookie, an SSO proxy's header...
				return steward.Principal{}, fmt.Errorf("not signed in")
			}
			return steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}}, nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/admin/", nil)
	req.Header.Set("X-Operator", "ops")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.Contains(string(body), `data-testid="tenant-acme"`))
	fmt.Println(resp.Header.Get("Content-Security-Policy"))

	anon, _ := http.Get(srv.URL + "/admin/")
	anon.Body.Close()
	fmt.Println(anon.StatusCode)
	// Output:
	// 200 true
	// default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'
	// 401
}

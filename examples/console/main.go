// Command console serves steward's admin console on 127.0.0.1 over demo
// data: an embedded file:// store in a temporary directory holding three
// tenants backed up from generated files (a full and an incremental
// snapshot each), a feature flag, and two releases of channel prod. Every
// request is one fixed demo principal: "demo-admin" (role master), or with
// -as a tenant's admin, who sees only that tenant (steward.TenantScoped).
// A real host authenticates its users in Config.Authenticate instead.
//
//	go run ./examples/console            # prints the URL to open
//	go run ./examples/console -addr 127.0.0.1:8080
//	go run ./examples/console -as acme   # as acme's admin
//
// Restores write into the temporary directory's live/<tenant>; everything
// is removed on exit (Ctrl-C).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/console"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	as := flag.String("as", "", "serve as this demo tenant's admin (acme, globex or initech) instead of a master")
	flag.Parse()
	who, err := demoPrincipal(*as)
	if err != nil {
		log.Fatal("console: ", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err = run(ctx, *addr, who, func(url string) { fmt.Println("steward console on", url, "as", who.ID, "(Ctrl-C to stop)") })
	if err != nil {
		log.Fatal("console: ", err)
	}
}

// demoPrincipal is who every request is: the master "demo-admin", or the
// admin of tenant.
func demoPrincipal(tenant string) (steward.Principal, error) {
	if tenant == "" {
		return steward.Principal{ID: "demo-admin", Roles: []string{steward.RoleMaster}}, nil
	}
	if !slices.Contains(tenants, tenant) {
		return steward.Principal{}, fmt.Errorf("-as %q: the demo's tenants are %v", tenant, tenants)
	}
	return steward.Principal{ID: tenant + "-admin", Tenants: []string{tenant}}, nil
}

// run seeds the demo in a temporary directory, serves the console on addr
// (a loopback address) as who until ctx ends, and calls ready with its URL.
func run(ctx context.Context, addr string, who steward.Principal, ready func(url string)) error {
	work, err := os.MkdirTemp("", "steward-console-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	cfg, closeDemo, err := seed(ctx, work)
	if err != nil {
		return fmt.Errorf("seeding the demo: %w", err)
	}
	defer closeDemo()
	cfg.Authenticate = func(*http.Request) (steward.Principal, error) { return who, nil }
	// The console warms its cache as a principal of its own, which may
	// read every tenant; each page is still authorized for who.
	cfg.WarmAs = &steward.Principal{ID: "console-warm", Roles: []string{steward.RoleMaster}}
	cfg.WarmContext = ctx
	h, err := console.New(cfg)
	if err != nil {
		return err
	}
	ln, err := listenLoopback(addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	ready("http://" + ln.Addr().String() + "/")
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listenLoopback listens on addr, refusing an address that is not loopback:
// the demo has no login.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("address %q is not a loopback IP: the demo has no login, so it listens on 127.0.0.1 or ::1 only", addr)
	}
	return net.Listen("tcp", addr)
}

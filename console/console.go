package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/flags"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/retention"
)

// ErrConfig is returned by New when the Config cannot be used: nil, no
// Authenticate function, or a BasePath that is not a clean absolute path.
var ErrConfig = errors.New("console: invalid config")

// Config configures the console. Every SDK value is optional: a page whose
// value is nil says that it is not configured. Authenticate is required.
type Config struct {
	// Authenticate identifies the principal behind every request (a session
	// cookie, a header set by an authenticating proxy, mutual TLS). An error
	// matching steward.ErrForbidden gets 403; any other error gets 401 and
	// nothing else runs. Required.
	Authenticate func(*http.Request) (steward.Principal, error)
	// Authorizer decides what the console shows: lists hold only the
	// tenants it lets the principal read. It should be the Authorizer the
	// SDK values are configured with, which decide every call again
	// (nil: steward.MasterOnly()).
	Authorizer steward.Authorizer
	// Clock dates ages and retention previews (nil: steward.SystemClock).
	Clock steward.Clock
	// BasePath is the path the handler is mounted at ("/admin", no
	// trailing slash; "" for the root). The handler strips it itself and
	// renders every link under it: mount the handler at BasePath+"/"
	// without http.StripPrefix. A request outside it gets 404.
	BasePath string

	// Engine lists tenants and snapshots, browses and downloads files.
	Engine *backup.Engine
	// Restorer runs the restore wizard with Target.
	Restorer *restore.Restorer
	// Target returns where a restore of tenant writes (the tenant's live
	// data directory, for instance restore.DirTarget). It is called only
	// once the principal is allowed to restore tenant, for a dry run and
	// for the restore itself. The wizard needs both Restorer and Target.
	Target func(ctx context.Context, tenant string) (restore.Target, error)
	// Log is the audit trail: the Audit page, the Overview's failures,
	// success rates and times to restore, each flag's history, and the
	// reasons given for deploys and rollbacks (recorded in it). The
	// console also follows it to know when a catalog or a policy changed
	// (see the package documentation), so Engine and Policies should audit
	// to it.
	Log *audit.Log
	// Flags is the feature flag Set of the Flags page.
	Flags *flags.Set
	// Releases is the release Manager of the Releases page, over
	// Channels.
	Releases *release.Manager
	// Channels are the release channels the Releases page shows, in this
	// order (nil: the channels of the Manager's deployments, by name).
	Channels []string
	// Policies are the stored retention policies: the Retention page
	// previews and saves them, the Overview reads each tenant's RPO.
	Policies *retention.Policies

	// WarmAs, when set, is the principal the console warms its shared
	// cache as, and only that: New starts one goroutine that reads the
	// audit log's history into the cache's index and, when the Authorizer
	// lets WarmAs list every tenant's backups (steward.ActionBackupList
	// on "", as a master may), the tenant list, every tenant's catalog
	// and RPO, a few tenants at a time, and, when it may read the whole
	// log (steward.ActionAuditRead on ""), walks the audit chain once, so
	// that the first Overview, Snapshots, flag history, filtered Audit,
	// Releases or chain status page of the process is served from memory
	// (the chain status checking only the events appended since) rather
	// than waiting for those reads.
	// Every SDK call it makes is authorized and audited for WarmAs. It
	// never answers a request: what a page takes from the cache is
	// authorized for the page's own principal, tenant by tenant, as when a
	// request filled the cache (see the package documentation), so a
	// tenant-scoped principal sees only its tenants whoever warmed it.
	// Requests are served while it warms; one that needs a catalog being
	// read waits for that read instead of making it again. Warming needs
	// Log (without it there is no shared cache). nil: nothing is warmed,
	// the first request that needs a read makes it.
	WarmAs *steward.Principal
	// WarmContext bounds warming: the goroutine stops reading when it is
	// done (give the host's lifetime context, so a shutdown does not wait
	// for it). nil: context.Background(), warming ends once the cache is
	// filled.
	WarmContext context.Context
}

// New returns the console as an http.Handler. It parses every template
// first, so a broken template fails here rather than on a request, and it
// draws the random key of the CSRF tokens: tokens of one handler are not
// accepted by another (a restarted process asks users to reload the page).
// With Config.WarmAs it starts warming the shared cache in the background
// (until Config.WarmContext is done). The handler is safe for concurrent
// use.
func New(cfg *Config) (http.Handler, error) {
	if cfg == nil || cfg.Authenticate == nil {
		return nil, fmt.Errorf("%w: Config.Authenticate is required", ErrConfig)
	}
	base := cfg.BasePath
	if base != "" && (!strings.HasPrefix(base, "/") || strings.HasSuffix(base, "/") || strings.Contains(base, "//")) {
		return nil, fmt.Errorf(`%w: BasePath %q must start with "/" and not end with one, like "/admin"`, ErrConfig, base)
	}
	views, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	key, err := newCSRFKey()
	if err != nil {
		return nil, err
	}
	c := &console{cfg: *cfg, views: views, csrf: key}
	c.cfg.Authorizer = steward.AuthorizerOrDefault(cfg.Authorizer)
	c.cfg.Clock = steward.ClockOrSystem(cfg.Clock)
	if cfg.WarmAs != nil {
		if cfg.WarmAs.ID == "" {
			return nil, fmt.Errorf("%w: Config.WarmAs has no ID", ErrConfig)
		}
		c.warmAs, c.warmed = *cfg.WarmAs, make(chan struct{})
		ctx := cfg.WarmContext
		if ctx == nil {
			ctx = context.Background()
		}
		go c.warm(ctx)
	}
	return &handler{Handler: c.handler(), c: c}, nil
}

// console is the handler New returns.
type console struct {
	cfg   Config
	views *views
	csrf  csrfKey
	jobs  jobs // restores started here

	shared   shared     // tenants, catalogs, RPOs and the audit log's summary, kept current by the log
	verified chainPoint // how far the Audit page verified the chain

	warmAs steward.Principal // Config.WarmAs, copied
	warmed chan struct{}     // closed when warming ended (nil: no warming)
}

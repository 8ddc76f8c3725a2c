package health

import (
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// Status is a check's or a report's verdict.
type Status string

// Statuses.
const (
	// StatusOK: the check passed (or, for a report, every check did).
	StatusOK Status = "ok"
	// StatusDegraded: the check failed (or, for a report, at least one).
	StatusDegraded Status = "degraded"
)

// Names of the checks, as Result.Check gives them.
const (
	// CheckStore: the store is reachable and writable (a probe object is
	// created and deleted under storage.ProbePrefix), or, with
	// Config.ReadOnly, reachable (a listing).
	CheckStore = "store"
	// CheckConditionalCreate: the store honours conditional create, or the
	// host declared a single writer (Config.SingleWriter).
	CheckConditionalCreate = "conditional_create"
	// CheckTenants: the tenants could be listed.
	CheckTenants = "tenants"
	// CheckLocks: the tenant's repository holds no stale lock (one its
	// holder stopped refreshing backup.LockStaleAfter ago: it died).
	CheckLocks = "locks"
	// CheckRPO: the tenant's newest backup and newest full backup are
	// within its policy's RPOs.
	CheckRPO = "rpo"
	// CheckDrill: the tenant's latest DR drill passed within its SLO and
	// is not overdue (retention.DrillDeadline).
	CheckDrill = "drill"
	// CheckAuditChain: the audit log verifies (audit.Log.VerifySince from
	// the last sequence verified).
	CheckAuditChain = "audit_chain"
	// CheckKeyProvider: the key provider wraps and unwraps a probe key.
	CheckKeyProvider = "key_provider"
)

// checkNames are every check's name: the gauges' attribute values.
var checkNames = []string{CheckStore, CheckConditionalCreate, CheckTenants, CheckLocks, CheckRPO, CheckDrill, CheckAuditChain, CheckKeyProvider}

// Result is one check's verdict, for one tenant when the check is per
// tenant (locks, rpo, drill).
type Result struct {
	// Check is one of the Check constants.
	Check string `json:"check"`
	// Tenant is the tenant concerned, "" for checks of the whole system.
	Tenant string `json:"tenant,omitempty"`
	// Status is ok or degraded.
	Status Status `json:"status"`
	// Message says what was found, in a sentence; for a degraded result,
	// what is wrong and what to do.
	Message string `json:"message"`
	// LastSuccess is the last time this check (for this tenant) passed in
	// this Checker's life; zero when it never has.
	LastSuccess time.Time `json:"last_success,omitzero"`
}

// Report is the outcome of one Check.
type Report struct {
	// Status is degraded when any result is.
	Status Status `json:"status"`
	// CheckedAt is when the check ran (Config.Clock).
	CheckedAt time.Time `json:"checked_at"`
	// AuditVerifiedSeq is the sequence number up to which the audit chain
	// has been verified (0 when there is no log or nothing verified).
	AuditVerifiedSeq uint64 `json:"audit_verified_seq"`
	// Results holds every check's verdict: the system's checks first,
	// then the per-tenant ones by tenant.
	Results []Result `json:"results"`
}

// Degraded returns the results that are not ok.
func (r *Report) Degraded() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Status != StatusOK {
			out = append(out, res)
		}
	}
	return out
}

// Config configures a Checker. Every part but Engine is optional; the
// checks whose part is missing are left out of the report.
type Config struct {
	// Engine gives the store (Engine.Store), the tenants (Engine.Tenants)
	// and their catalogs (required).
	Engine *backup.Engine
	// Policies gives each tenant's RPOs and drill schedule, and its drill
	// status as the retention Scheduler stored it. Nil: no rpo and drill
	// checks.
	Policies *retention.Policies
	// Log is the audit log whose chain is verified. Nil: no audit_chain
	// check.
	Log *audit.Log
	// AuditFullEvery is how often the whole audit log is verified again
	// (default 24 hours; negative: only at the first Check). In between,
	// a Check verifies only the records appended since the sequence the
	// last one reached (audit.Log.VerifySince), which cannot see a change
	// to a record verified before.
	AuditFullEvery time.Duration
	// Keys is the engine's key provider, checked by wrapping and
	// unwrapping a random probe key (a KMS round trip, or an argon2id
	// derivation for a passphrase). Nil: no key_provider check.
	Keys backup.KeyProvider
	// KeyCheckEvery is how often the key provider is checked (default 5
	// minutes: the round trip costs a KMS call or an argon2id derivation);
	// in between, its last result is reported. Negative: at every Check.
	KeyCheckEvery time.Duration
	// Tenants lists the tenants checked (default Engine.Tenants).
	Tenants func(ctx context.Context) ([]string, error)
	// ReadOnly says the store is meant to be read-only: the store check
	// lists instead of writing, and conditional create is not checked.
	ReadOnly bool
	// SingleWriter says this process is the store's only writer, so a store
	// without conditional create is fine (as the packages' SingleWriter).
	SingleWriter bool
	// Principal is who the checks run as: they read catalogs, policies and
	// the audit log, under the host's Authorizers (default: ID "health"
	// with steward.RoleMaster).
	Principal *steward.Principal
	// Clock gives "now" for ages and stale locks (default system clock).
	Clock steward.Clock
	// Meter, when set, gets the gauges MetricStatus and
	// MetricDegradedTenants (see NewMetrics).
	Meter metric.Meter
}

// Checker runs the health checks. Create one with New; it is safe for
// concurrent use (Checks run one at a time) and keeps, between Checks,
// the audit sequence verified, each check's last success and the key
// provider's last result.
type Checker struct {
	cfg Config

	mu       sync.Mutex
	verified audit.Checkpoint     // audit chain verified up to here
	fullAt   time.Time            // when the whole chain was last verified
	lastOK   map[string]time.Time // "check/tenant" -> last success
	keys     keyState
	last     atomic.Pointer[Report] // the newest report, for the gauges
}

// ErrConfig: New was given an unusable Config.
var ErrConfig = errors.New("health: invalid config")

// New returns a Checker for cfg, or an error matching ErrConfig when cfg
// is nil or has no Engine, or (errors of the meter) when the gauges
// cannot be registered.
func New(cfg *Config) (*Checker, error) {
	if cfg == nil || cfg.Engine == nil {
		return nil, errors.Join(ErrConfig, errors.New("a Config with an Engine is required"))
	}
	c := &Checker{cfg: *cfg, lastOK: map[string]time.Time{}}
	c.cfg.Clock = steward.ClockOrSystem(c.cfg.Clock)
	if c.cfg.Tenants == nil {
		c.cfg.Tenants = c.cfg.Engine.Tenants
	}
	if c.cfg.AuditFullEvery == 0 {
		c.cfg.AuditFullEvery = 24 * time.Hour
	}
	if c.cfg.KeyCheckEvery == 0 {
		c.cfg.KeyCheckEvery = 5 * time.Minute
	}
	if c.cfg.Principal == nil {
		c.cfg.Principal = &steward.Principal{ID: "health", Roles: []string{steward.RoleMaster}}
	}
	if c.cfg.Meter != nil {
		if err := c.registerGauges(c.cfg.Meter); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Check runs every configured check and returns the report. It never
// fails: a check that cannot run is a degraded result saying why. The
// checks run as Config.Principal whatever principal ctx carries; ctx
// bounds them.
func (c *Checker) Check(ctx context.Context) Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx = steward.WithPrincipal(ctx, *c.cfg.Principal)
	now := c.cfg.Clock.Now()
	rep := Report{Status: StatusOK, CheckedAt: now}
	rep.Results = append(rep.Results, c.checkStore(ctx)...)
	if c.cfg.Log != nil {
		rep.Results = append(rep.Results, c.checkAudit(ctx, now))
	}
	if c.cfg.Keys != nil {
		rep.Results = append(rep.Results, c.checkKeys(ctx, now))
	}
	rep.Results = append(rep.Results, c.checkTenants(ctx, now)...)
	rep.AuditVerifiedSeq = c.verified.Seq
	c.conclude(&rep, now)
	c.last.Store(&rep)
	return rep
}

// conclude stamps each result's last success, sets the report's status,
// and forgets the last successes of tenants no longer listed.
func (c *Checker) conclude(rep *Report, now time.Time) {
	seen := make(map[string]bool, len(rep.Results))
	listed := false
	for i := range rep.Results {
		r := &rep.Results[i]
		c.stamp(r, now)
		seen[r.Check+"/"+r.Tenant] = true
		listed = listed || (r.Check == CheckTenants && r.Status == StatusOK)
		if r.Status != StatusOK {
			rep.Status = StatusDegraded
		}
	}
	if listed {
		maps.DeleteFunc(c.lastOK, func(k string, _ time.Time) bool { return !seen[k] })
	}
}

// stamp records r's success and sets its LastSuccess.
func (c *Checker) stamp(r *Result, now time.Time) {
	key := r.Check + "/" + r.Tenant
	if r.Status == StatusOK {
		c.lastOK[key] = now
	}
	r.LastSuccess = c.lastOK[key]
}

func ok(check, tenant, msg string) Result {
	return Result{Check: check, Tenant: tenant, Status: StatusOK, Message: msg}
}

func degraded(check, tenant, msg string) Result {
	return Result{Check: check, Tenant: tenant, Status: StatusDegraded, Message: msg}
}

// store returns the Engine's store.
func (c *Checker) store() storage.Store { return c.cfg.Engine.Store() }

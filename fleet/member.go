package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/retention"
)

// Config configures a Member. Engine, Policies and Source are required;
// every other zero field means its default.
type Config struct {
	// Engine takes the backups and runs retention (required).
	Engine *backup.Engine
	// Policies give each tenant's schedules and retention (required).
	Policies *retention.Policies
	// Source returns the data to back up for a tenant (required).
	Source func(ctx context.Context, tenant string) (backup.Source, error)
	// Restorer runs the DR drills of policies with a DrillSchedule. Nil:
	// this member enqueues no drill and works none. Give every member one,
	// or none: a drill job fetched by a member without one fails its
	// attempt (River knows no worker for it there) and is retried.
	Restorer *restore.Restorer
	// Tenants lists the tenants to schedule (default: Engine.Tenants).
	Tenants func(ctx context.Context) ([]string, error)
	// Options adjusts each backup (tags, components); Type is chosen by
	// the tenant's policy.
	Options backup.Options

	// Principal is who the jobs run as: every backup, retention run and
	// drill is authorized and audited under it (default: ID "fleet" with
	// role master).
	Principal *steward.Principal
	// Clock names the schedule slots and is retention's "now" (default
	// steward.SystemClock). River keeps its own (real) time for retries
	// and rescues.
	Clock steward.Clock
	// Auditor and Authorizer are given to retention.Apply. The Authorizer
	// is asked for steward.ActionBackupCreate before a tenant's Source is
	// opened (a denial is audited and fails the attempt); the Auditor
	// receives the failures of scheduled backups that never reached the
	// Engine (a source that could not open). Pass the ones the Engine
	// has. Default: none recorded, steward.MasterOnly.
	Auditor    audit.Auditor
	Authorizer steward.Authorizer

	// RPOInterval is how often the leader checks every tenant's RPOs
	// (CheckRPO; default EnqueueInterval).
	RPOInterval time.Duration
	// Alert is called once for the fleet when a tenant enters an RPO
	// breach (CheckRPO), on the member that recorded its rpo.breach
	// audit event.
	Alert func(ctx context.Context, a retention.Alert)
	// DrillAlert is called once for the fleet when a tenant enters a
	// drill breach: a failed drill or one over its SLO (on the member
	// whose drill job found it), or an overdue drill (CheckRPO, on the
	// member that recorded its drill.alert audit event).
	DrillAlert func(ctx context.Context, a retention.DrillAlert)
	// AuditLog is the log the Auditor writes to, if it is one. CheckRPO
	// reads it to finish an alert whose member died between claiming it
	// and marking it recorded, so that the alert is not repeated. Nil:
	// such an alert is recorded again.
	AuditLog *audit.Log

	// Schema is the PostgreSQL schema of River's tables ("" = the
	// connection's search_path). Migrate creates them.
	Schema string
	// ID names this member in River (river_job.attempted_by); default
	// River's own (host name and time).
	ID string
	// Workers bounds the jobs this member runs at once (default 4).
	Workers int
	// EnqueueInterval is how often the leader enqueues due slots (default
	// a minute).
	EnqueueInterval time.Duration
	// CatchUp is how far back a missed slot is still enqueued (default an
	// hour): a tenant's newest slot within it is enqueued, older ones are
	// skipped. It must be shorter than the week River keeps finished jobs
	// here, which is what makes a slot unique.
	CatchUp time.Duration
	// RescueAfter is how long a job may run before River takes it for one
	// whose worker died and retries it (default an hour). A job's context
	// ends a little earlier (JobTimeout), so a live worker is not doubled.
	RescueAfter time.Duration
	// MaxAttempts is the retry budget of a tenant's jobs whose policy
	// sets none (retention.Policy.MaxAttempts, default 5): a failed attempt
	// is retried by RetryPolicy until the job has been attempted that many
	// times, then it is discarded.
	MaxAttempts int
	// RetryPolicy says when a failed attempt is retried (default River's:
	// attempt⁴ seconds, with jitter).
	RetryPolicy river.ClientRetryPolicy
	// PollInterval is how often an idle member looks for jobs when
	// PostgreSQL's notifications do not reach it (default a second).
	PollInterval time.Duration
	// FetchCooldown is the least time between two fetches of jobs
	// (default River's, 100 ms; at most PollInterval). Each fetch takes at
	// most Workers jobs, so a member runs at most about Workers jobs per
	// FetchCooldown: with short jobs (small tenants) raise Workers or
	// lower it (BenchmarkFleetBackup).
	FetchCooldown time.Duration
	// HandBack bounds how long Stop waits for cancelled jobs to go back
	// to the queue once its own context ended (default 10 s).
	HandBack time.Duration
	// Logger receives River's logs (default: warnings and errors to
	// slog.Default's handler).
	Logger *slog.Logger
}

// doneRetention is how long River keeps finished jobs, the window in
// which a slot stays unique.
const doneRetention = 7 * 24 * time.Hour

func (c *Config) withDefaults() (Config, error) {
	if c == nil || c.Engine == nil || c.Policies == nil || c.Source == nil {
		return Config{}, errors.New("fleet: a member needs a Config with Engine, Policies and Source")
	}
	out := *c
	if out.Principal == nil {
		out.Principal = &steward.Principal{ID: "fleet", Roles: []string{steward.RoleMaster}}
	}
	out.Clock = steward.ClockOrSystem(out.Clock)
	out.Auditor = audit.OrNop(out.Auditor)
	out.Authorizer = steward.AuthorizerOrDefault(out.Authorizer)
	if out.Tenants == nil {
		out.Tenants = out.Engine.Tenants
	}
	out.Workers = positive(out.Workers, 4)
	out.MaxAttempts = positive(out.MaxAttempts, 5)
	out.EnqueueInterval = positive(out.EnqueueInterval, time.Minute)
	out.RPOInterval = positive(out.RPOInterval, out.EnqueueInterval)
	out.CatchUp = positive(out.CatchUp, time.Hour)
	out.RescueAfter = positive(out.RescueAfter, time.Hour)
	out.PollInterval = positive(out.PollInterval, time.Second)
	out.HandBack = positive(out.HandBack, 10*time.Second)
	if out.CatchUp >= doneRetention {
		return Config{}, fmt.Errorf("fleet: CatchUp %s must be shorter than %s, how long finished jobs are kept", out.CatchUp, doneRetention)
	}
	if out.Logger == nil {
		out.Logger = slog.New(leveled{slog.Default().Handler()})
	}
	return out, nil
}

func positive[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// leveled passes on warnings and errors only: River logs every job at
// info level.
type leveled struct{ slog.Handler }

func (l leveled) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= slog.LevelWarn && l.Handler.Enabled(ctx, lv)
}

// Member is one process of the fleet: a River client whose workers run
// the scheduled backups, retention runs and drills of every tenant, and
// which, while it is River's elected leader, enqueues the due slots. Any
// number of members share one database and one store. Safe for
// concurrent use.
type Member struct {
	cfg    Config
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
}

// New returns a member working on pool's database (River's tables must
// exist: see Migrate). It does not start working until Start.
func New(pool *pgxpool.Pool, cfg *Config) (*Member, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Member{cfg: c, pool: pool}
	workers := river.NewWorkers()
	river.AddWorker(workers, &backupWorker{m: m})
	river.AddWorker(workers, &retentionWorker{m: m})
	river.AddWorker(workers, &enqueueWorker{m: m})
	river.AddWorker(workers, &rpoWorker{m: m})
	if c.Restorer != nil {
		river.AddWorker(workers, &drillWorker{m: m})
	}
	m.client, err = river.NewClient(riverpgxv5.New(pool), m.riverConfig(workers))
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	return m, nil
}

func (m *Member) riverConfig(workers *river.Workers) *river.Config {
	c := m.cfg
	enqueue := river.NewPeriodicJob(river.PeriodicInterval(c.EnqueueInterval),
		func() (river.JobArgs, *river.InsertOpts) { return EnqueueArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true, ID: KindEnqueue})
	rpo := river.NewPeriodicJob(river.PeriodicInterval(c.RPOInterval),
		func() (river.JobArgs, *river.InsertOpts) { return RPOArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true, ID: KindRPO})
	return &river.Config{
		ID:                          c.ID,
		Schema:                      c.Schema,
		Logger:                      c.Logger,
		Workers:                     workers,
		Queues:                      map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: c.Workers}},
		PeriodicJobs:                []*river.PeriodicJob{enqueue, rpo},
		MaxAttempts:                 c.MaxAttempts,
		RetryPolicy:                 c.RetryPolicy,
		RescueStuckJobsAfter:        c.RescueAfter,
		JobTimeout:                  c.RescueAfter * 9 / 10,
		FetchPollInterval:           c.PollInterval,
		FetchCooldown:               c.FetchCooldown,
		CompletedJobRetentionPeriod: doneRetention,
		CancelledJobRetentionPeriod: doneRetention,
		DiscardedJobRetentionPeriod: doneRetention,
	}
}

// Client returns the member's River client, for a host that inserts its
// own jobs, subscribes to events or lists jobs.
func (m *Member) Client() *river.Client[pgx.Tx] { return m.client }

// Start starts working jobs and taking part in leader election; it
// returns at once. Cancelling ctx stops the member as StopAndCancel would:
// prefer Stop.
func (m *Member) Start(ctx context.Context) error {
	if err := m.client.Start(ctx); err != nil {
		return fmt.Errorf("fleet: start: %w", err)
	}
	return nil
}

// ErrHandedBack is what Stop's error wraps, beside ctx's, when its context
// ended before the running jobs finished and all of them were cancelled
// and handed back to the queue: a graceful stop that left work for the
// other members, not a failure.
var ErrHandedBack = errors.New("fleet: running jobs cancelled and handed back")

// Stop stops fetching jobs and waits for the running ones to finish. When
// ctx ends first, it cancels them: a cancelled job goes back to the queue
// for another member (a cancelled backup leaves no snapshot), and Stop
// waits up to Config.HandBack for that, then returns an error wrapping
// ctx's and ErrHandedBack, or, when they were not handed back in time,
// not ErrHandedBack.
func (m *Member) Stop(ctx context.Context) error {
	err := m.client.Stop(ctx)
	if err == nil || ctx.Err() == nil {
		return err
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.HandBack)
	defer cancel()
	if herr := m.client.StopAndCancel(hctx); herr != nil {
		return fmt.Errorf("fleet: stop: running jobs not handed back within %s: %w", m.cfg.HandBack, herr)
	}
	return fmt.Errorf("%w: %w", ErrHandedBack, err)
}

// Migrate creates or updates River's tables, and the fleet's own two
// (the tenants whose RPOs are watched and the RPO alerts claimed), in
// schema ("" = the connection's search_path) of pool's database. Safe to
// run from every member at start: it is a no-op when the tables are
// current.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	mig, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema})
	if err != nil {
		return fmt.Errorf("fleet: migrate: %w", err)
	}
	if _, err := mig.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("fleet: migrate River's tables: %w", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Serialised: concurrent CREATE TABLE IF NOT EXISTS may collide.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('steward_fleet_migrate'))`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+qualified(schema, tableWatch)+` (
				tenant text PRIMARY KEY, since timestamptz NOT NULL);
			CREATE TABLE IF NOT EXISTS `+qualified(schema, tableAlert)+` (
				tenant text NOT NULL, kind text NOT NULL, newest timestamptz NOT NULL,
				alerted boolean NOT NULL DEFAULT false, PRIMARY KEY (tenant, kind, newest))`)
		return err
	})
	if err != nil {
		return fmt.Errorf("fleet: migrate the fleet's tables: %w", err)
	}
	return nil
}

// The fleet's own tables (Migrate).
const (
	tableWatch = "steward_fleet_rpo_watch"
	tableAlert = "steward_fleet_rpo_alert"
)

// qualified is table in schema, quoted.
func qualified(schema, table string) string {
	if schema == "" {
		return pgx.Identifier{table}.Sanitize()
	}
	return pgx.Identifier{schema, table}.Sanitize()
}

// table is one of the fleet's tables in the member's schema.
func (m *Member) table(name string) string { return qualified(m.cfg.Schema, name) }

// jobCtx is ctx with the member's principal.
func (m *Member) jobCtx(ctx context.Context) context.Context {
	return steward.WithPrincipal(ctx, *m.cfg.Principal)
}

// pgxTx is the transaction type of the members' River clients.
type pgxTx = pgx.Tx

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/fleet"
	"github.com/iluxsys/steward/retention"
)

// fleetFlags are the flags every fleet subcommand shares.
type fleetFlags struct {
	db, schema string
}

func (f *fleetFlags) pool(ctx context.Context) (*pgxpool.Pool, error) {
	url := f.db
	if url == "" {
		url = os.Getenv("STEWARD_FLEET_DB")
	}
	if url == "" {
		return nil, errors.New("fleet: --db is empty: give a PostgreSQL URL (postgres://user:pass@host/db), or set STEWARD_FLEET_DB")
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("fleet: --db: %w", err)
	}
	return pool, nil
}

// fleetCmd is "fleet run" and "fleet status".
func (a *app) fleetCmd() *cobra.Command {
	f := &fleetFlags{}
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Run scheduled backups, retention and drills as River jobs on PostgreSQL, shared by many hosts",
		Long: `The fleet mode: every process running "fleet run" against the same
database and store works the scheduled jobs; the elected leader enqueues
each tenant's due slots from the stored policies, once per slot.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.db, "db", "", "PostgreSQL URL of the fleet's job queue (default $STEWARD_FLEET_DB)")
	pf.StringVar(&f.schema, "schema", "", "PostgreSQL schema of River's tables (default: the connection's search_path)")
	cmd.AddCommand(a.fleetRunCmd(f), a.fleetStatusCmd(f))
	return cmd
}

func (a *app) fleetRunCmd(f *fleetFlags) *cobra.Command {
	var (
		sources     string
		workers     int
		attempts    int
		enqueue     time.Duration
		rpo         time.Duration
		rescue      time.Duration
		stopTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run --db URL --sources DIR",
		Short: "Run a fleet member until interrupted (creates River's tables when missing)",
		Long: `Run a fleet member: back up each tenant on its policy's schedule (the
directory DIR/<tenant> as its source; the tenants are DIR's subdirectories),
apply retention after each backup, and drill on the policy's drill
schedule. While it leads, the member checks every tenant's RPOs for the
fleet; a breach is alerted once (an rpo.breach audit event, also written
to stderr), and so is an overdue drill (a drill.alert audit event). A
failed job is retried up to its tenant's policy's max_attempts
(--max-attempts when the policy sets none). On SIGINT or
SIGTERM the member stops fetching jobs and waits --stop-timeout for the
running ones, then hands them back to the queue.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if sources == "" {
				return errors.New("fleet run: --sources is empty: name the directory holding one subdirectory per tenant")
			}
			cfg := &fleet.Config{Workers: workers, EnqueueInterval: enqueue, RPOInterval: rpo, RescueAfter: rescue,
				MaxAttempts: attempts, Schema: f.schema,
				Source: func(_ context.Context, t string) (backup.Source, error) {
					return backup.DirSource(filepath.Join(sources, t)), nil
				},
				Tenants: func(context.Context) ([]string, error) { return tenantDirs(sources) }}
			return a.fleetRun(cmd, f, cfg, stopTimeout)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&sources, "sources", "", "directory with one subdirectory per tenant: each tenant's data")
	fl.IntVar(&workers, "workers", 4, "jobs this member runs at once")
	fl.DurationVar(&enqueue, "enqueue-every", time.Minute, "how often the leader enqueues due slots")
	fl.DurationVar(&rpo, "rpo-every", 5*time.Minute, "how often the leader checks every tenant's RPOs")
	fl.IntVar(&attempts, "max-attempts", 5, "a job's retry budget when its tenant's policy sets none (max_attempts)")
	fl.DurationVar(&rescue, "rescue-after", time.Hour, "how long a job may run before it is taken for one whose member died and retried")
	fl.DurationVar(&stopTimeout, "stop-timeout", time.Minute, "on interrupt, how long to wait for running jobs before handing them back")
	return cmd
}

func (a *app) fleetRun(cmd *cobra.Command, f *fleetFlags, cfg *fleet.Config, stopTimeout time.Duration) error {
	ctx, e, err := a.begin(cmd)
	if err != nil {
		return err
	}
	pool, err := f.pool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := fleet.Migrate(ctx, pool, f.schema); err != nil {
		return err
	}
	p, _ := steward.PrincipalFrom(ctx)
	cfg.Engine, cfg.Restorer, cfg.Principal, cfg.Auditor, cfg.AuditLog = e, a.restorer(0), &p, a.auditor(), a.log
	cfg.Policies = retention.NewPolicies(a.store, &retention.Config{Auditor: a.auditor()})
	m, err := fleet.New(pool, cfg)
	if err != nil {
		return err
	}
	// The member outlives ctx (cancelled by the interrupt) until Stop.
	if err := m.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	fmt.Fprintln(a.errOut, "fleet member running; interrupt to stop")
	<-ctx.Done()
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if err := m.Stop(stop); errors.Is(err, fleet.ErrHandedBack) {
		fmt.Fprintf(a.errOut, "fleet member stopped: its running jobs did not finish within %s and were handed back to the queue\n", stopTimeout)
		return nil
	} else if err != nil {
		return err
	}
	fmt.Fprintln(a.errOut, "fleet member stopped")
	return nil
}

// tenantDirs lists dir's subdirectories whose names are tenant IDs.
func tenantDirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("fleet: tenants: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && steward.ValidateTenant(e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func (a *app) fleetStatusCmd(f *fleetFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status --db URL",
		Short: "List queued, running, failed and completed fleet jobs per tenant",
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, err := f.pool(cmd.Context())
			if err != nil {
				return err
			}
			defer pool.Close()
			st, err := fleet.Status(cmd.Context(), pool, f.schema)
			if err != nil {
				return err
			}
			st = nonNil(st)
			return a.print(st, func() {
				fmt.Fprintf(a.out, "%-20s %7s %7s %7s %9s\n", "TENANT", "QUEUED", "RUNNING", "FAILED", "COMPLETED")
				for _, s := range st {
					fmt.Fprintf(a.out, "%-20s %7d %7d %7d %9d\n", s.Tenant, s.Queued, s.Running, s.Failed, s.Completed)
					if s.LastError != "" {
						fmt.Fprintf(a.out, "    last error: %s\n", s.LastError)
					}
				}
			})
		},
	}
}

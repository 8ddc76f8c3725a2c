// Package fleet runs steward's scheduled work — each tenant's backups,
// retention runs and DR drills — as River jobs on PostgreSQL
// (github.com/riverqueue/river), shared by any number of processes.
//
// # When to choose it
//
// retention.Scheduler is the embedded default: an in-process cron for one
// host with no database. Two hosts running it back every tenant up twice,
// and a host that dies takes its schedule with it. Switch to the fleet when
// one host is no longer enough or must not be a single point of failure:
// every process runs a Member against the same database and store, and
// River coordinates them.
//
// # How it works
//
//   - Job kinds with typed arguments: BackupArgs, RetentionArgs and
//     DrillArgs, each naming a tenant and a schedule slot (the time the
//     tenant's cron schedule named). The workers hold the Engine, the
//     Restorer and the Policies.
//   - River's elected leader inserts an EnqueueArgs job every
//     Config.EnqueueInterval (River periodic jobs run only on the leader);
//     its worker reads the stored per-tenant policies and enqueues each
//     tenant's newest due slot (LatestSlot). Jobs are unique per (kind,
//     tenant, slot) in every state, so two members, or a restarted leader,
//     never run a slot twice while River keeps the finished job (a week).
//   - A backup job takes a full or incremental backup by the tenant's
//     policy (FullEvery), tags the snapshot SlotTag(slot), and enqueues the
//     slot's retention run (retention.Apply: forget, then prune). A retry
//     that finds the slot's snapshot takes no second one, and a cancelled
//     backup leaves no snapshot, so a backup job is safe to repeat. Prune's
//     exclusive lock and backups' shared locks live in the store, so they
//     keep their meaning across hosts; a prune refused by a lock is retried
//     with River's backoff.
//   - A drill job (when the member has a Restorer and the policy a
//     DrillSchedule) waits, snoozing, while the backup job of its slot is
//     enqueued and unfinished, then drills the tenant's newest snapshot;
//     a failed drill cancels its job with the report as its error, and
//     one that finds no snapshot at all is retried.
//   - A job whose worker died stays "running" in River until the leader
//     rescues it after Config.RescueAfter and another member retries it.
//     A failed attempt is retried with backoff (Config.RetryPolicy) until
//     the job has used its tenant's retry budget (retention.Policy
//     MaxAttempts, stored with the policy and set on each job at insert;
//     Config.MaxAttempts when the policy sets none), then discarded.
//   - Results and errors are River's (each job's output and attempt
//     errors in river_job; Status counts them per tenant) and the audit
//     log's (the Engine, Apply and the Restorer audit their operations; a
//     source that could not open is audited here as backup.failed).
//   - Member.Stop finishes the running jobs or, when its context ends,
//     cancels them and hands them back to the queue.
//
// A drill is recorded as retention.Scheduler records its own
// (retention.Policies.RecordDrill: stored status, audit event, an alert on
// entering a failed or over-SLO breach).
//
// # RPO alerts, once for the fleet
//
// The leader also inserts an RPOArgs job every Config.RPOInterval; the
// member that works it runs CheckRPO: each tenant's newest backup and
// newest full backup, read from the catalog, against its policy, by the
// same rules as retention.Scheduler (retention.RPOBreaches). A breach is
// alerted once, on entering it, whichever member checks and however
// often: the alert (tenant, kind, newest backup) is claimed in a table of
// the fleet's own, then recorded as an rpo.breach audit event
// (retention.RecordRPOBreach, which the notifiers pass on) and given to
// Config.Alert. A member that dies between claiming and recording leaves
// the claim open, and the next check looks for the event in the audit log
// (Config.AuditLog) before recording it, so an alert is neither lost nor
// repeated. The same check alerts an overdue DR drill the same way
// (retention.DrillOverdue, by a Scheduler's rule: the second drill slot
// after the last successful drill, or after the fleet began watching the
// tenant, passed without a success): claimed by tenant and last success,
// recorded as a drill.alert audit event (retention.RecordDrillAlert) and
// given to Config.DrillAlert, which also hears of the failed and slow
// drills the drill jobs find.
//
// # Setting up
//
// Create River's tables once per database (Migrate; every member may call
// it at start), then run a Member in each process:
//
//	pool, _ := pgxpool.New(ctx, "postgres://...")
//	_ = fleet.Migrate(ctx, pool, "")
//	m, _ := fleet.New(pool, &fleet.Config{Engine: engine, Policies: policies, Source: source, Restorer: restorer})
//	_ = m.Start(ctx)
//	defer m.Stop(shutdownCtx)
//
// backupctl's "fleet run --db URL" does this, and "fleet status --db URL"
// lists the queued, running, failed and completed jobs per tenant.
//
// # River's UI beside the console
//
// River has a web UI of its own (riverqueue.com/riverui, a separate
// module) that lists, retries and cancels jobs. A host that wants it
// mounts it beside steward's console on one mux, behind the same
// authentication:
//
//	ui, _ := riverui.NewHandler(&riverui.HandlerOpts{
//		Endpoints: riverui.NewEndpoints(member.Client(), nil),
//		Prefix:    "/river",
//	})
//	_ = ui.Start(ctx)
//	mux := http.NewServeMux()
//	mux.Handle("/", consoleHandler)
//	mux.Handle("/river/", ui)
//
// steward does not import riverui itself.
package fleet

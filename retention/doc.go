// Package retention decides which snapshots to keep and when to take new
// ones.
//
// Plan is a pure function from a tenant's snapshots, a Policy and the time
// to a keep/forget decision per snapshot, each keep explained by its
// reasons ("last-1", "daily-3", "weekly-full-2", "pre-deploy", "tag:keep",
// "major-release"). Apply carries a plan out: it forgets the snapshots the
// plan drops and prunes the data nothing references any more; with dry run
// it only reports. Policies are stored per tenant in the Store, with
// defaults (the seed's grandfather-father-son rules) for tenants without one.
//
// Every snapshot's manifest is complete (an incremental snapshot lists every
// file, sharing unchanged chunks), so snapshots do not depend on each
// other: any one can be forgotten without breaking the rest.
//
// Scheduler runs backups on cron expressions per tenant (robfig/cron
// syntax), chooses a full backup when the newest full is older than the
// policy's FullEvery and an incremental otherwise, applies retention after
// each run, bounds parallelism across tenants, and raises an alert when a
// tenant's newest good backup is older than its RPO. It runs off
// steward.Clock, so tests drive it with a fake clock.
//
// # Disaster-recovery drills
//
// A Policy's DrillSchedule (DefaultDrillSchedule, quarterly, in the
// default tenant policy; off in a stored policy that does not name one)
// makes the Scheduler, when it has a restore.Restorer, restore the
// tenant's newest snapshot into a discarding target (Restorer.Drill:
// streamed, every chunk and file verified, nothing kept) at each slot. Each
// drill is audited (audit.TypeDrillPassed, audit.TypeDrillFailed with its
// time to restore) and stored as the tenant's DrillStatus, which a
// restarted Scheduler and a health check read back. A tenant alerts
// (audit.TypeDrillAlert at LevelError, and SchedulerConfig.DrillAlert)
// once when it enters a breach — its drill failed, its TTR exceeded the
// policy's DrillTTRSLO, or its last successful drill is older than
// DrillDeadline allows — and again only after it recovered.
package retention

package fleet

import (
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Job kinds, as River stores them in river_job.kind.
const (
	KindBackup    = "steward_backup"
	KindRetention = "steward_retention"
	KindDrill     = "steward_drill"
	KindEnqueue   = "steward_fleet_enqueue"
)

// allStates makes a slot unique whatever became of the job that ran it: a
// slot that completed, failed for good (discarded) or was cancelled is not
// enqueued again while River keeps its row (see Config.CatchUp).
var allStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStateCancelled, rivertype.JobStateCompleted,
	rivertype.JobStateDiscarded, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// slotOpts makes a job unique per (kind, tenant, slot): its args hold
// only the tenant and the slot.
func slotOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: allStates}}
}

// BackupArgs is a scheduled backup of Tenant for the schedule slot Slot
// (the time the tenant's cron schedule named). The worker takes a full or
// an incremental backup by the tenant's policy (FullEvery) and, when it
// committed, enqueues the slot's RetentionArgs.
type BackupArgs struct {
	Tenant string    `json:"tenant"`
	Slot   time.Time `json:"slot"`
}

// Kind returns KindBackup.
func (BackupArgs) Kind() string { return KindBackup }

// InsertOpts makes the job unique per (tenant, slot) in every state.
func (BackupArgs) InsertOpts() river.InsertOpts { return slotOpts() }

// RetentionArgs applies Tenant's retention policy (retention.Apply:
// forget, then prune) after the backup of Slot.
type RetentionArgs struct {
	Tenant string    `json:"tenant"`
	Slot   time.Time `json:"slot"`
}

// Kind returns KindRetention.
func (RetentionArgs) Kind() string { return KindRetention }

// InsertOpts makes the job unique per (tenant, slot) in every state.
func (RetentionArgs) InsertOpts() river.InsertOpts { return slotOpts() }

// DrillArgs is a scheduled DR drill of Tenant (restore.Restorer.Drill: its
// newest snapshot restored and verified, streaming) for the slot Slot of
// the policy's DrillSchedule.
type DrillArgs struct {
	Tenant string    `json:"tenant"`
	Slot   time.Time `json:"slot"`
}

// Kind returns KindDrill.
func (DrillArgs) Kind() string { return KindDrill }

// InsertOpts makes the job unique per (tenant, slot) in every state.
func (DrillArgs) InsertOpts() river.InsertOpts { return slotOpts() }

// EnqueueArgs is the leader's periodic job: its worker enqueues the due
// slots of every tenant (Member.EnqueueDue).
type EnqueueArgs struct{}

// Kind returns KindEnqueue.
func (EnqueueArgs) Kind() string { return KindEnqueue }

// InsertOpts gives the enqueuer one attempt (the next tick is its
// retry), and no second job while one is queued or running.
func (EnqueueArgs) InsertOpts() river.InsertOpts { return onceAtATime() }

// unfinished are the states of a job not yet finished.
var unfinished = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// onceAtATime gives a leader's periodic job one attempt and no second
// job while one is unfinished: a tick that comes while the previous
// run (a fleet-wide pass over every tenant) is still queued or running
// inserts nothing, so slow runs do not pile up. A run whose member died
// holds the next ones back until River rescues it (Config.RescueAfter).
func onceAtATime() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByState: unfinished}}
}

// SlotTag is the tag a scheduled backup's snapshot carries: "slot:" and
// the slot in RFC 3339 (UTC). A backup job that finds a snapshot with its
// tag (a retry after the snapshot committed) takes no second one.
func SlotTag(slot time.Time) string { return "slot:" + slot.UTC().Format(time.RFC3339) }

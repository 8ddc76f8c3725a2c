package audit

import (
	"context"
	"time"
)

// Level is an event's severity.
type Level string

// Levels.
const (
	// LevelInfo: something happened as it should (the default).
	LevelInfo Level = "info"
	// LevelWarning: something needs attention (an access denial, an RPO
	// breach the host rates as a warning).
	LevelWarning Level = "warning"
	// LevelError: an operation failed (see Event.Failed).
	LevelError Level = "error"
)

// Event is one entry of the audit trail.
type Event struct {
	// ID is a UUIDv7 assigned by the Log when empty.
	ID string `json:"id"`
	// Timestamp is set by the Log's clock when zero.
	Timestamp time.Time `json:"timestamp"`
	// Type names what happened: one of the Type constants for the SDK's
	// own events, or a host's own. It is stored as the plain string.
	Type EventType `json:"type"`
	// Level is info, warning or error. LevelError marks a failure whatever
	// the Type (see Failed); empty means LevelInfo.
	Level Level `json:"level"`
	// Message is a human sentence.
	Message string `json:"message"`
	// UserID is the principal's ID ("" for the system itself).
	UserID string `json:"user_id"`
	// Tenant is the tenant concerned, if any.
	Tenant string `json:"tenant,omitempty"`
	// Data holds the event's figures (snapshot_id, duration_ms, size_bytes, ...).
	// A non-empty Data[DataError] marks a failure whatever the Type (see
	// Failed).
	Data map[string]any `json:"data,omitempty"`
}

// Failed reports whether e records a failure. It is the one rule every
// consumer of events applies (the Dashboard, exports, DefaultNotifyFilter,
// the Slog and SMTP notifiers, Metered): an event is a failure when
//
//   - its Level is LevelError, or
//   - its Data carries a non-empty DataError, or
//   - its Type is one that only failures have (TypeBackupFailed,
//     TypeRestoreFailed, TypePruneFailed, TypeReleaseDeployFail,
//     TypeReleaseRollbackErr).
//
// The first two make an operation recorded under its usual type, as most
// of the SDK's packages do ("repo.initialized", "retention.applied",
// "flag.changed", "release.deployed", ...), count as a failure and not as
// a success when it went wrong; an access denial (LevelWarning with a
// DataError) is a failure of the operation refused. Events recorded before
// this rule existed follow it too: it reads only stored fields.
func (e Event) Failed() bool {
	if e.Level == LevelError {
		return true
	}
	switch e.Type {
	case TypeBackupFailed, TypeRestoreFailed, TypePruneFailed, TypeReleaseDeployFail, TypeReleaseRollbackErr:
		return true
	}
	switch v := e.Data[DataError].(type) {
	case nil:
		return false
	case string:
		return v != ""
	default:
		return true
	}
}

// outcome is Failed as the word exports and metrics show.
func (e Event) outcome() string {
	if e.Failed() {
		return "failure"
	}
	return "success"
}

// Auditor records events. Implementations must be safe for concurrent use.
// Record returns an error when the event could not be stored; callers treat
// that as a failure of the audited operation only where the host asks them to.
type Auditor interface {
	Record(ctx context.Context, e Event) error
}

// AuditorFunc adapts a function to the Auditor interface.
type AuditorFunc func(ctx context.Context, e Event) error

// Record calls f.
func (f AuditorFunc) Record(ctx context.Context, e Event) error { return f(ctx, e) }

// Nop returns an Auditor that discards every event.
func Nop() Auditor { return AuditorFunc(func(context.Context, Event) error { return nil }) }

// OrNop returns a, or Nop when a is nil.
func OrNop(a Auditor) Auditor {
	if a == nil {
		return Nop()
	}
	return a
}

// EventType names what an event records, as "area.what" ("backup.created").
// It is stored and exported as the plain string, so events recorded before
// it was a distinct type read back unchanged. Hosts may define their own;
// keep them to a fixed set (constants), since Metered uses the type as a
// metric attribute.
type EventType string

// Event types recorded by the SDK's packages. The Dashboard reads these.
// Whether an event records a failure is Event.Failed's to say, not the
// type's: most operations record their failures under the same type as
// their successes, with LevelError and DataError.
const (
	// TypeBackupCreated: backup.Engine.Backup stored a snapshot.
	TypeBackupCreated EventType = "backup.created"
	// TypeBackupFailed: a backup failed (backup.Engine.Backup, the
	// retention scheduler).
	TypeBackupFailed EventType = "backup.failed"
	// TypeBackupForgotten: backup.Engine.Forget removed a snapshot, or failed to.
	TypeBackupForgotten EventType = "backup.forgotten"
	// TypeRepoInitialized: backup.Engine.Init created a scope without a
	// backup, or failed to.
	TypeRepoInitialized EventType = "repo.initialized"
	// TypeRestoreCompleted: a restore finished.
	TypeRestoreCompleted EventType = "restore.completed"
	// TypeRestoreFailed: a restore failed.
	TypeRestoreFailed EventType = "restore.failed"
	// TypeValidation: a restore validation ran; Data["status"] is "passed"
	// or "failed" (a failed one is also LevelError).
	TypeValidation EventType = "restore.validated"
	// TypePruneCompleted: backup.Engine.Prune finished.
	TypePruneCompleted EventType = "prune.completed"
	// TypePruneFailed: backup.Engine.Prune failed.
	TypePruneFailed EventType = "prune.failed"
	// TypeRetentionApplied: a retention policy was applied, or failed to be.
	TypeRetentionApplied EventType = "retention.applied"
	// TypeRPOBreach: a tenant's newest backup is older than its RPO.
	TypeRPOBreach EventType = "rpo.breach"
	// TypeReleaseCreated: a release was created.
	TypeReleaseCreated EventType = "release.created"
	// TypeReleaseDeployed: a release was deployed, or its deployment's
	// record failed.
	TypeReleaseDeployed EventType = "release.deployed"
	// TypeReleaseDeployFail: a deployment failed or was refused.
	TypeReleaseDeployFail EventType = "release.deploy_failed"
	// TypeReleaseRolledBack: a channel was rolled back, or failed to be.
	TypeReleaseRolledBack EventType = "release.rolled_back"
	// TypeReleaseRollbackErr: a rollback failed or was refused.
	TypeReleaseRollbackErr EventType = "release.rollback_failed"
	// TypeFlagChanged: a feature flag was set, or failed to be.
	TypeFlagChanged EventType = "flag.changed"
	// TypeFlagDeleted: a feature flag was deleted, or failed to be.
	TypeFlagDeleted EventType = "flag.deleted"
	// TypeAccessDenied: an Authorizer refused an action; the event names it
	// (DataAction) and the refusal (DataError).
	TypeAccessDenied EventType = "access.denied"
	// TypeKeyChanged: a data key or record key was rewrapped, destroyed or
	// adopted, or failed to be.
	TypeKeyChanged EventType = "key.changed"
	// TypePolicyChanged: a tenant's retention policy was set, or failed to be.
	TypePolicyChanged EventType = "retention.policy_set"
	// TypeIndexRepaired: backup.Engine.RepairIndex rebuilt a scope's index
	// from its packs, or failed to.
	TypeIndexRepaired EventType = "repo.index_repaired"
	// TypeLocksRemoved: backup.Engine.Unlock removed a scope's stale (or,
	// forced, live) locks, or failed to; Data["forced"] says which.
	TypeLocksRemoved EventType = "repo.locks_removed"
)

// Keys of Event.Data used across the SDK. Numbers read back from a stored
// event are float64 (encoding/json); the Dashboard and Metered accept
// float64, int64 and int.
const (
	// DataSnapshotID is the snapshot concerned (string).
	DataSnapshotID = "snapshot_id"
	// DataDurationMS is how long the operation took, in milliseconds.
	DataDurationMS = "duration_ms"
	// DataSizeBytes is the logical size of what was backed up, in bytes.
	DataSizeBytes = "size_bytes"
	// DataStoredBytes is what the operation added to the store, in bytes.
	DataStoredBytes = "stored_bytes"
	// DataFileCount is how many files the operation covered.
	DataFileCount = "file_count"
	// DataMode is how a restore was made (string).
	DataMode = "mode"
	// DataTTRMS is a restore's time to recovery, in milliseconds.
	DataTTRMS = "ttr_ms"
	// DataVersion is a release's version (string).
	DataVersion = "version"
	// DataReleaseID is the release concerned (string).
	DataReleaseID = "release_id"
	// DataAction is the steward.Action an Authorizer refused (string).
	DataAction = "action"
	// DataError is the failure's message (string); a non-empty one makes
	// the event a failure (see Event.Failed).
	DataError = "error"
	// DataFlag is the feature flag concerned (string).
	DataFlag = "flag"
	// DataType is a backup's type, "full" or "incremental" (string).
	DataType = "type"
)

package audit

import (
	"context"
	"time"
)

// Level is an event's severity.
type Level string

// Levels.
const (
	LevelInfo    Level = "info"
	LevelWarning Level = "warning"
	LevelError   Level = "error"
)

// Event is one entry of the audit trail.
type Event struct {
	// ID is a UUIDv7 assigned by the Log when empty.
	ID string `json:"id"`
	// Timestamp is set by the Log's clock when zero.
	Timestamp time.Time `json:"timestamp"`
	// Type names what happened: "backup.created", "backup.failed",
	// "restore.completed", "release.deployed", "access.denied", ...
	Type string `json:"type"`
	// Level is info, warning or error.
	Level Level `json:"level"`
	// Message is a human sentence.
	Message string `json:"message"`
	// UserID is the principal's ID ("" for the system itself).
	UserID string `json:"user_id"`
	// Tenant is the tenant concerned, if any.
	Tenant string `json:"tenant,omitempty"`
	// Data holds the event's figures (snapshot_id, duration_ms, size_bytes, ...).
	Data map[string]any `json:"data,omitempty"`
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

// Event types recorded by the SDK's packages. The Dashboard reads these.
const (
	TypeBackupCreated      = "backup.created"
	TypeBackupFailed       = "backup.failed"
	TypeBackupForgotten    = "backup.forgotten"
	TypeRepoInitialized    = "repo.initialized" // backup.Engine.Init: a scope created without a backup (LevelError: Init failed)
	TypeRestoreCompleted   = "restore.completed"
	TypeRestoreFailed      = "restore.failed"
	TypeValidation         = "restore.validated" // Data["status"]: "passed" or "failed"
	TypePruneCompleted     = "prune.completed"
	TypePruneFailed        = "prune.failed"
	TypeRetentionApplied   = "retention.applied"
	TypeRPOBreach          = "rpo.breach"
	TypeReleaseCreated     = "release.created"
	TypeReleaseDeployed    = "release.deployed"
	TypeReleaseDeployFail  = "release.deploy_failed"
	TypeReleaseRolledBack  = "release.rolled_back"
	TypeReleaseRollbackErr = "release.rollback_failed"
	TypeFlagChanged        = "flag.changed"
	TypeFlagDeleted        = "flag.deleted"
	TypeAccessDenied       = "access.denied"
	TypeKeyChanged         = "key.changed"
	TypePolicyChanged      = "retention.policy_set"
)

// Keys of Event.Data used across the SDK.
const (
	DataSnapshotID  = "snapshot_id"
	DataDurationMS  = "duration_ms"
	DataSizeBytes   = "size_bytes"
	DataStoredBytes = "stored_bytes"
	DataFileCount   = "file_count"
	DataMode        = "mode"
	DataTTRMS       = "ttr_ms"
	DataVersion     = "version"
	DataReleaseID   = "release_id"
	DataAction      = "action"
	DataError       = "error"
	DataFlag        = "flag"
	DataType        = "type"
)

package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
)

// Validation statuses.
const (
	StatusPassed = "passed"
	StatusFailed = "failed"
)

// Checks are the individual verdicts of a Validation.
type Checks struct {
	// ChecksumVerification: every module's checksum and the manifest's
	// checksum match what was restored.
	ChecksumVerification bool `json:"checksum_verification"`
	// DataIntegrity: every chunk decrypted and matched its ID, every file
	// its SHA-256.
	DataIntegrity bool `json:"data_integrity"`
	// SchemaCompatibility: the host can read the snapshot's schema version.
	SchemaCompatibility bool `json:"schema_compatibility"`
	// AssetCompleteness: every entry of the manifest was restored.
	AssetCompleteness bool `json:"asset_completeness"`
}

// Validation is the result of a restore drill.
type Validation struct {
	ID         string        `json:"id"`
	Tenant     string        `json:"tenant"`
	SnapshotID string        `json:"snapshot_id"`
	Timestamp  time.Time     `json:"timestamp"`
	Duration   time.Duration `json:"duration_ns"`
	Checks     Checks        `json:"checks"`
	Status     string        `json:"status"`
	// Report explains the verdict in sentences, one per problem.
	Report string `json:"report"`
}

// Validate restores snapshotID ("latest" for the newest) of tenant into a
// scratch in-memory target and reports whether it came back whole. It
// returns an error only when the validation could not run (not found,
// forbidden); a snapshot that fails its checks gives a Validation with
// Status "failed" and the reasons in Report.
func (r *Restorer) Validate(ctx context.Context, tenant, snapshotID string) (*Validation, error) {
	if err := audit.Authorize(ctx, r.cfg.Authorizer, r.cfg.Auditor, steward.ActionRestoreValidate, tenant); err != nil {
		return nil, err
	}
	start := r.cfg.Clock.Now()
	snap, err := r.e.Snapshot(ctx, tenant, snapshotID)
	if err != nil {
		return nil, err
	}
	id, _ := uuid.NewV7()
	v := &Validation{ID: id.String(), Tenant: tenant, SnapshotID: snap.ID, Timestamp: start.UTC()}
	var problems []string

	v.Checks.SchemaCompatibility = true
	if r.cfg.SchemaCompatible != nil {
		if err := r.cfg.SchemaCompatible(snap.Metadata.SchemaVersion); err != nil {
			v.Checks.SchemaCompatibility = false
			problems = append(problems, fmt.Sprintf("schema %q is not compatible: %v", snap.Metadata.SchemaVersion, err))
		}
	}

	scratch := MemoryTarget()
	// The restore itself is authorized as part of the validation.
	inner := New(r.e, &Config{Clock: r.cfg.Clock, Authorizer: allowAll{}, Parallelism: r.cfg.Parallelism})
	rep, rerr := inner.restore(ctx, tenant, snap.ID, scratch, &Options{Mode: Full, Validate: true})
	switch {
	case rerr == nil:
		v.Checks.DataIntegrity = true
		v.Checks.ChecksumVerification = rep.Validated
	case errors.Is(rerr, backup.ErrCorrupt) || errors.Is(rerr, backup.ErrNotFound):
		problems = append(problems, "data integrity: "+rerr.Error())
	case strings.Contains(rerr.Error(), "validation:"):
		v.Checks.DataIntegrity = true
		problems = append(problems, rerr.Error())
	default:
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		problems = append(problems, rerr.Error())
	}

	// Completeness: every regular file of the manifest is in the scratch target.
	var restored int64
	_ = scratch.Walk(ctx, func(e backup.Entry) error {
		if e.Mode.IsRegular() {
			restored++
		}
		return nil
	})
	v.Checks.AssetCompleteness = rerr == nil && restored == snap.Metadata.FileCount
	if !v.Checks.AssetCompleteness {
		problems = append(problems, fmt.Sprintf("asset completeness: %d of %d files restored", restored, snap.Metadata.FileCount))
	}

	v.Duration = r.cfg.Clock.Now().Sub(start)
	v.Status = StatusPassed
	if len(problems) > 0 || !(v.Checks.ChecksumVerification && v.Checks.DataIntegrity && v.Checks.SchemaCompatibility && v.Checks.AssetCompleteness) {
		v.Status = StatusFailed
	}
	if len(problems) == 0 {
		v.Report = fmt.Sprintf("snapshot %s: %d files verified, all checks passed", snap.ID, restored)
	} else {
		v.Report = strings.Join(problems, "\n")
	}
	level := audit.LevelInfo
	if v.Status == StatusFailed {
		level = audit.LevelError
	}
	_ = r.cfg.Auditor.Record(context.WithoutCancel(ctx), audit.Event{Type: audit.TypeValidation, Level: level,
		Message: fmt.Sprintf("validation of %q snapshot %s: %s", tenant, snap.ID, v.Status), UserID: steward.PrincipalID(ctx), Tenant: tenant,
		Data: map[string]any{audit.DataSnapshotID: snap.ID, "status": v.Status, audit.DataTTRMS: v.Duration.Milliseconds()}})
	return v, nil
}

// Drill validates the newest snapshot of each tenant (a disaster-recovery
// drill) and returns one Validation per tenant that has snapshots.
func (r *Restorer) Drill(ctx context.Context, tenants []string) ([]*Validation, error) {
	var out []*Validation
	for _, t := range tenants {
		v, err := r.Validate(ctx, t, "latest")
		if errors.Is(err, backup.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("restore: drill of %q: %w", t, err)
		}
		out = append(out, v)
	}
	return out, nil
}

type allowAll struct{}

func (allowAll) Authorize(context.Context, steward.Action, string) error { return nil }

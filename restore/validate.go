package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/internal/snapshot"
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
// scratch target and reports whether it came back whole. It returns an
// error only when the validation could not run (not found, forbidden, ctx
// ended); a snapshot that fails its checks gives a Validation with Status
// "failed" and the reasons in Report.
//
// A failed validation is recorded at audit.LevelError, so that the
// default notification filter delivers it.
//
// Validate streams: the restore checks every chunk against its ID and every
// file against its size and SHA-256 as it reads them, and the scratch target
// drops the bytes, keeping only a count of the files completed. Its memory
// is the restore's chunk buffers (Config.BufferBytes) and the snapshot's
// entry list, whatever the size of the content.
func (r *Restorer) Validate(ctx context.Context, tenant, snapshotID string) (*Validation, error) {
	return r.validate(ctx, tenant, snapshotID, audit.LevelError)
}

// validate is Validate, recording a failure at failLevel.
func (r *Restorer) validate(ctx context.Context, tenant, snapshotID string, failLevel audit.Level) (*Validation, error) {
	if _, err := op.Start(ctx, r.cfg.Authorizer, r.cfg.Auditor, steward.ActionRestoreValidate, tenant); err != nil {
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
	restored, found, err := r.verifyContent(ctx, tenant, snap, &v.Checks)
	if err != nil {
		return nil, err
	}
	v.Duration = r.cfg.Clock.Now().Sub(start)
	conclude(v, append(problems, found...), restored)
	level := audit.LevelInfo
	if v.Status == StatusFailed {
		level = failLevel
	}
	_ = r.cfg.Auditor.Record(context.WithoutCancel(ctx), audit.Event{Type: audit.TypeValidation, Level: level,
		Message: fmt.Sprintf("validation of %q snapshot %s: %s", tenant, snap.ID, v.Status), UserID: steward.PrincipalID(ctx), Tenant: tenant,
		Data: map[string]any{audit.DataSnapshotID: snap.ID, "status": v.Status, audit.DataTTRMS: v.Duration.Milliseconds()}})
	return v, nil
}

// verifyContent restores snap into a discarding scratch target, sets c's
// integrity, checksum and completeness verdicts, and returns the number of
// regular files restored and the problems found. Its error is ctx's, when
// ctx ended.
func (r *Restorer) verifyContent(ctx context.Context, tenant string, snap *backup.Snapshot, c *Checks) (int64, []string, error) {
	scratch := &discardTarget{}
	// The restore is a part of the validation, which was authorized: it
	// runs without Restore's own authorization and audit event.
	o := Options{Mode: Full, Validate: true, Progress: r.cfg.Progress}
	if err := checkOptions(&o); err != nil {
		return 0, nil, err
	}
	rep, rerr := r.restore(ctx, tenant, snap.ID, scratch, &o)
	var problems []string
	switch {
	case rerr == nil:
		c.DataIntegrity = true
		c.ChecksumVerification = rep.Validated
	case errors.Is(rerr, backup.ErrCorrupt) || errors.Is(rerr, backup.ErrNotFound):
		problems = append(problems, "data integrity: "+rerr.Error())
	case errors.Is(rerr, ErrValidation):
		c.DataIntegrity = true
		problems = append(problems, rerr.Error())
	default:
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		problems = append(problems, rerr.Error())
	}
	// Completeness: every regular file of the manifest was written whole.
	restored := scratch.files.Load()
	c.AssetCompleteness = rerr == nil && restored == snap.Metadata.FileCount
	if !c.AssetCompleteness {
		problems = append(problems, fmt.Sprintf("asset completeness: %d of %d files restored", restored, snap.Metadata.FileCount))
	}
	return restored, problems, nil
}

// conclude sets v's Status and Report from its checks and problems.
func conclude(v *Validation, problems []string, restored int64) {
	c := v.Checks
	v.Status = StatusPassed
	if len(problems) > 0 || !(c.ChecksumVerification && c.DataIntegrity && c.SchemaCompatibility && c.AssetCompleteness) {
		v.Status = StatusFailed
	}
	if len(problems) == 0 {
		v.Report = fmt.Sprintf("snapshot %s: %d files verified, all checks passed", v.SnapshotID, restored)
	} else {
		v.Report = strings.Join(problems, "\n")
	}
}

// Drill validates the newest snapshot of each tenant (a disaster-recovery
// drill) and returns one Validation per tenant. A tenant with no snapshot
// to restore (none taken, or every manifest forgotten or deleted) gets a
// failed Validation with no SnapshotID whose Report says so: a drill
// reports it as the failure it is. Tenants are validated one after the
// other, each streamed as Validate does, so its memory is that of one
// Validate whatever the number or size of snapshots.
//
// A drill's failures are recorded at audit.LevelWarning, not LevelError: a
// scheduled drill runs again and again, and what notifies is the
// scheduler's drill alert (retention), once per breach; a drill run by
// hand reports to whoever ran it.
func (r *Restorer) Drill(ctx context.Context, tenants []string) ([]*Validation, error) {
	var out []*Validation
	for _, t := range tenants {
		v, err := r.validate(ctx, t, "latest", audit.LevelWarning)
		if errors.Is(err, backup.ErrNotFound) {
			v = r.unrestorable(ctx, t, err, audit.LevelWarning)
		} else if err != nil {
			return out, errs.Errorf("restore", "drill of %q: %w", t, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// unrestorable is the failed Validation of a tenant Validate found no
// snapshot of (err), audited at level as a drill audits a failure.
func (r *Restorer) unrestorable(ctx context.Context, tenant string, err error, level audit.Level) *Validation {
	id, _ := uuid.NewV7()
	v := &Validation{ID: id.String(), Tenant: tenant, Timestamp: r.cfg.Clock.Now().UTC(), Status: StatusFailed,
		Report: fmt.Sprintf("tenant %q has no snapshot to restore: %v", tenant, err)}
	_ = r.cfg.Auditor.Record(context.WithoutCancel(ctx), audit.Event{Type: audit.TypeValidation, Level: level,
		Message: fmt.Sprintf("validation of %q: %s: no snapshot to restore: %v", tenant, v.Status, err), UserID: steward.PrincipalID(ctx), Tenant: tenant,
		Data: map[string]any{"status": v.Status}})
	return v
}

// discardTarget is Validate's scratch target: empty, it takes every file's
// bytes and drops them, counting the regular files whose writer was closed.
// The restore's reader has checked each chunk and the file's size and
// SHA-256 before it reports EOF, and a file that fails is aborted, not
// closed; so the count is of files verified whole, and nothing of their
// content is held. It cannot pass targettest (nothing reads back), which is
// why it is not exported.
type discardTarget struct {
	files atomic.Int64
}

func (d *discardTarget) Walk(context.Context, func(backup.Entry) error) error { return nil }

func (d *discardTarget) Open(_ context.Context, p string) (io.ReadCloser, error) {
	return nil, errs.Errorf("restore", "open %q: %w", p, fs.ErrNotExist)
}

func (d *discardTarget) Create(ctx context.Context, e backup.Entry) (io.WriteCloser, error) {
	if err := snapshot.ValidatePath(e.Path); err != nil {
		return nil, errs.Errorf("restore", "%w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case e.Mode.IsDir():
		return nil, nil
	case isLink(e.Mode):
		return &discardWriter{d: d, done: true}, nil // no content to verify; not a file
	case !e.Mode.IsRegular():
		return nil, fmt.Errorf("restore: %q has unsupported mode %v", e.Path, e.Mode)
	}
	return &discardWriter{d: d}, nil
}

func (d *discardTarget) Remove(_ context.Context, p string) error {
	return errs.Errorf("restore", "remove %q: %w", p, fs.ErrNotExist)
}

// discardWriter drops what it is given; Close counts the file once.
type discardWriter struct {
	d    *discardTarget
	done bool
}

func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

func (w *discardWriter) Close() error {
	if !w.done {
		w.done = true
		w.d.files.Add(1)
	}
	return nil
}

func (w *discardWriter) Abort() error { w.done = true; return nil }

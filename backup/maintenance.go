package backup

import (
	"context"
	"errors"
	"fmt"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
)

// Forget deletes the named snapshots' manifests. Their data stays until
// Prune removes what no remaining snapshot references. Every ID is checked
// to exist before the first deletion.
func (e *Engine) Forget(ctx context.Context, tenant string, ids ...string) error {
	if _, err := scopePrefix(tenant); err != nil {
		return err
	}
	if err := audit.Authorize(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionBackupDelete, tenant); err != nil {
		return err
	}
	r, err := e.repo(ctx, tenant, false, false)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := e.loadManifest(ctx, r, id); err != nil && !errors.Is(err, ErrCorrupt) {
			return err
		}
	}
	for _, id := range ids {
		err := r.DeleteSnapshot(ctx, id)
		e.record(ctx, tenant, audit.TypeBackupForgotten, err, fmt.Sprintf("snapshot %s of %q forgotten", id, tenant), map[string]any{audit.DataSnapshotID: id})
		if err != nil {
			return fmt.Errorf("backup: forget %s: %w", id, err)
		}
	}
	return nil
}

// PruneOptions change a prune. A nil *PruneOptions means defaults.
type PruneOptions struct {
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
	// RepackThreshold: packs whose unused share exceeds it are rewritten
	// (default 0.5).
	RepackThreshold float64
}

// PruneReport says what a prune did (or would do, in a dry run).
type PruneReport struct {
	PacksDeleted, PacksRepacked int
	BytesFreed                  int64
	ChunksKept, ChunksDeleted   int
}

// ErrNotImplemented is returned by maintenance operations this build does
// not provide yet.
var ErrNotImplemented = errors.New("backup: not implemented in this version")

// Prune removes data no snapshot of tenant references. Not implemented yet:
// it returns ErrNotImplemented and changes nothing.
func (e *Engine) Prune(ctx context.Context, tenant string, opts *PruneOptions) (*PruneReport, error) {
	return nil, ErrNotImplemented
}

// CheckOptions change a repository check. A nil *CheckOptions means a
// structural check only.
type CheckOptions struct {
	// ReadData decrypts and verifies chunks; ReadDataSubset limits it to a
	// subset: "n/t" (the n-th of t parts) or a percentage ("10%").
	ReadData       bool
	ReadDataSubset string
}

// CheckReport lists every problem a check found; OK when there are none.
type CheckReport struct {
	Snapshots, Packs, Chunks int
	ChunksRead               int
	Problems                 []string
}

// OK reports whether the check found no problem.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

// Check verifies tenant's repository. Not implemented yet: it returns
// ErrNotImplemented.
func (e *Engine) Check(ctx context.Context, tenant string, opts *CheckOptions) (*CheckReport, error) {
	return nil, ErrNotImplemented
}

package backup

import "context"

// Forget deletes the named snapshots' manifests. Their data stays until
// Prune removes what no remaining snapshot references.
func (e *Engine) Forget(ctx context.Context, tenant string, ids ...string) error {
	return errUnavailable
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

// Prune removes data no snapshot of tenant references, under an exclusive lock.
func (e *Engine) Prune(ctx context.Context, tenant string, opts *PruneOptions) (*PruneReport, error) {
	return nil, errUnavailable
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

// Check verifies tenant's repository.
func (e *Engine) Check(ctx context.Context, tenant string, opts *CheckOptions) (*CheckReport, error) {
	return nil, errUnavailable
}

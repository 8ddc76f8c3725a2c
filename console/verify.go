package console

import (
	"context"
	"sync"
	"time"

	"github.com/iluxsys/steward/audit"
)

// fullVerifyEvery is how often the Audit page walks the whole chain again;
// in between it verifies only the events appended since its last point
// (Log.VerifySince), which cannot see an edit to an event it already
// checked.
const fullVerifyEvery = 24 * time.Hour

// chainPoint is how far the chain was verified, shared by the principals
// allowed to verify it. Safe for concurrent use.
type chainPoint struct {
	mu       sync.Mutex
	point    audit.Checkpoint
	lastFull time.Time // zero: never
	failed   bool      // the last verification found a problem: walk everything until one passes
}

// verification is what one verification found.
type verification struct {
	Report   *audit.VerifyReport
	UpTo     uint64    // the newest event verified
	Full     bool      // from the first event, not since the last point
	LastFull time.Time // when the chain was last walked from its first event
}

// verifyChain verifies the events appended since the last point, or the
// whole chain when full is set, none was verified yet, the last whole walk
// is older than fullVerifyEvery, or the last verification found a problem
// (so a problem, once found, is reported until the chain passes whole).
func (c *console) verifyChain(ctx context.Context, full bool) (*verification, error) {
	cp := &c.verified
	cp.mu.Lock()
	defer cp.mu.Unlock() // one verification at a time: each continues the last
	from := cp.point
	full = full || cp.failed || cp.lastFull.IsZero() || time.Since(cp.lastFull) > fullVerifyEvery
	if full {
		from = audit.Checkpoint{}
	}
	point, rep, err := c.cfg.Log.VerifySince(ctx, from)
	if err != nil {
		cp.failed = true
		return nil, err
	}
	cp.point, cp.failed = point, false
	if full {
		cp.lastFull = time.Now()
	}
	return &verification{Report: rep, UpTo: point.Seq, Full: full, LastFull: cp.lastFull}, nil
}

package backup

import (
	"context"
	"fmt"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/internal/repo"
)

// LockedError is the error of an operation refused because another
// process holds a conflicting lock on the scope's repository; it matches
// ErrLocked. Its fields say who holds the lock (Owner, and Host and PID
// when recorded) and when it goes stale (StaleAt): a lock its holder
// stops refreshing, because the process died, no longer counts from then
// on, and Unlock removes it.
type LockedError = repo.LockedError

// LockInfo describes a lock Unlock removed: its key, who took it (Owner,
// Host, PID), its kind, when it was taken and last refreshed, and whether
// it was stale.
type LockInfo = repo.LockInfo

// LockStaleAfter is how long a lock its holder no longer refreshes still
// keeps others out.
const LockStaleAfter = repo.StaleAfter

// Unlock removes tenant's stale locks — those whose holder stopped
// refreshing them LockStaleAfter ago, because it was killed — or, with
// force, every lock, and returns what it removed (empty, not nil, when
// there was nothing to remove). A stale lock already keeps no one out;
// Unlock tidies it away and makes the store say so. Forcing removes the
// locks of running backups and prunes too, which then run unprotected:
// force only when their processes are known to be dead.
//
// It is authorized as ActionBackupDelete (a master under the default
// Authorizer) and audited as audit.TypeLocksRemoved. It opens the
// repository without loading its index, so it works when the index is
// damaged.
func (e *Engine) Unlock(ctx context.Context, tenant string, force bool) ([]LockInfo, error) {
	if _, err := scopePrefix(tenant); err != nil {
		return nil, err
	}
	task, err := op.Start(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionBackupDelete, tenant)
	if err != nil {
		return nil, err
	}
	removed, err := e.unlock(ctx, tenant, force)
	keys := make([]string, 0, len(removed))
	for _, l := range removed {
		keys = append(keys, l.Key)
	}
	data := map[string]any{"forced": force, "locks_removed": keys}
	task.Finish(ctx, err, audit.TypeLocksRemoved, fmt.Sprintf("%d locks of %q removed", len(removed), tenant), data)
	return removed, err
}

func (e *Engine) unlock(ctx context.Context, tenant string, force bool) ([]LockInfo, error) {
	r, err := e.openNoIndex(ctx, tenant)
	if err != nil {
		return []LockInfo{}, err
	}
	removed, err := r.RemoveLocks(ctx, force, e.cfg.Clock.Now())
	if removed == nil {
		removed = []LockInfo{}
	}
	if err != nil {
		return removed, errs.Errorf("backup", "unlock %q: %w", tenant, err)
	}
	return removed, nil
}

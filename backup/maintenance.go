package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/internal/repo"
	"github.com/iluxsys/steward/storage"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/internal/errs"
)

// Forget deletes the named snapshots' manifests, refusing corrupt ones:
// ForgetWithOptions with nil options.
func (e *Engine) Forget(ctx context.Context, tenant string, ids ...string) error {
	return e.ForgetWithOptions(ctx, tenant, ids, nil)
}

// ErrProtected: Forget was asked for a snapshot tagged TagProtected, or
// one Config.Protect protects, without ForgetOptions.Force; nothing was
// forgotten. The message names the snapshot.
var ErrProtected = errors.New("backup: snapshot is protected")

// ForgetOptions change a forget. A nil *ForgetOptions means defaults.
type ForgetOptions struct {
	// Force deletes snapshots whose manifest fails to decode or verify,
	// and protected snapshots (TagProtected, Config.Protect). Without it
	// the first are refused with ErrCorrupt (a manifest that does not
	// open cannot show it is the snapshot the caller meant) and the
	// second with ErrProtected (a release, say, still needs them).
	Force bool
	// DryRun makes every check a real Forget makes (IDs, manifests,
	// protection) and deletes nothing: the error is the one the Forget
	// would return.
	DryRun bool
}

// ForgetWithOptions deletes the named snapshots' manifests. Their data
// stays until Prune removes what no remaining snapshot references. Every
// ID must be a snapshot ID as Backup writes them (a UUID in canonical
// form), each named once, or ErrInvalidOptions is returned before any
// I/O. Every snapshot is then checked to exist (ErrNotFound) and, unless
// opts.Force, to have a manifest that opens (ErrCorrupt) and to be
// unprotected (ErrProtected) before the first deletion.
func (e *Engine) ForgetWithOptions(ctx context.Context, tenant string, ids []string, opts *ForgetOptions) error {
	if _, err := scopePrefix(tenant); err != nil {
		return err
	}
	if err := checkSnapshotIDs(ids); err != nil {
		return err
	}
	var o ForgetOptions
	if opts != nil {
		o = *opts
	}
	task, err := op.Start(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionBackupDelete, tenant)
	if err != nil {
		return err
	}
	r, err := e.repo(ctx, tenant, false, false)
	if err != nil {
		return err
	}
	forced, err := e.checkForget(ctx, r, tenant, ids, o.Force)
	if err != nil || o.DryRun {
		return err
	}
	for _, id := range ids {
		err := r.DeleteSnapshot(ctx, id)
		data := map[string]any{audit.DataSnapshotID: id}
		if why := forced[id]; why != "" {
			data[why] = true
		}
		task.Finish(ctx, err, audit.TypeBackupForgotten, fmt.Sprintf("snapshot %s of %q forgotten", id, tenant), data)
		if err != nil {
			return errs.Errorf("backup", "forget %s: %w", id, err)
		}
	}
	return nil
}

// checkSnapshotIDs refuses an ID Backup could not have written (it makes
// them with uuid.NewV7().String()) and an ID named twice.
func checkSnapshotIDs(ids []string) error {
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if u, err := uuid.Parse(id); err != nil || u.String() != id {
			return fmt.Errorf("%w: snapshot ID %q is not one Backup writes (a lowercase UUID such as 0193b8a2-7c4e-7d1a-9f00-5e6b2c3d4e5f)", ErrInvalidOptions, id)
		}
		if seen[id] {
			return fmt.Errorf("%w: snapshot ID %q is named twice", ErrInvalidOptions, id)
		}
		seen[id] = true
	}
	return nil
}

// checkForget loads every manifest to forget: a missing one fails, a
// corrupt or protected one fails unless force. It returns why each
// snapshot it let pass only by force was refused otherwise, for the audit
// trail ("forced_corrupt", "forced_protected").
func (e *Engine) checkForget(ctx context.Context, r *repo.Repo, tenant string, ids []string, force bool) (map[string]string, error) {
	forced := map[string]string{}
	for _, id := range ids {
		m, err := e.loadManifest(ctx, r, id)
		switch {
		case err == nil:
		case errors.Is(err, ErrCorrupt) && force:
			forced[id] = "forced_corrupt"
			continue
		case errors.Is(err, ErrCorrupt):
			return nil, fmt.Errorf("%w; nothing was forgotten: forget snapshot %s with Force to delete it anyway", err, id)
		default:
			return nil, err
		}
		if !slices.Contains(m.Tags, TagProtected) && (e.cfg.Protect == nil || !e.cfg.Protect(ctx, tenant, id)) {
			continue
		}
		if !force {
			return nil, fmt.Errorf("%w: snapshot %s of %q is still needed (a release's artifact, say); nothing was forgotten: forget it with Force to delete it anyway",
				ErrProtected, id, tenant)
		}
		forced[id] = "forced_protected"
	}
	return forced, nil
}

// PruneOptions change a prune. A nil *PruneOptions means defaults.
type PruneOptions struct {
	// DryRun plans the prune and reports what it would do, changing
	// nothing and taking no lock (see Prune).
	DryRun bool
	// RepackThreshold: packs whose unused share exceeds it are rewritten
	// (default 0.5).
	RepackThreshold float64
	// Progress, when set, is called from the pruning goroutine as a real
	// prune executes: after each repacked pack's live chunks are copied
	// (BytesDone of BytesTotal live bytes) and after each obsolete pack is
	// deleted (PacksRead of PacksTotal). A dry run reports nothing.
	Progress func(Progress)
}

// Prune removes data no snapshot of tenant references. Chunks referenced
// by any snapshot — entry lists included — are kept; packs holding only
// unreferenced chunks are deleted; packs more than RepackThreshold unused
// are rewritten; packs no index lists (left by crashed backups) are
// deleted; the index is rewritten. Every remaining snapshot stays
// restorable at every step.
//
// A prune plans, then executes the plan, both under the repository's
// exclusive lock: it fails with ErrLocked while a backup or another prune
// runs. A dry run only plans, and takes no lock at all: it writes
// nothing, so it works on a read-only store and beside a running backup.
// A shared lock would add a write only to keep out a concurrent prune,
// whose deletions can at worst make the dry run fail with an error to
// retry. A dry run may count a running backup's packs as orphans; the
// real prune plans again under the exclusive lock.
func (e *Engine) Prune(ctx context.Context, tenant string, opts *PruneOptions) (*PruneReport, error) {
	if _, err := scopePrefix(tenant); err != nil {
		return nil, err
	}
	o := PruneOptions{RepackThreshold: 0.5}
	if opts != nil {
		o = *opts
		if o.RepackThreshold == 0 {
			o.RepackThreshold = 0.5
		}
	}
	if o.RepackThreshold < 0 || o.RepackThreshold > 1 {
		return nil, fmt.Errorf("%w: RepackThreshold %v must be within [0, 1]", ErrInvalidOptions, o.RepackThreshold)
	}
	task, err := op.Start(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionBackupDelete, tenant)
	if err != nil {
		return nil, err
	}
	start := e.cfg.Clock.Now()
	rep, err := e.prune(ctx, tenant, &o)
	typ := audit.TypePruneCompleted
	if err != nil {
		typ = audit.TypePruneFailed
	}
	data := map[string]any{audit.DataDurationMS: e.cfg.Clock.Now().Sub(start).Milliseconds(), "dry_run": o.DryRun}
	if rep != nil {
		data["packs_deleted"], data["packs_repacked"], data["bytes_freed"] = rep.PacksDeleted, rep.PacksRepacked, rep.BytesFreed
	}
	task.Finish(ctx, err, typ, fmt.Sprintf("prune of %q", tenant), data)
	return rep, err
}

func (e *Engine) prune(ctx context.Context, tenant string, o *PruneOptions) (*PruneReport, error) {
	if !o.DryRun {
		if err := storage.RequireConditionalCreate(ctx, e.store, &e.caps, e.cfg.SingleWriter, "prune"); err != nil {
			return nil, errs.Errorf("backup", "%w", err)
		}
	}
	e.forgetRepo(tenant) // a fresh view of the repository
	r, err := e.repo(ctx, tenant, false, false)
	if err != nil {
		return nil, err
	}
	if o.DryRun {
		plan, err := e.planPrune(ctx, r, o.RepackThreshold)
		if err != nil {
			return nil, errs.Errorf("backup", "prune %q (dry run): %w", tenant, err)
		}
		return pruneReport(plan, &plan.Stats, true), nil
	}
	lock, err := r.Lock(ctx, true, "prune by "+steward.PrincipalID(ctx), e.cfg.Clock.Now)
	if err != nil {
		return nil, errs.Errorf("backup", "prune %q: %w", tenant, err)
	}
	defer lock.Unlock(ctx)
	plan, err := e.planPrune(ctx, r, o.RepackThreshold)
	if err != nil {
		return nil, errs.Errorf("backup", "prune %q: %w", tenant, err)
	}
	st, err := r.ExecutePrune(ctx, plan, pruneProgress(o.Progress))
	e.forgetRepo(tenant)
	if err != nil {
		return nil, errs.Errorf("backup", "prune %q: %w", tenant, err)
	}
	return pruneReport(plan, st, false), nil
}

// pruneProgress adapts fn to the repository's prune progress (nil: none).
func pruneProgress(fn func(Progress)) func(repo.PruneProgress) {
	if fn == nil {
		return nil
	}
	return func(p repo.PruneProgress) {
		fn(Progress{PacksRead: int64(p.PacksDone), PacksTotal: int64(p.PacksTotal), BytesDone: p.BytesDone, BytesTotal: p.BytesTotal})
	}
}

// planPrune plans a prune of r against every live snapshot.
func (e *Engine) planPrune(ctx context.Context, r *repo.Repo, threshold float64) (*repo.PrunePlan, error) {
	used, err := e.usedChunks(ctx, r)
	if err != nil {
		return nil, err
	}
	return r.PlanPrune(ctx, used, threshold)
}

// usedChunks marks every chunk any snapshot references: true for the
// chunks of entry lists (segment lists and segments), false for content.
func (e *Engine) usedChunks(ctx context.Context, r *repo.Repo) (map[repo.ID]bool, error) {
	ms, err := e.manifests(ctx, r)
	if err != nil {
		return nil, err
	}
	used := map[repo.ID]bool{}
	add := func(s string, meta bool) error {
		id, err := repo.ParseID(s)
		if err != nil {
			return err
		}
		used[id] = used[id] || meta
		return nil
	}
	for _, m := range ms {
		segments, err := e.entryChunks(ctx, r, m)
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", m.ID, err)
		}
		for _, t := range append(slices.Clip(m.Tree), segments...) {
			if err := add(t, true); err != nil {
				return nil, err
			}
		}
		for f, err := range filesIn(ctx, r, m, segments) {
			if err != nil {
				return nil, fmt.Errorf("snapshot %s: %w", m.ID, err)
			}
			for _, c := range f.Chunks {
				if err := add(c.ID, false); err != nil {
					return nil, err
				}
			}
		}
	}
	return used, nil
}

// CheckOptions change a repository check. A nil *CheckOptions means a
// structural check only.
type CheckOptions struct {
	// ReadData decrypts and verifies chunks; ReadDataSubset limits it to a
	// subset: "n/t" (the n-th of t parts) or a percentage ("10%").
	ReadData       bool
	ReadDataSubset string
	// Progress, when set, is called from one goroutine while the chosen
	// packs are read (ReadData or ReadDataSubset): once their totals are
	// known, then after a pack is read, at most once every
	// op.ProgressInterval of the Engine's Clock, and always after the last,
	// so a check that ends reports PacksRead == PacksTotal. It is never
	// called after Check returns, nor by a check that reads no data.
	Progress func(Progress)
}

// CheckReport lists every problem a check found; OK when there are none.
type CheckReport struct {
	Snapshots  int      `json:"snapshots"`
	Packs      int      `json:"packs"`
	Chunks     int      `json:"chunks"`
	PacksRead  int      `json:"packs_read"`
	ChunksRead int      `json:"chunks_read"`
	Problems   []string `json:"problems"`
	// UnreferencedPacks counts the packs in the store that no index
	// lists, UnreferencedBytes their size: information, not a problem.
	// A backup that crashed (or one running now) leaves them; Prune
	// deletes them when no backup runs.
	UnreferencedPacks int   `json:"unreferenced_packs"`
	UnreferencedBytes int64 `json:"unreferenced_bytes"`
}

// OK reports whether the check found no problem.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

// Check verifies tenant's repository: every manifest decodes and matches
// its checksum, every chunk a snapshot references is in the index, every
// indexed pack exists and its header agrees; with ReadData, every chunk of
// the chosen packs is decrypted and verified against its ID. Packs no
// index lists are counted (UnreferencedPacks), not reported as problems;
// a repository with no snapshot is one (nothing of the tenant can be
// restored).
// Problems are reported (naming objects), not returned as errors; the
// error is for a check that could not run: a store that refuses or fails
// a read stops the check with that error (errors.Is reaches it) and is
// never reported as damage to the repository.
func (e *Engine) Check(ctx context.Context, tenant string, opts *CheckOptions) (*CheckReport, error) {
	if _, err := scopePrefix(tenant); err != nil {
		return nil, err
	}
	var o CheckOptions
	if opts != nil {
		o = *opts
	}
	subset, err := repo.ParseSubset(o.ReadDataSubset)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidOptions, err)
	}
	if _, err := op.Start(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionRepoCheck, tenant); err != nil {
		return nil, err
	}
	e.forgetRepo(tenant)
	r, err := e.repo(ctx, tenant, false, false)
	if err != nil {
		return nil, err
	}
	rep := &CheckReport{}
	var ids []string
	for id, err := range r.SnapshotIDs(ctx) {
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	rep.Snapshots = len(ids)
	if len(ids) == 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%q has no snapshot: nothing of it can be restored (its manifests were forgotten or deleted, or its first backup never finished); take a backup", tenant))
	}
	pc, err := r.CheckPacks(ctx, o.ReadData || o.ReadDataSubset != "", subset, e.checkProgress(o.Progress))
	if err != nil {
		return nil, err
	}
	rep.Packs, rep.Chunks, rep.PacksRead, rep.ChunksRead = pc.Packs, pc.Chunks, pc.PacksRead, pc.ChunksRead
	rep.Problems = append(rep.Problems, pc.Problems...)
	if rep.UnreferencedPacks, rep.UnreferencedBytes, err = unreferencedPacks(ctx, r); err != nil {
		return nil, err
	}
	for _, id := range ids {
		m, err := e.loadManifest(ctx, r, id)
		if err != nil {
			if !repo.IsDamage(err) {
				return nil, err
			}
			rep.Problems = append(rep.Problems, err.Error())
			continue
		}
		missing := 0
		check := func(s string) {
			if cid, err := repo.ParseID(s); err != nil || !r.Has(cid) {
				missing++
			}
		}
		for _, t := range m.Tree {
			check(t)
		}
		var segments []string
		if missing == 0 {
			segments, err = e.entryChunks(ctx, r, m)
			if err != nil {
				if !repo.IsDamage(err) {
					return nil, err
				}
				rep.Problems = append(rep.Problems, fmt.Sprintf("snapshot %s: %v", id, err))
				continue
			}
			for _, t := range segments {
				check(t)
			}
		}
		if missing > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("snapshot %s (%s): %d entry-list chunks missing from the index", id, r.SnapshotKey(id), missing))
			continue
		}
		for f, err := range filesIn(ctx, r, m, segments) {
			if err != nil {
				if !repo.IsDamage(err) {
					return nil, err
				}
				rep.Problems = append(rep.Problems, fmt.Sprintf("snapshot %s: %v", id, err))
				break
			}
			for _, c := range f.Chunks {
				check(c.ID)
			}
		}
		if missing > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("snapshot %s (%s): %d chunks missing from the index", id, r.SnapshotKey(id), missing))
		}
	}
	return rep, nil
}

// checkProgress adapts fn (nil for none) to the pack reads of a check:
// the first and the last reports pass, the others when op.ProgressInterval
// has passed on the Engine's Clock since the last one passed.
func (e *Engine) checkProgress(fn func(Progress)) func(repo.ReadProgress) {
	if fn == nil {
		return nil
	}
	last := e.cfg.Clock.Now() // the first report passes anyway
	return func(rp repo.ReadProgress) {
		now := e.cfg.Clock.Now()
		if rp.PacksRead > 0 && rp.PacksRead < rp.PacksTotal && now.Sub(last) < op.ProgressInterval {
			return
		}
		last = now
		fn(Progress{PacksRead: int64(rp.PacksRead), PacksTotal: int64(rp.PacksTotal), BytesDone: rp.BytesRead, BytesTotal: rp.BytesTotal})
	}
}

// unreferencedPacks counts the packs of r no index lists, and their bytes.
func unreferencedPacks(ctx context.Context, r *repo.Repo) (int, int64, error) {
	orphans, err := r.UnreferencedPacks(ctx)
	var size int64
	for _, p := range orphans {
		size += p.Size
	}
	return len(orphans), size, err
}

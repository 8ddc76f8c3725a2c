package backup

import (
	"context"
	"errors"
	"fmt"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/internal/repo"
	"github.com/iluxsys/steward/storage"
)

// RepairReport says what RepairIndex did.
type RepairReport struct {
	// PacksRead counts the packs whose header was read; their chunks are
	// in the new index.
	PacksRead int `json:"packs_read"`
	// PacksUnreadable lists the packs whose header could not be read or
	// decrypted, with why, sorted by key. They were left in place and are
	// in no index: their chunks are lost to the snapshots that need them
	// (Check reports those snapshots), and Prune deletes them once no
	// snapshot references them.
	PacksUnreadable []UnreadablePack `json:"packs_unreadable"`
	// ChunksIndexed counts the chunk entries the new index lists.
	ChunksIndexed int `json:"chunks_indexed"`
	// IndexesWritten counts the new index objects; IndexesRemoved the old
	// ones deleted after them.
	IndexesWritten int `json:"indexes_written"`
	IndexesRemoved int `json:"indexes_removed"`
}

// UnreadablePack is a pack whose header RepairIndex could not read.
type UnreadablePack struct {
	Key   string `json:"key"`
	Error string `json:"error"`
}

// RepairIndex rebuilds tenant's index from its packs, as `restic repair
// index` does: it reads the header of every pack in the store, writes new
// index objects listing them, then deletes the old index objects. Use it
// when an index object is damaged (errors about one end in "rebuild it
// with Engine.RepairIndex") or lost: the chunks of every readable pack are
// indexed again, so every snapshot whose packs are intact restores.
//
// A pack whose header is damaged is reported in PacksUnreadable and left
// in place, never deleted. A store that fails a read stops the repair
// before anything is deleted. New index objects are written before the
// old ones are deleted, so a repair that crashes leaves a superset of
// both, and running it again finishes it.
//
// It runs under the repository's exclusive lock (ErrLocked while a backup
// or prune runs), is authorized as ActionBackupDelete (a master under the
// default Authorizer) and is audited as audit.TypeIndexRepaired. It opens
// the repository without loading its index, so it works when the index
// does not load.
func (e *Engine) RepairIndex(ctx context.Context, tenant string) (*RepairReport, error) {
	if _, err := scopePrefix(tenant); err != nil {
		return nil, err
	}
	task, err := op.Start(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionBackupDelete, tenant)
	if err != nil {
		return nil, err
	}
	start := e.cfg.Clock.Now()
	rep, err := e.repairIndex(ctx, tenant)
	data := map[string]any{audit.DataDurationMS: e.cfg.Clock.Now().Sub(start).Milliseconds()}
	if rep != nil {
		data["packs_read"], data["packs_unreadable"], data["chunks_indexed"], data["indexes_removed"] = rep.PacksRead, len(rep.PacksUnreadable), rep.ChunksIndexed, rep.IndexesRemoved
	}
	task.Finish(ctx, err, audit.TypeIndexRepaired, fmt.Sprintf("index of %q repaired", tenant), data)
	return rep, err
}

func (e *Engine) repairIndex(ctx context.Context, tenant string) (*RepairReport, error) {
	if err := storage.RequireConditionalCreate(ctx, e.store, &e.caps, e.cfg.SingleWriter, "repair index"); err != nil {
		return nil, errs.Errorf("backup", "%w", err)
	}
	r, err := e.openNoIndex(ctx, tenant)
	if err != nil {
		return nil, err
	}
	lock, err := r.Lock(ctx, true, "repair index by "+steward.PrincipalID(ctx), e.cfg.Clock.Now)
	if err != nil {
		return nil, errs.Errorf("backup", "repair index of %q: %w", tenant, err)
	}
	defer lock.Unlock(ctx)
	res, err := r.RepairIndex(ctx)
	e.forgetRepo(tenant) // the next operation reads the new index
	var rep *RepairReport
	if res != nil {
		rep = &RepairReport{PacksRead: res.PacksRead, PacksUnreadable: []UnreadablePack{}, ChunksIndexed: res.ChunksIndexed, IndexesWritten: res.IndexesWritten, IndexesRemoved: res.IndexesRemoved}
		for _, p := range res.Unreadable {
			rep.PacksUnreadable = append(rep.PacksUnreadable, UnreadablePack(p))
		}
	}
	if err != nil {
		return rep, errs.Errorf("backup", "repair index of %q: %w", tenant, err)
	}
	return rep, nil
}

// openNoIndex opens tenant's repository without loading its index (which
// may be damaged) and without caching it: for RepairIndex and Unlock.
func (e *Engine) openNoIndex(ctx context.Context, tenant string) (*repo.Repo, error) {
	prefix, err := scopePrefix(tenant)
	if err != nil {
		return nil, err
	}
	var keys repo.KeyProvider
	if e.cfg.Keys != nil {
		keys = e.cfg.Keys
	}
	r, err := repo.OpenNoIndex(ctx, e.store, prefix, repo.Options{Keys: keys, Scope: tenant, Now: e.cfg.Clock.Now()})
	if errors.Is(err, repo.ErrNotFound) {
		return nil, errs.Errorf("backup", "scope %q has no backups: %w", tenant, ErrNotFound)
	}
	if err != nil {
		return nil, errs.Errorf("backup", "open %q: %w", tenant, err)
	}
	if err := e.checkPlaintext(r, tenant); err != nil {
		return nil, err
	}
	return r, nil
}

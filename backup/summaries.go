package backup

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/iluxsys/steward/internal/repo"
)

// catalogEvery is how many snapshots a scope may hold beyond what its
// catalog objects cover before a backup folds their summaries into a new
// catalog object (compactCatalog).
const catalogEvery = 32

// summaries returns r's snapshots, newest first: from the manifests the
// engine has decoded before, then from the scope's catalog objects, then
// from the manifests neither covers. A catalog object that fails to read
// or open is ignored (the manifests are the truth, the catalog a cache)
// unless the context ended.
func (e *Engine) summaries(ctx context.Context, r *repo.Repo) ([]Snapshot, error) {
	ids, err := snapshotIDs(ctx, r)
	if err != nil {
		return nil, err
	}
	cached, missing := e.cached(r, ids)
	out := make([]Snapshot, 0, len(ids))
	for _, m := range cached {
		out = append(out, m.Snapshot)
	}
	if len(missing) > 0 {
		var fromCatalog []Snapshot
		fromCatalog, missing, err = catalogSummaries(ctx, r, missing)
		if err != nil {
			return nil, err
		}
		out = append(out, fromCatalog...)
	}
	loaded, err := e.loadManifests(ctx, r, missing)
	if err != nil {
		return nil, err
	}
	for _, m := range loaded {
		out = append(out, m.Snapshot)
	}
	sort.Slice(out, func(i, j int) bool { return newerSnapshot(&out[i], &out[j]) })
	return out, nil
}

// catalogSummaries returns the summaries r's catalog objects hold of ids,
// and the IDs they do not cover.
func catalogSummaries(ctx context.Context, r *repo.Repo, ids []string) ([]Snapshot, []string, error) {
	cat, _, err := r.ReadCatalog(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, ids, nil
	}
	var out []Snapshot
	var rest []string
	for _, id := range ids {
		var s Snapshot
		if raw, ok := cat[id]; ok && json.Unmarshal(raw, &s) == nil && s.ID == id {
			out = append(out, s)
		} else {
			rest = append(rest, id)
		}
	}
	return out, rest, nil
}

// compactCatalog, run by a backup under the scope's shared lock, folds
// the summaries of the snapshots no catalog object covers into a new
// catalog object once there are more than catalogEvery of them, together
// with the summaries of the objects it replaces (forgotten snapshots
// dropped). A failure changes nothing a reader relies on: the next backup
// tries again.
func (e *Engine) compactCatalog(ctx context.Context, r *repo.Repo) error {
	ids, err := snapshotIDs(ctx, r)
	if err != nil {
		return err
	}
	cat, read, err := r.ReadCatalog(ctx)
	if err != nil {
		return err
	}
	var uncovered []string
	for _, id := range ids {
		if _, ok := cat[id]; !ok {
			uncovered = append(uncovered, id)
		}
	}
	if len(uncovered) <= catalogEvery {
		return nil
	}
	ms, err := e.loadManifests(ctx, r, uncovered)
	if err != nil {
		return err
	}
	keep := make(map[string]json.RawMessage, len(ids))
	for _, id := range ids {
		if raw, ok := cat[id]; ok {
			keep[id] = raw
		}
	}
	for _, m := range ms {
		raw, err := json.Marshal(&m.Snapshot)
		if err != nil {
			return err
		}
		keep[m.ID] = raw
	}
	return r.WriteCatalog(ctx, keep, read)
}

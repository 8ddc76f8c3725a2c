package backup

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"sort"
	"sync"

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

// Catalog segments (see repo.CatalogSegment) form tiers by their size:
// tier 0 holds fewer than catalogFanout compactions' worth of summaries,
// each next tier catalogFanout times more. A compaction writes the
// summaries of the snapshots newer than the segments cover as a new
// segment, merged with the newest segments when catalogFanout of one tier
// would be there; segments of catalogMaxTier are never merged. So a
// summary is written about three times on average (at most four), no
// compaction writes more than about 4,000 summaries (catalogFanout^2
// compactions' worth), and readers read few objects: fewer than 20 at
// 10,000 snapshots (tier 2 segments hold about 2,100 summaries each), about
// 60 at 100,000.
const (
	catalogFanout  = 8
	catalogMaxTier = 2
)

// catalogTier is the tier of a segment holding n summaries.
func catalogTier(n int) int {
	t, lim := 0, (catalogEvery+1)*catalogFanout
	for n >= lim && t < catalogMaxTier {
		t, lim = t+1, lim*catalogFanout
	}
	return t
}

// compactCatalog, run by a backup under the scope's shared lock, folds the
// summaries of the snapshots no catalog segment covers, those whose IDs'
// times are past the segments' ranges, into a new segment (see
// catalogFanout). It lists only those IDs and the ranges of the segments it
// merges, whose snapshots it lists again: a forgotten one is dropped, one
// whose manifest appeared late is added. Without segments (a new scope, or
// one only an older version compacted) or after a gap (a segment deleted)
// it lists more, once. A failure changes nothing a reader relies on: the
// next backup tries again.
func (e *Engine) compactCatalog(ctx context.Context, r *repo.Repo) error {
	segs, err := r.CatalogSegments(ctx)
	if err != nil {
		return err
	}
	now := uint64(e.cfg.Clock.Now().UnixMilli()) & (1<<48 - 1)
	if len(segs) == 0 || slices.ContainsFunc(segs, func(s repo.CatalogSegment) bool { return s.Legacy }) {
		return e.rebuildCatalog(ctx, r, segs, now)
	}
	from := catalogCovered(segs)
	if from > now {
		return nil // another writer's clock is ahead: its segment covers now
	}
	var inputs, rest []repo.CatalogSegment
	for _, s := range segs {
		if s.Hi >= from {
			inputs = append(inputs, s)
		} else {
			rest = append(rest, s)
		}
	}
	ids, err := r.SnapshotIDsBetween(ctx, from, now)
	if err != nil {
		return err
	}
	if len(ids) == 0 && len(inputs) == 0 {
		return nil
	}
	lo := from
	for _, s := range inputs {
		lo = min(lo, s.Lo)
	}
	if merged := catalogMerges(rest, len(ids)); len(merged) > 0 {
		for _, s := range merged {
			lo = min(lo, s.Lo)
		}
		older, err := r.SnapshotIDsBetween(ctx, lo, from-1)
		if err != nil {
			return err
		}
		ids, inputs = append(older, ids...), append(inputs, merged...)
	}
	return e.writeSegment(ctx, r, lo, now, ids, inputs)
}

// catalogCovered returns the first ID time that segs' ranges, taken from
// 0, do not cover: past the newest segment, or at a gap.
func catalogCovered(segs []repo.CatalogSegment) uint64 {
	byLo := slices.SortedFunc(slices.Values(segs), func(a, b repo.CatalogSegment) int { return cmp.Compare(a.Lo, b.Lo) })
	var next uint64
	for _, s := range byLo {
		if s.Lo > next {
			break
		}
		next = max(next, s.Hi+1)
	}
	return next
}

// catalogMerges returns the newest segments of segs (all of them before
// the range a compaction lists) that a new segment of n summaries merges:
// the newest when it holds fewer than two compactions' summaries (so a
// scope's first two compactions leave one segment) or overlaps others
// (with them: concurrent compactions, or one whose deletes failed, wrote
// them), then, while
// catalogFanout-1 of the newest are of the new segment's tier, below
// catalogMaxTier, they and the new one become one of the next tier.
func catalogMerges(segs []repo.CatalogSegment, n int) []repo.CatalogSegment {
	newest := slices.SortedFunc(slices.Values(segs), func(a, b repo.CatalogSegment) int { return cmp.Compare(b.Hi, a.Hi) })
	var merged []repo.CatalogSegment
	overlap := len(newest) > 1 && newest[1].Hi >= newest[0].Lo
	if len(newest) > 0 && (newest[0].Count < 2*(catalogEvery+1) || overlap) {
		n += newest[0].Count
		merged, newest = slices.Clone(newest[:1]), newest[1:]
	}
	for t := catalogTier(n); t < catalogMaxTier; t = catalogTier(n) {
		run := 0
		for run < len(newest) && run < catalogFanout-1 && catalogTier(newest[run].Count) == t {
			run++
		}
		if run < catalogFanout-1 {
			break
		}
		for _, s := range newest[:run] {
			n += s.Count
		}
		merged, newest = append(merged, newest[:run]...), newest[run:]
	}
	return withOverlapping(merged, newest)
}

// withOverlapping adds to merged the segments of rest whose ranges overlap
// theirs (concurrent compactions wrote them), so one segment replaces all.
func withOverlapping(merged, rest []repo.CatalogSegment) []repo.CatalogSegment {
	rest = slices.Clone(rest)
	for grew := len(merged) > 0; grew; {
		grew = false
		lo := slices.MinFunc(merged, func(a, b repo.CatalogSegment) int { return cmp.Compare(a.Lo, b.Lo) }).Lo
		for i := 0; i < len(rest); i++ {
			if rest[i].Hi >= lo {
				merged = append(merged, rest[i])
				rest = slices.Delete(rest, i, i+1)
				i--
				grew = true
			}
		}
	}
	return merged
}

// rebuildCatalog replaces every catalog object by one segment covering
// every snapshot whose ID's time is at most now, from segs and the
// manifests they do not cover.
func (e *Engine) rebuildCatalog(ctx context.Context, r *repo.Repo, segs []repo.CatalogSegment, now uint64) error {
	all, err := snapshotIDs(ctx, r)
	if err != nil {
		return err
	}
	var ids []string
	for _, id := range all {
		if t, ok := repo.IDTime(id); ok && t <= now {
			ids = append(ids, id)
		}
	}
	return e.writeSegment(ctx, r, 0, now, ids, segs)
}

// writeSegment writes a segment of range [lo, hi] holding the summaries of
// ids, from the catalog objects inputs or else from their manifests, and
// deletes inputs. A manifest that fails to load is left out: readers load
// it, and report what is wrong with it.
func (e *Engine) writeSegment(ctx context.Context, r *repo.Repo, lo, hi uint64, ids []string, inputs []repo.CatalogSegment) error {
	have, _, err := r.ReadCatalogObjects(ctx, inputs)
	if err != nil {
		return err
	}
	keep := make(map[string]json.RawMessage, len(ids))
	var missing []string
	for _, id := range ids {
		var s struct{ ID string }
		if raw, ok := have[id]; ok && json.Unmarshal(raw, &s) == nil && s.ID == id {
			keep[id] = raw
		} else {
			missing = append(missing, id)
		}
	}
	for _, m := range e.loadSummaries(ctx, r, missing) {
		raw, err := json.Marshal(&m.Snapshot)
		if err != nil {
			return err
		}
		keep[m.ID] = raw
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	replaces := make([]string, len(inputs))
	for i, s := range inputs {
		replaces[i] = s.Key
	}
	return r.WriteCatalogSegment(ctx, lo, hi, keep, replaces)
}

// loadSummaries loads the manifests ids, 16 at a time, leaving out those
// that fail to load.
func (e *Engine) loadSummaries(ctx context.Context, r *repo.Repo, ids []string) []*manifest {
	out := make([]*manifest, len(ids))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], _ = e.loadManifest(ctx, r, id)
		}()
	}
	wg.Wait()
	return slices.DeleteFunc(out, func(m *manifest) bool { return m == nil })
}

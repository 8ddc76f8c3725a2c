package repo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/iluxsys/steward/storage"
)

// Subset selects packs for a read-data check: "" (all), "n/t" (the n-th
// of t groups, 1-based) or "p%" (about p percent).
type Subset struct {
	n, t    uint64
	percent float64
}

// ParseSubset parses a read-data subset.
func ParseSubset(s string) (Subset, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Subset{n: 1, t: 1}, nil
	case strings.HasSuffix(s, "%"):
		p, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || !(p > 0 && p <= 100) { // written so NaN fails too

			return Subset{}, fmt.Errorf("read-data subset %q: want a percentage in (0, 100]", s)
		}
		return Subset{percent: p}, nil
	default:
		a, b, ok := strings.Cut(s, "/")
		n, err1 := strconv.ParseUint(a, 10, 32)
		t, err2 := strconv.ParseUint(b, 10, 32)
		if !ok || err1 != nil || err2 != nil || t == 0 || n == 0 || n > t {
			return Subset{}, fmt.Errorf("read-data subset %q: want n/t with 1 <= n <= t", s)
		}
		return Subset{n: n, t: t}, nil
	}
}

// Includes reports whether pack name (hex) is in the subset. Packs are
// spread by their random names, so groups are even.
func (s Subset) Includes(name string) bool {
	v, err := strconv.ParseUint(name[:min(8, len(name))], 16, 64)
	if err != nil {
		return true
	}
	switch {
	case s.percent > 0:
		return float64(v%10000) < s.percent*100
	case s.t == 0:
		return true // the zero Subset: every pack
	}
	return v%s.t == s.n-1
}

// CheckReport lists what a check saw and every problem found.
type CheckReport struct {
	Packs, Chunks, ChunksRead, PacksRead int
	Problems                             []string
}

// ReadProgress is how far the data reads of a check are: the packs (and
// their stored bytes) done out of those chosen to be read. A pack is done
// once read, or once found damaged and skipped, so PacksRead reaches
// PacksTotal when the check ends.
type ReadProgress struct {
	PacksRead, PacksTotal int
	BytesRead, BytesTotal int64
}

// CheckPacks verifies that every indexed pack exists and that its header
// agrees with the index, and with readData decrypts and verifies every
// chunk of the packs in subset. progress, when not nil, is called from
// the calling goroutine once the packs to read are known (when there are
// any) and after each of them.
func (r *Repo) CheckPacks(ctx context.Context, readData bool, subset Subset, progress func(ReadProgress)) (*CheckReport, error) {
	if err := r.ReloadIndex(ctx); err != nil {
		return nil, err
	}
	rep := &CheckReport{Chunks: r.IndexLen()}
	indexed := map[string]map[ID]Location{}
	r.ForEachIndexed(func(id ID, loc Location, packKey string) {
		if indexed[packKey] == nil {
			indexed[packKey] = map[ID]Location{}
		}
		indexed[packKey][id] = loc
	})
	stored := map[string]int64{} // key -> size
	for oi, err := range r.store.List(ctx, r.prefix+"packs/") {
		if err != nil {
			return nil, err
		}
		stored[oi.Key] = oi.Size
	}
	keys := slices.Sorted(maps.Keys(indexed))
	rep.Packs = len(keys)
	read := func(key string) bool {
		_, ok := stored[key]
		return readData && ok && subset.Includes(key[strings.LastIndexByte(key, '/')+1:])
	}
	var pr ReadProgress
	for _, key := range keys {
		if read(key) {
			pr.PacksTotal++
			pr.BytesTotal += stored[key]
		}
	}
	if progress != nil && pr.PacksTotal > 0 {
		progress(pr)
	}
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, ok := stored[key]; !ok {
			rep.Problems = append(rep.Problems, fmt.Sprintf("pack %q is in the index but missing from the store (%d chunks lost)", key, len(indexed[key])))
			continue
		}
		if err := r.checkPack(ctx, key, indexed[key], read(key), rep); err != nil {
			return nil, err
		}
		if read(key) {
			pr.PacksRead++
			pr.BytesRead += stored[key]
			if progress != nil {
				progress(pr)
			}
		}
	}
	return rep, nil
}

// checkPack checks the stored pack key against its index entries, and
// with readData decrypts and verifies its chunks, adding what it finds to
// rep. Its error is a failure to look (see IsDamage), never damage.
func (r *Repo) checkPack(ctx context.Context, key string, indexed map[ID]Location, readData bool, rep *CheckReport) error {
	entries, err := r.ReadPackHeader(ctx, key)
	if err != nil {
		if !IsDamage(err) {
			return fmt.Errorf("check: pack %q: %w", key, err)
		}
		rep.Problems = append(rep.Problems, fmt.Sprintf("pack %q: header: %v", key, err))
		return nil
	}
	inHeader := map[ID]bool{}
	for _, e := range entries {
		inHeader[e.ID] = true
	}
	for id := range indexed {
		if !inHeader[id] {
			rep.Problems = append(rep.Problems, fmt.Sprintf("pack %q: header lacks chunk %s listed in the index", key, id))
		}
	}
	if !readData {
		return nil
	}
	rep.PacksRead++
	err = r.ReadPackChunks(ctx, key, func(e PackEntry, err error) {
		rep.ChunksRead++
		if err != nil {
			rep.Problems = append(rep.Problems, err.Error())
		}
	})
	if err != nil {
		if !IsDamage(err) {
			return fmt.Errorf("check: pack %q: %w", key, err)
		}
		rep.Problems = append(rep.Problems, fmt.Sprintf("pack %q: %v", key, err))
	}
	return nil
}

// IsDamage tells a finding about the repository (an object that fails
// verification or is missing) from a failure to look (the store refused or
// timed out, the context ended): a check reports the first as a problem and
// stops with the second as its error, so a flaky store never makes a
// healthy repository look damaged.
func IsDamage(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound) || errors.Is(err, storage.ErrNotFound)
}

package flags

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/record"
	"github.com/iluxsys/steward/storage"
)

// DecodeFlag parses and checks a flag version b read from the object key
// ("<prefix><name>/<20-digit version>.json"), as a Set configured with
// recordKey (its Config.RecordKey) reads it. There is no form without the
// key argument: with recordKey, a version whose MAC fails, that carries a
// plain checksum, or that was moved from another key is refused with an
// error matching steward.ErrForged; with nil, only the plain checksum is
// checked, which anyone who can write the Store can recompute. A
// recordKey shorter than steward.MinRecordKey is an error, as for New;
// every other error matches ErrInvalid. It never panics on bad input.
func DecodeFlag(key string, b, recordKey []byte) (Flag, error) {
	k, err := record.New(recordKey, purpose)
	if err != nil {
		return Flag{}, errs.Errorf("flags", "record key: %w", err)
	}
	return decode(k, key, b)
}

func decode(k record.Key, key string, b []byte) (Flag, error) {
	var f Flag
	if err := json.Unmarshal(b, &f); err != nil {
		return Flag{}, fmt.Errorf("%w: decode: %v", ErrInvalid, err)
	}
	if err := ValidateName(f.Name); err != nil {
		return Flag{}, err
	}
	if f.Version == 0 {
		return Flag{}, fmt.Errorf("%w: version 0", ErrInvalid)
	}
	if err := record.Verify(k, key, &f, &f.Sum); err != nil {
		return Flag{}, fmt.Errorf("%w: flag %q version %d: %w", ErrInvalid, f.Name, f.Version, err)
	}
	if !strings.HasSuffix(key, objectName(f.Name, f.Version)) {
		return Flag{}, fmt.Errorf("%w: %q holds flag %q version %d", ErrInvalid, key, f.Name, f.Version)
	}
	if !f.Deleted {
		if err := f.Options.Validate(); err != nil {
			return Flag{}, err
		}
	}
	return f, nil
}

// Refresh reloads every flag's newest version from the Store.
//
// A newest version that cannot be read or is refused (damaged, or failing
// authentication: steward.ErrForged) never takes effect: that flag keeps
// the state this Set last had (or stays unknown if it had none), every
// other flag is still refreshed, and Refresh returns an error naming each
// such flag, version and object key (refusals match ErrInvalid). A
// refused version is read and reported again on every Refresh until a Set
// or Delete writes a genuine version above it. When the Store cannot be
// listed, or ctx ends, nothing changes.
func (s *Set) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshLocked(ctx)
}

func (s *Set) refreshLocked(ctx context.Context) error {
	all, err := s.versions(ctx)
	if err != nil {
		return err
	}
	cur := s.snap.Load().flags
	next := make(map[string]*compiled, len(all))
	seen := make(map[string]uint64, len(all))
	var failed []error
	for _, name := range slices.Sorted(maps.Keys(all)) {
		seen[name] = slices.Max(all[name])
		c, err := s.load(ctx, name, seen[name], cur[name])
		if ctx.Err() != nil {
			return errs.Errorf("flags", "%w", ctx.Err())
		}
		if err != nil {
			failed = append(failed, err)
		}
		if c != nil {
			next[name] = c // tombstones too: the next Set continues their chain
		}
	}
	s.seen = seen
	s.snap.Store(&snapshot{flags: next})
	return errors.Join(failed...)
}

// versions lists every flag's stored version numbers, ascending. Objects
// that are not a version's canonical key are not versions and are skipped.
func (s *Set) versions(ctx context.Context) (map[string][]uint64, error) {
	out := map[string][]uint64{}
	for oi, err := range s.store.List(ctx, s.cfg.Prefix) {
		if err != nil {
			return nil, errs.Errorf("flags", "list: %w", err)
		}
		name, file, ok := strings.Cut(strings.TrimPrefix(oi.Key, s.cfg.Prefix), "/")
		if !ok || ValidateName(name) != nil {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSuffix(file, ".json"), 10, 64)
		if err != nil || v == 0 || oi.Key != s.key(name, v) {
			continue
		}
		out[name] = append(out[name], v)
	}
	for _, vs := range out {
		slices.Sort(vs)
	}
	return out, nil
}

// load returns flag name at version v, last itself when last is that
// version. When v cannot be read or is refused it returns last (the state
// before, possibly nil) and says why.
func (s *Set) load(ctx context.Context, name string, v uint64, last *compiled) (*compiled, error) {
	if last != nil && last.flag.Version == v {
		return last, nil
	}
	f, err := s.read(ctx, s.rk, name, v)
	if err == nil {
		return compile(f), nil
	}
	keeping := "flag unknown"
	if last != nil {
		keeping = fmt.Sprintf("keeping version %d", last.flag.Version)
	}
	return last, errs.Errorf("flags", "flag %q version %d (%q) not loaded, %s: %w", name, v, s.key(name, v), keeping, err)
}

// read reads and decodes flag name at version v, checked with k.
func (s *Set) read(ctx context.Context, k record.Key, name string, v uint64) (Flag, error) {
	key := s.key(name, v)
	b, err := storage.ReadAll(ctx, s.store, key)
	if err != nil {
		return Flag{}, err
	}
	f, err := decode(k, key, b)
	if err == nil && (f.Name != name || f.Version != v) {
		err = fmt.Errorf("%w: %q holds flag %q version %d", ErrInvalid, key, f.Name, f.Version)
	}
	return f, err
}

// Watch refreshes every RefreshInterval until ctx is done; refresh errors
// (including refused versions, reported on every tick until replaced) go
// to onError when it is set. Run it in a goroutine.
func (s *Set) Watch(ctx context.Context, onError func(error)) {
	t := time.NewTicker(s.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Refresh(ctx); err != nil && onError != nil && ctx.Err() == nil {
				onError(err)
			}
		}
	}
}

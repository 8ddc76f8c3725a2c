package flags

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/internal/record"
	"github.com/iluxsys/steward/storage"
)

// Resign adopts cfg.RecordKey on a Store whose flags were written without
// one. For every flag whose newest version carries a plain checksum, it
// checks that checksum and writes the same state again as the next
// version, authenticated with the key; a flag whose newest version is
// already authenticated is left alone, so running Resign again writes
// nothing. It returns how many flags it wrote. Afterwards New and Refresh
// with the key accept the Store, and refuse any version written without
// the key.
//
// Before a key there was nothing to tell a forged version from a genuine
// one, so Resign vouches for the Store as it is: run it once, when
// adopting the key, after checking the flags (List on a Set opened
// without the key). It refuses, with steward.ErrForged, a flag whose
// unauthenticated newest version follows an authenticated one: that is a
// version written without the key after the key was adopted. Every flag
// is checked before any is written, so a refused or damaged version means
// nothing is written; an error while writing leaves the flags written so
// far (the count) authenticated, and running Resign again finishes.
//
// Resign is a function, not a method, because a Set opened with the key
// refuses the unkeyed versions (New fails) and a Set opened without it
// cannot authenticate. cfg is as for New and must set RecordKey. Resign
// needs steward.ActionFlagWrite (master), and each version it writes is
// audited like a Set or Delete.
func Resign(ctx context.Context, store storage.Store, cfg *Config) (int, error) {
	s, err := newSet(store, cfg)
	if err != nil {
		return 0, err
	}
	if !s.rk.Keyed() {
		return 0, errors.New("flags: Resign needs Config.RecordKey, the key to adopt")
	}
	task, err := op.Start(ctx, s.cfg.Authorizer, s.cfg.Auditor, steward.ActionFlagWrite, "")
	if err != nil {
		return 0, err
	}
	if err := storage.RequireConditionalCreate(ctx, s.store, &s.caps, s.cfg.SingleWriter, "flag re-signing"); err != nil {
		return 0, errs.Errorf("flags", "%w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	plan, err := s.resignPlanLocked(ctx)
	if err != nil {
		return 0, err
	}
	for i, f := range plan {
		typ := audit.TypeFlagChanged
		if f.Deleted {
			typ = audit.TypeFlagDeleted
		}
		again := Flag{Name: f.Name, Enabled: f.Enabled, Options: f.Options, Deleted: f.Deleted}
		if err := s.writeLocked(ctx, task, again, typ, "re-signed with the record key as"); err != nil {
			return i, err
		}
	}
	return len(plan), nil
}

// resignPlanLocked returns the newest version of every flag Resign must
// write, installed so that writeLocked writes the version after it.
func (s *Set) resignPlanLocked(ctx context.Context) ([]Flag, error) {
	all, err := s.versions(ctx)
	if err != nil {
		return nil, err
	}
	var plan []Flag
	for _, name := range slices.Sorted(maps.Keys(all)) {
		f, ok, err := s.needsResign(ctx, name, all[name])
		if err != nil {
			return nil, err
		}
		if ok {
			plan = append(plan, f)
			s.installLocked(f)
			s.seen[name] = f.Version
		}
	}
	return plan, nil
}

// needsResign returns flag name's newest version when it is an intact
// version written without a key and no authenticated version precedes it;
// ok is false when the newest version is already authenticated.
func (s *Set) needsResign(ctx context.Context, name string, vs []uint64) (f Flag, ok bool, err error) {
	v := vs[len(vs)-1]
	keyed, err := s.read(ctx, s.rk, name, v)
	if err == nil {
		return keyed, false, nil
	}
	if !errors.Is(err, ErrInvalid) {
		return Flag{}, false, errs.Errorf("flags", "resign: %w", err) // could not read
	}
	f, plainErr := s.read(ctx, record.Key{}, name, v)
	if plainErr != nil {
		return Flag{}, false, errs.Errorf("flags", "flag %q version %d (%q) cannot be re-signed: with the record key: %w; without: %w", name, v, s.key(name, v), err, plainErr)
	}
	for _, old := range vs[:len(vs)-1] {
		if _, err := s.read(ctx, s.rk, name, old); err == nil {
			return Flag{}, false, errs.Errorf("flags", "flag %q version %d (%q) carries no MAC but follows version %d, which does: %w: %w", name, v, s.key(name, v), old, ErrInvalid, steward.ErrForged)
		}
	}
	return f, true, nil
}

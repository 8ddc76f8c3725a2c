package flags

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/internal/record"
	"github.com/iluxsys/steward/storage"
)

// Options describe a flag's targeting.
type Options struct {
	Description string `json:"description,omitempty"`
	// RolloutPercentage is the share of tenants (0–100, two decimals kept)
	// that the sticky rollout enables; 100 enables every tenant.
	RolloutPercentage float64 `json:"rollout_percentage"`
	// TargetTenants are always enabled while the flag is.
	TargetTenants []string `json:"target_tenants,omitempty"`
}

// Flag is a flag's current state.
type Flag struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	Options
	Version   uint64    `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
	Deleted   bool      `json:"deleted,omitempty"`
	// Sum is the stored version's tag over its JSON with Sum empty: with
	// Config.RecordKey an HMAC bound to the version's object key, without
	// one a plain SHA-256. A version whose tag fails is refused, not
	// believed.
	Sum string `json:"sum,omitempty"`
}

// purpose is the record purpose flag versions are tagged under.
const purpose = "flags"

// Errors callers match with errors.Is.
var (
	// ErrConflict: another writer changed the flag since this Set last saw it.
	ErrConflict = errors.New("flags: conflicting update")
	// ErrInvalid: a name or option is not acceptable (nothing was
	// written), or a stored version is not (it was refused). A stored
	// version that fails authentication also matches steward.ErrForged.
	ErrInvalid = errors.New("flags: invalid flag")
	// ErrNotFound: no such flag.
	ErrNotFound = errors.New("flags: no such flag")
)

// Config configures a Set. A nil *Config means defaults.
type Config struct {
	Clock      steward.Clock
	Auditor    audit.Auditor
	Authorizer steward.Authorizer
	// Prefix is where flags live in the Store (default "flags/").
	Prefix string
	// RefreshInterval is how often Watch reloads (default 10s).
	RefreshInterval time.Duration
	// SingleWriter declares this process the only writer of flags. Without
	// it, Set and Delete refuse a store that ignores conditional create
	// (concurrent writers could overwrite each other's versions there).
	SingleWriter bool
	// RecordKey is a secret the host holds and the Store never sees: at
	// least steward.MinRecordKey random bytes (a shorter one makes New
	// fail). It authenticates every flag version, bound to its object key
	// (prefix, name and version), so a version written without the key,
	// or a genuine one moved to another name or version, is refused with
	// an error matching steward.ErrForged. Nil means versions carry a
	// checksum only: it catches damage, but anyone who can write the
	// Store can forge a version (turn a flag on for every tenant, say).
	// To adopt a key on a Store written without one, see Resign; once
	// adopted, every Set that opens the Store needs the key.
	RecordKey []byte
}

// Set is the flags of one Store. It is safe for concurrent use.
type Set struct {
	store storage.Store
	cfg   Config
	rk    record.Key

	mu   sync.Mutex        // serialises writers and refreshes
	seen map[string]uint64 // under mu: newest version listed, refused or not
	snap atomic.Pointer[snapshot]
	caps storage.CapabilityCache
}

type snapshot struct {
	flags map[string]*compiled
}

type compiled struct {
	flag    Flag
	on      bool
	bp      uint32 // basis points: percentage × 100
	targets map[string]struct{}
	seed    uint64 // FNV-1a state after the name and a zero byte
}

// Buckets is the number of rollout buckets.
const Buckets = 10_000

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func seedFor(name string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= fnvPrime
	}
	h ^= 0
	h *= fnvPrime
	return h
}

// Bucket returns tenant's rollout bucket (0–9,999) for flag name.
func Bucket(name, tenant string) uint32 {
	return bucket(seedFor(name), tenant)
}

func bucket(seed uint64, tenant string) uint32 {
	h := seed
	for i := 0; i < len(tenant); i++ {
		h ^= uint64(tenant[i])
		h *= fnvPrime
	}
	return uint32(h % Buckets)
}

// New opens the flags in store and loads them. It fails when
// Config.RecordKey is too short, when the Store cannot be read, and when a
// flag's newest version is refused (damaged, or failing authentication:
// steward.ErrForged), since a new Set has no earlier state to keep; the
// error names each refused version and its object key. With a RecordKey
// on a Store written without one, every version is refused until Resign
// has run.
func New(ctx context.Context, store storage.Store, cfg *Config) (*Set, error) {
	s, err := newSet(store, cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Refresh(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// newSet applies cfg's defaults and derives the record key; it loads
// nothing.
func newSet(store storage.Store, cfg *Config) (*Set, error) {
	s := &Set{store: store, seen: map[string]uint64{}}
	if cfg != nil {
		s.cfg = *cfg
	}
	rk, err := record.New(s.cfg.RecordKey, purpose)
	if err != nil {
		return nil, errs.Errorf("flags", "Config.RecordKey: %w", err)
	}
	s.rk, s.cfg.RecordKey = rk, nil // keep the derived key, not the secret
	s.cfg.Clock = steward.ClockOrSystem(s.cfg.Clock)
	s.cfg.Auditor = audit.OrNop(s.cfg.Auditor)
	s.cfg.Authorizer = steward.AuthorizerOrDefault(s.cfg.Authorizer)
	if s.cfg.Prefix == "" {
		s.cfg.Prefix = "flags/"
	}
	if s.cfg.RefreshInterval <= 0 {
		s.cfg.RefreshInterval = 10 * time.Second
	}
	s.snap.Store(&snapshot{flags: map[string]*compiled{}})
	return s, nil
}

// Enabled reports whether flag name is on for tenant. It takes no lock and
// allocates nothing.
func (s *Set) Enabled(name, tenant string) bool {
	c := s.snap.Load().flags[name]
	if c == nil || !c.on {
		return false
	}
	if _, ok := c.targets[tenant]; ok {
		return true
	}
	return c.bp > 0 && bucket(c.seed, tenant) < c.bp
}

// Reason says why Enabled answered as it did.
type Reason string

// Reasons.
const (
	ReasonUnknown  Reason = "unknown"
	ReasonDisabled Reason = "disabled"
	ReasonTarget   Reason = "target"
	ReasonRollout  Reason = "rollout" // inside the rollout share
	ReasonOutside  Reason = "outside" // outside the rollout share
)

// Evaluate is Enabled with the reason.
func (s *Set) Evaluate(name, tenant string) (bool, Reason) {
	c := s.snap.Load().flags[name]
	switch {
	case c == nil:
		return false, ReasonUnknown
	case !c.on:
		return false, ReasonDisabled
	}
	if _, ok := c.targets[tenant]; ok {
		return true, ReasonTarget
	}
	if c.bp > 0 && bucket(c.seed, tenant) < c.bp {
		return true, ReasonRollout
	}
	return false, ReasonOutside
}

// Get returns flag name as of the last Refresh or write: only versions
// that passed their check (see Refresh) are ever returned.
func (s *Set) Get(name string) (Flag, bool) {
	c := s.snap.Load().flags[name]
	if c == nil || c.flag.Deleted {
		return Flag{}, false
	}
	return c.flag, true
}

// List returns every flag, sorted by name, as Get would.
func (s *Set) List() []Flag {
	m := s.snap.Load().flags
	out := make([]Flag, 0, len(m))
	for _, c := range m {
		if !c.flag.Deleted {
			out = append(out, c.flag)
		}
	}
	slices.SortFunc(out, func(a, b Flag) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ValidateName checks a flag name: 1–64 of lowercase letters, digits, '_',
// '.', '-', starting with a letter or digit.
func ValidateName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w: name %q must have 1 to 64 characters", ErrInvalid, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '_' || c == '.' || c == '-')) {
			return fmt.Errorf("%w: name %q: use lowercase letters, digits, '_', '.' and '-', starting with a letter or digit", ErrInvalid, name)
		}
	}
	return nil
}

// Validate checks options.
func (o *Options) Validate() error {
	if math.IsNaN(o.RolloutPercentage) || o.RolloutPercentage < 0 || o.RolloutPercentage > 100 {
		return fmt.Errorf("%w: rollout_percentage %v must be between 0 and 100", ErrInvalid, o.RolloutPercentage)
	}
	if len(o.Description) > 1000 {
		return fmt.Errorf("%w: description has %d characters (at most 1000)", ErrInvalid, len(o.Description))
	}
	for _, t := range o.TargetTenants {
		if err := steward.ValidateTenant(t); err != nil {
			return fmt.Errorf("%w: target_tenants: %v", ErrInvalid, err)
		}
	}
	return nil
}

// Set creates or replaces flag name: every field takes the value given,
// so an Options left zero turns the rollout to 0 % and clears the targets
// (use Update to change some fields only). It fails with ErrConflict when
// another writer changed the flag since this Set last loaded it (the Set
// is then refreshed, so calling again applies the change on top of
// theirs), and with ErrInvalid, writing nothing, when the input is not
// acceptable.
func (s *Set) Set(ctx context.Context, name string, enabled bool, opts Options) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := opts.Validate(); err != nil {
		return err
	}
	return s.write(ctx, normalize(Flag{Name: name, Enabled: enabled, Options: opts}), audit.TypeFlagChanged)
}

// Patch changes some fields of a flag; a nil field keeps the flag's value.
type Patch struct {
	Enabled           *bool
	Description       *string
	RolloutPercentage *float64
	// TargetTenants replaces the list of targeted tenants when not nil.
	TargetTenants *[]string
}

// Update changes the fields of flag name that patch sets and keeps the
// others, applied to the newest version this Set has loaded, under the
// same conflict detection as Set. A flag that does not exist yet starts
// from the zero Flag (off, 0 %, no targets). Errors are Set's.
func (s *Set) Update(ctx context.Context, name string, patch Patch) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	return s.writeWith(ctx, audit.TypeFlagChanged, func() (Flag, error) {
		f := Flag{Name: name}
		if c := s.snap.Load().flags[name]; c != nil && !c.flag.Deleted {
			f = Flag{Name: name, Enabled: c.flag.Enabled, Options: c.flag.Options}
			f.TargetTenants = slices.Clone(f.TargetTenants)
		}
		patch.apply(&f)
		if err := f.Options.Validate(); err != nil {
			return Flag{}, err
		}
		return normalize(f), nil
	})
}

func (p Patch) apply(f *Flag) {
	if p.Enabled != nil {
		f.Enabled = *p.Enabled
	}
	if p.Description != nil {
		f.Description = *p.Description
	}
	if p.RolloutPercentage != nil {
		f.RolloutPercentage = *p.RolloutPercentage
	}
	if p.TargetTenants != nil {
		f.TargetTenants = slices.Clone(*p.TargetTenants)
	}
}

// normalize sorts and dedups the targets and rounds the percentage to
// hundredths, as every stored version has them.
func normalize(f Flag) Flag {
	f.TargetTenants = slices.Compact(slices.Sorted(slices.Values(f.TargetTenants)))
	f.RolloutPercentage = math.Round(f.RolloutPercentage*100) / 100
	return f
}

// Delete removes flag name (a tombstone version); ErrNotFound when there is
// no such flag.
func (s *Set) Delete(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if _, ok := s.Get(name); !ok {
		if _, err := op.Start(ctx, s.cfg.Authorizer, s.cfg.Auditor, steward.ActionFlagWrite, ""); err != nil {
			return err
		}
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return s.write(ctx, Flag{Name: name, Deleted: true}, audit.TypeFlagDeleted)
}

func (s *Set) write(ctx context.Context, f Flag, typ audit.EventType) error {
	return s.writeWith(ctx, typ, func() (Flag, error) { return f, nil })
}

// writeWith authorizes, then builds the flag under the writers' lock (so
// a patch applies to the newest version) and writes it.
func (s *Set) writeWith(ctx context.Context, typ audit.EventType, build func() (Flag, error)) error {
	task, err := op.Start(ctx, s.cfg.Authorizer, s.cfg.Auditor, steward.ActionFlagWrite, "")
	if err != nil {
		return err
	}
	if err := storage.RequireConditionalCreate(ctx, s.store, &s.caps, s.cfg.SingleWriter, "flag update"); err != nil {
		return errs.Errorf("flags", "%w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := build()
	if err != nil {
		return err
	}
	return s.writeLocked(ctx, task, f, typ, "set to")
}

// writeLocked writes f as the version after the newest one seen (a
// refused one included, so a genuine write replaces a forgery), audits it
// on task as "flag NAME <verb> <summary>" and installs it.
func (s *Set) writeLocked(ctx context.Context, task op.Op, f Flag, typ audit.EventType, verb string) error {
	var old Flag
	had := false
	f.Version = s.seen[f.Name]
	if c := s.snap.Load().flags[f.Name]; c != nil {
		old, had = c.flag, !c.flag.Deleted
		f.Version = max(f.Version, c.flag.Version)
	}
	f.Version++
	f.UpdatedAt = s.cfg.Clock.Now().UTC()
	f.UpdatedBy = steward.PrincipalID(ctx)
	err := s.putLocked(ctx, &f)
	data := map[string]any{audit.DataFlag: f.Name, "version": f.Version, "new": flagSummary(f)}
	if had {
		data["old"] = flagSummary(old)
	}
	msg := fmt.Sprintf("flag %q %s %s", f.Name, verb, flagSummary(f))
	if err != nil {
		msg = fmt.Sprintf("flag %q not changed", f.Name)
	}
	task.Finish(ctx, err, typ, msg, data)
	if err != nil {
		return err
	}
	s.installLocked(f)
	return nil
}

// putLocked tags f with the record key and creates its version object.
func (s *Set) putLocked(ctx context.Context, f *Flag) error {
	if f.Version == 0 { // wrapped: the Store holds version 2^64-1
		return fmt.Errorf("flags: flag %q has no version number left; remove its objects above the last good version", f.Name)
	}
	key := s.key(f.Name, f.Version)
	record.Stamp(s.rk, key, f, &f.Sum)
	b, _ := json.Marshal(f)
	err := storage.PutBytes(ctx, s.store, key, b, &storage.PutOptions{IfNotExist: true})
	if errors.Is(err, storage.ErrExists) {
		_ = s.refreshLocked(ctx)
		err = fmt.Errorf("%w: flag %q was changed by another writer (version %d exists); reload and retry", ErrConflict, f.Name, f.Version)
	}
	return err
}

func flagSummary(f Flag) string {
	if f.Deleted {
		return "deleted"
	}
	state := "off"
	if f.Enabled {
		state = "on"
	}
	return fmt.Sprintf("%s, %.2f%%, targets %v", state, f.RolloutPercentage, f.TargetTenants)
}

func (s *Set) key(name string, version uint64) string {
	return s.cfg.Prefix + objectName(name, version)
}

// objectName is a version's object key after the prefix.
func objectName(name string, version uint64) string {
	return fmt.Sprintf("%s/%020d.json", name, version)
}

// installLocked puts f into a new snapshot (copy on write).
func (s *Set) installLocked(f Flag) {
	cur := s.snap.Load().flags
	next := make(map[string]*compiled, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[f.Name] = compile(f)
	s.snap.Store(&snapshot{flags: next})
}

// compile prepares f for evaluation; a tombstone compiles to an off flag
// that only remembers its version.
func compile(f Flag) *compiled {
	if f.Deleted {
		return &compiled{flag: f}
	}
	c := &compiled{flag: f, on: f.Enabled, bp: uint32(math.Round(f.RolloutPercentage * 100)), seed: seedFor(f.Name)}
	if len(f.TargetTenants) > 0 {
		c.targets = make(map[string]struct{}, len(f.TargetTenants))
		for _, t := range f.TargetTenants {
			c.targets[t] = struct{}{}
		}
	}
	return c
}

package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/internal/repo"
	"github.com/iluxsys/steward/storage"
)

// KeyProvider wraps and unwraps a scope's random 256-bit data key. The
// wrapped form is stored in the scope's repository with KeyID.
type KeyProvider interface {
	// KeyID names the wrapping key (recorded as key_id in every manifest).
	KeyID() string
	// Wrap encrypts dataKey for scope.
	Wrap(ctx context.Context, scope string, dataKey []byte) ([]byte, error)
	// Unwrap decrypts a wrapped key; an error matching ErrWrongKey when the
	// provider's key is not the one that wrapped it.
	Unwrap(ctx context.Context, scope string, wrapped []byte) ([]byte, error)
}

// Errors callers may match with errors.Is.
var (
	// ErrNotFound: the tenant, snapshot or chunk does not exist.
	ErrNotFound = repo.ErrNotFound
	// ErrWrongKey: the key provider cannot open the scope's data key.
	ErrWrongKey = repo.ErrWrongKey
	// ErrCorrupt: a stored object failed verification; the message names it.
	ErrCorrupt = repo.ErrCorrupt
	// ErrLocked: another process holds a conflicting repository lock.
	ErrLocked = repo.ErrLocked
	// ErrKeyDestroyed: the scope's key was deleted (crypto-erasure).
	ErrKeyDestroyed = repo.ErrKeyDestroyed
	// ErrPlaintextScope: a scope is stored unencrypted while the engine has
	// keys and Config.AllowPlaintext is not set; nothing was read or written.
	ErrPlaintextScope = errors.New("backup: unencrypted scope refused")
	// ErrInvalidOptions: Options or Config are not usable; nothing was written.
	ErrInvalidOptions = errors.New("backup: invalid options")
)

// Engine takes and catalogs snapshots. It is safe for concurrent use; open
// repositories are cached per scope.
type Engine struct {
	store storage.Store
	cfg   Config

	mu     sync.Mutex
	repos  map[string]*repo.Repo
	mcache map[string]map[string]*manifest // repository prefix -> snapshot ID -> manifest
	bufs   *repo.ChunkerBufs               // chunker buffers, shared by backups
	caps   storage.CapabilityCache

	logOnce sync.Once
}

// New returns an Engine over store. A nil cfg means defaults: system clock,
// no audit, MasterOnly, no encryption, GOMAXPROCS workers.
func New(store storage.Store, cfg *Config) (*Engine, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: store is nil", ErrInvalidOptions)
	}
	e := &Engine{store: store, repos: map[string]*repo.Repo{}, mcache: map[string]map[string]*manifest{}}
	if cfg != nil {
		e.cfg = *cfg
	}
	if e.cfg.Parallelism < 0 {
		return nil, fmt.Errorf("%w: Parallelism %d is negative", ErrInvalidOptions, e.cfg.Parallelism)
	}
	if e.cfg.Parallelism == 0 {
		e.cfg.Parallelism = runtime.GOMAXPROCS(0)
	}
	e.bufs = repo.NewChunkerBufs(e.cfg.Parallelism + 1) // one per read worker, one for the entry list
	e.cfg.Clock = steward.ClockOrSystem(e.cfg.Clock)
	e.cfg.Auditor = audit.OrNop(e.cfg.Auditor)
	e.cfg.Authorizer = steward.AuthorizerOrDefault(e.cfg.Authorizer)
	return e, nil
}

// Store returns the Store the engine writes to.
func (e *Engine) Store() storage.Store { return e.store }

// scopePrefix maps a tenant (or General/Releases) to its repository prefix,
// validating the tenant ID before any I/O.
func scopePrefix(scope string) (string, error) {
	switch scope {
	case General:
		return "general/", nil
	case Releases:
		return "releases/artifacts/", nil
	}
	if err := steward.ValidateTenant(scope); err != nil {
		return "", errs.Errorf("backup", "%w", err)
	}
	return "tenants/" + scope + "/", nil
}

const registryPrefix = "registry/tenants/"

// repo opens (and caches) the repository of scope. With create it is
// created when missing, encrypted when encrypt is set.
func (e *Engine) repo(ctx context.Context, scope string, create, encrypt bool) (*repo.Repo, error) {
	return e.openRepo(ctx, scope, create, false, encrypt)
}

// openRepo is repo; with deferred, a missing repository is built in
// memory only (repo.Options.Deferred): nothing is written, not even the
// capability probe, and the Repo is neither cached nor registered until
// commitRepo.
func (e *Engine) openRepo(ctx context.Context, scope string, create, deferred, encrypt bool) (*repo.Repo, error) {
	prefix, err := scopePrefix(scope)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	r := e.repos[scope]
	e.mu.Unlock()
	if r != nil {
		return r, nil
	}
	if encrypt && e.cfg.Keys == nil {
		return nil, fmt.Errorf("%w: encryption asked for %q but Config.Keys is nil", ErrInvalidOptions, scope)
	}
	encrypt = e.encrypts(encrypt)
	var keys repo.KeyProvider
	if e.cfg.Keys != nil {
		keys = e.cfg.Keys
	}
	var conditional *bool
	if create && !deferred {
		// Recorded in a new repository's config; a store that cannot
		// even answer the probe will not hold a backup either.
		caps, err := e.capabilities(ctx)
		if err != nil {
			return nil, errs.Errorf("backup", "probe the store: %w", err)
		}
		conditional = &caps.ConditionalCreate
	}
	r, err = repo.Open(ctx, e.store, prefix, repo.Options{Create: create, Deferred: deferred, Encrypt: encrypt, Keys: keys, Scope: scope, Now: e.cfg.Clock.Now(), ConditionalCreate: conditional, LazyIndex: true})
	if err != nil {
		if errors.Is(err, repo.ErrNotFound) {
			return nil, errs.Errorf("backup", "scope %q has no backups: %w", scope, ErrNotFound)
		}
		return nil, errs.Errorf("backup", "open %q: %w", scope, err)
	}
	if err := e.checkPlaintext(r, scope); err != nil {
		return nil, err
	}
	if r.Pending() {
		return r, nil
	}
	if create {
		if err := e.register(ctx, scope); err != nil {
			return nil, err
		}
	}
	return e.cache(scope, r), nil
}

// register writes scope's registry entry, unless it has one (General and
// Releases have none).
func (e *Engine) register(ctx context.Context, scope string) error {
	prefix, err := scopePrefix(scope)
	if err != nil || scope == General || scope == Releases {
		return err
	}
	err = storage.PutBytes(ctx, e.store, registryPrefix+scope, []byte(prefix), &storage.PutOptions{IfNotExist: true})
	if err != nil && !errors.Is(err, storage.ErrExists) {
		return errs.Errorf("backup", "register tenant %q: %w", scope, err)
	}
	return nil
}

// commitRepo writes the key and config of r, a repository of scope built
// in memory (openRepo with deferred), registers the scope and caches r.
// When another process created the scope meanwhile it fails with an
// error matching ErrExists.
func (e *Engine) commitRepo(ctx context.Context, scope string, r *repo.Repo) error {
	caps, err := e.capabilities(ctx)
	if err != nil {
		return errs.Errorf("backup", "probe the store: %w", err)
	}
	if err := r.Commit(ctx, &caps.ConditionalCreate); err != nil {
		if errors.Is(err, repo.ErrCreatedMeanwhile) {
			return errs.Errorf("backup", "scope %q was created by another backup or Init while this first backup ran; nothing of this backup was kept: back up again: %w (%w)", scope, ErrExists, err)
		}
		return errs.Errorf("backup", "create %q: %w", scope, err)
	}
	if err := e.register(ctx, scope); err != nil {
		return err
	}
	e.cache(scope, r)
	return nil
}

// cache caches r as scope's repository, unless one is cached already:
// that one is returned.
func (e *Engine) cache(scope string, r *repo.Repo) *repo.Repo {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cached := e.repos[scope]; cached != nil {
		return cached
	}
	e.repos[scope] = r
	return r
}

// encrypts reports whether a scope created now is encrypted: always when
// the engine has keys (unless the host allowed plaintext), and when asked.
func (e *Engine) encrypts(asked bool) bool {
	return asked || (e.cfg.Keys != nil && !e.cfg.AllowPlaintext)
}

// checkPlaintext refuses an unencrypted scope to an engine that has keys
// and did not allow plaintext: such a config is either a scope from before
// encryption followed the keys, or a downgrade planted by a store writer.
func (e *Engine) checkPlaintext(r *repo.Repo, scope string) error {
	if r.Encrypted() || e.cfg.Keys == nil || e.cfg.AllowPlaintext {
		return nil
	}
	return errs.Errorf("backup", "scope %q is stored unencrypted though the engine has keys (a scope made before encryption followed the keys, or a config a store writer downgraded); set Config.AllowPlaintext to use it: %w", scope, ErrPlaintextScope)
}

func (e *Engine) forgetRepo(scope string) {
	prefix, _ := scopePrefix(scope)
	e.mu.Lock()
	delete(e.repos, scope)
	delete(e.mcache, prefix)
	e.mu.Unlock()
}

// Catalog lists tenant's snapshots, newest first, without their entry
// lists. Summaries come from the scope's catalog objects, which backups
// keep up to date, and from the manifests no catalog object covers yet
// (read in parallel): the reads do not grow with the number of snapshots.
func (e *Engine) Catalog(ctx context.Context, tenant string) ([]Snapshot, error) {
	if _, err := scopePrefix(tenant); err != nil {
		return nil, err
	}
	if _, err := op.Start(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionBackupList, tenant); err != nil {
		return nil, err
	}
	r, err := e.repo(ctx, tenant, false, false)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.summaries(ctx, r)
}

// manifests loads every manifest of r, newest first. Manifests are
// immutable, so decoded ones are cached per scope and only new IDs are
// read.
func (e *Engine) manifests(ctx context.Context, r *repo.Repo) ([]*manifest, error) {
	ids, err := snapshotIDs(ctx, r)
	if err != nil {
		return nil, err
	}
	cached, missing := e.cached(r, ids)
	loaded, err := e.loadManifests(ctx, r, missing)
	if err != nil {
		return nil, err
	}
	out := append(cached, loaded...)
	sort.Slice(out, func(i, j int) bool { return newerSnapshot(&out[i].Snapshot, &out[j].Snapshot) })
	return out, nil
}

// newerSnapshot orders snapshots newest first: by timestamp, then ID.
func newerSnapshot(a, b *Snapshot) bool {
	if !a.Timestamp.Equal(b.Timestamp) {
		return a.Timestamp.After(b.Timestamp)
	}
	return a.ID > b.ID
}

// snapshotIDs lists the IDs of r's snapshots.
func snapshotIDs(ctx context.Context, r *repo.Repo) ([]string, error) {
	var ids []string
	for id, err := range r.SnapshotIDs(ctx) {
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// cached returns the manifests of ids the engine has decoded before and
// the IDs it has not; it forgets cached manifests not in ids (forgotten).
func (e *Engine) cached(r *repo.Repo, ids []string) ([]*manifest, []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cache := e.mcache[r.Prefix()]
	if cache == nil {
		cache = map[string]*manifest{}
		e.mcache[r.Prefix()] = cache
	}
	present := make(map[string]bool, len(ids))
	var out []*manifest
	var missing []string
	for _, id := range ids {
		present[id] = true
		if m, ok := cache[id]; ok {
			out = append(out, m)
		} else {
			missing = append(missing, id)
		}
	}
	for id := range cache {
		if !present[id] {
			delete(cache, id)
		}
	}
	return out, missing
}

// loadManifests reads the manifests ids, 16 at a time, and caches them.
func (e *Engine) loadManifests(ctx context.Context, r *repo.Repo, ids []string) ([]*manifest, error) {
	out := make([]*manifest, len(ids))
	failed := make([]error, len(ids))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], failed[i] = e.loadManifest(ctx, r, id)
		}()
	}
	wg.Wait()
	if err := errors.Join(failed...); err != nil {
		return nil, err
	}
	e.mu.Lock()
	if cache := e.mcache[r.Prefix()]; cache != nil {
		for _, m := range out {
			cache[m.ID] = m
		}
	}
	e.mu.Unlock()
	return out, nil
}

func (e *Engine) loadManifest(ctx context.Context, r *repo.Repo, id string) (*manifest, error) {
	b, err := r.LoadSnapshot(ctx, id)
	if err != nil {
		return nil, errs.Errorf("backup", "%w", err)
	}
	m, err := decodeManifest(b)
	if err != nil {
		return nil, errs.Errorf("backup", "%w", &repo.CorruptError{Key: r.SnapshotKey(id), Detail: err.Error()})
	}
	if m.ID != id {
		return nil, errs.Errorf("backup", "%w", &repo.CorruptError{Key: r.SnapshotKey(id), Detail: fmt.Sprintf("manifest says ID %q", m.ID)})
	}
	if want := m.Checksums["manifest"]; want != manifestChecksum(m) {
		return nil, errs.Errorf("backup", "%w", &repo.CorruptError{Key: r.SnapshotKey(id), Detail: "manifest checksum mismatch"})
	}
	return m, nil
}

// Snapshot returns one snapshot; ErrNotFound when it does not exist. The
// ID Latest names the newest snapshot that is not a pre-restore safety
// backup.
func (e *Engine) Snapshot(ctx context.Context, tenant, id string) (*Snapshot, error) {
	if _, err := scopePrefix(tenant); err != nil {
		return nil, err
	}
	if _, err := op.Start(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionBackupRead, tenant); err != nil {
		return nil, err
	}
	m, _, err := e.manifest(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	s := m.Snapshot
	return &s, nil
}

func (e *Engine) manifest(ctx context.Context, tenant, id string) (*manifest, *repo.Repo, error) {
	if id == "" || strings.ContainsAny(id, "/\\\x00") || id == "." || id == ".." {
		return nil, nil, errs.Errorf("backup", "snapshot ID %q is invalid: %w", id, ErrNotFound)
	}
	r, err := e.repo(ctx, tenant, false, false)
	if err != nil {
		return nil, nil, err
	}
	if id == Latest {
		m, err := e.latest(ctx, r, tenant)
		return m, r, err
	}
	m, err := e.loadManifest(ctx, r, id)
	return m, r, err
}

// newest returns r's newest snapshot (by timestamp, then ID), or nil when
// it has none. It tries the head hint first: one manifest read from the
// store, whatever the number of snapshots. A hint that names no snapshot
// that loads falls back to reading every manifest; one that is stale
// (names an older snapshot: see repo.Head) makes an incremental backup
// compare against that one, which costs reads, never correctness.
func (e *Engine) newest(ctx context.Context, r *repo.Repo) (*manifest, error) {
	if id, _, err := r.Head(ctx); err == nil && id != "" {
		m, err := e.loadManifest(ctx, r, id)
		if err == nil {
			return m, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	ms, err := e.manifests(ctx, r)
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	return ms[0], nil
}

// advanceHead points r's head hint at s, just committed, unless the
// snapshot the hint names is newer, and counts s among the snapshots
// committed since the catalog's last compaction; it returns that count.
// The hint is optional: failures are left for the next commit to repair.
func (e *Engine) advanceHead(ctx context.Context, r *repo.Repo, s *Snapshot) int {
	id, n, err := r.Head(ctx)
	if err != nil {
		return 0
	}
	n++
	if id != "" && id != s.ID {
		cur, err := e.loadManifest(ctx, r, id)
		if err == nil && newerSnapshot(&cur.Snapshot, s) {
			_ = r.SetHead(ctx, id, n)
			return n
		}
	}
	_ = r.SetHead(ctx, s.ID, n)
	return n
}

// latest is the newest snapshot of r that is not a pre-restore safety
// backup (a snapshot of a restore target's old content, not of the tenant).
//
// Unlike an incremental backup's parent (newest), it never trusts the
// head hint: what a restore of "latest" brings back must be the newest.
func (e *Engine) latest(ctx context.Context, r *repo.Repo, tenant string) (*manifest, error) {
	ss, err := e.summaries(ctx, r)
	if err != nil {
		return nil, err
	}
	for _, s := range ss {
		if !slices.Contains(s.Tags, TagPreRestore) {
			return e.loadManifest(ctx, r, s.ID)
		}
	}
	if len(ss) > 0 {
		return nil, errs.Errorf("backup", "tenant %q has only safety backups (tag %s); name one by its ID: %w", tenant, TagPreRestore, ErrNotFound)
	}
	return nil, errs.Errorf("backup", "tenant %q has no snapshots: %w", tenant, ErrNotFound)
}

// Tenants lists the tenants that have a repository (not General or
// Releases), sorted.
func (e *Engine) Tenants(ctx context.Context) ([]string, error) {
	if _, err := op.Start(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionBackupList, ""); err != nil {
		return nil, err
	}
	var out []string
	for oi, err := range e.store.List(ctx, registryPrefix) {
		if err != nil {
			return nil, errs.Errorf("backup", "list tenants: %w", err)
		}
		out = append(out, strings.TrimPrefix(oi.Key, registryPrefix))
	}
	slices.Sort(out)
	return out, nil
}

// Rekey rewraps the data key of tenant's repository with newKeys (a new
// passphrase or KMS key) without rewriting any data. The engine's Keys must
// open the current key; afterwards, engines must be configured with newKeys.
func (e *Engine) Rekey(ctx context.Context, tenant string, newKeys KeyProvider) error {
	prefix, err := scopePrefix(tenant)
	if err != nil {
		return err
	}
	task, err := op.Start(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionRepoKey, tenant)
	if err != nil {
		return err
	}
	if e.cfg.Keys == nil || newKeys == nil {
		return fmt.Errorf("%w: rekey needs the current and the new key provider", ErrInvalidOptions)
	}
	err = repo.Rekey(ctx, e.store, prefix, tenant, e.cfg.Keys, newKeys)
	task.Finish(ctx, err, audit.TypeKeyChanged, fmt.Sprintf("data key of %q rewrapped with key %q", tenant, newKeys.KeyID()), nil)
	if err != nil {
		return errs.Errorf("backup", "rekey %q: %w", tenant, err)
	}
	e.forgetRepo(tenant)
	return nil
}

// DestroyKey deletes tenant's wrapped data key (crypto-erasure): every
// backup of an encrypted tenant becomes unreadable for good, by anyone
// holding only the Store. It cannot be undone.
func (e *Engine) DestroyKey(ctx context.Context, tenant string) error {
	prefix, err := scopePrefix(tenant)
	if err != nil {
		return err
	}
	task, err := op.Start(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionRepoKey, tenant)
	if err != nil {
		return err
	}
	err = repo.DestroyKey(ctx, e.store, prefix)
	e.forgetRepo(tenant)
	task.Finish(ctx, err, audit.TypeKeyChanged, fmt.Sprintf("data key of %q destroyed (crypto-erasure)", tenant), nil)
	if err != nil {
		return errs.Errorf("backup", "destroy key of %q: %w", tenant, err)
	}
	return nil
}

// uploads is how many packs may be uploading at once while the next one
// fills: each holds up to ~20 MiB. One keeps memory low on local stores;
// raise Config.PackUploads for remote stores with high latency.
func (c *Config) uploads() int {
	if c.PackUploads > 0 {
		return c.PackUploads
	}
	return 1
}

// capabilities probes the store (once per Engine: a failed probe is not
// cached) and logs the answer the first time.
func (e *Engine) capabilities(ctx context.Context) (storage.Capabilities, error) {
	caps, err := e.caps.Get(ctx, e.store)
	if err != nil {
		return caps, err
	}
	e.logOnce.Do(func() {
		lg := e.cfg.Logger
		if lg == nil {
			lg = slog.Default()
		}
		lg.Debug("steward: store capabilities", "conditional_create", caps.ConditionalCreate, "single_writer", e.cfg.SingleWriter)
	})
	return caps, nil
}

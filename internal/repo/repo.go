package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/iluxsys/steward/internal/record"
	"github.com/iluxsys/steward/storage"
)

// FormatVersion is the repository format this package writes and reads.
const FormatVersion = 1

// Errors callers match with errors.Is.
var (
	// ErrNotFound: the repository, snapshot or chunk does not exist.
	ErrNotFound = errors.New("not found")
	// ErrWrongKey: the key provider cannot unwrap the repository's data key.
	ErrWrongKey = errors.New("wrong key: the key provider cannot unwrap this repository's data key")
	// ErrCorrupt: a stored object failed verification; the message names it.
	ErrCorrupt = errors.New("corrupt object")
	// ErrKeyDestroyed: the repository's key was deleted (crypto-erasure).
	ErrKeyDestroyed = errors.New("the repository's key was destroyed; its data cannot be read")
	// ErrLocked: another process holds a conflicting lock.
	ErrLocked = errors.New("repository is locked")
)

// CorruptError names the object that failed verification. It matches ErrCorrupt.
type CorruptError struct {
	Key    string // object key in the Store
	Detail string
	Err    error // the cause, when there is one (storage.ErrTooLarge)
}

// Unwrap returns the cause.
func (e *CorruptError) Unwrap() error { return e.Err }

// Error names the object and what failed.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt object %q: %s", e.Key, e.Detail)
}

// Is makes CorruptError match ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// KeyProvider wraps a repository's data key (see backup.KeyProvider).
type KeyProvider interface {
	KeyID() string
	Wrap(ctx context.Context, scope string, dataKey []byte) ([]byte, error)
	Unwrap(ctx context.Context, scope string, wrapped []byte) ([]byte, error)
}

// Config is the repository config object, written once.
type Config struct {
	Version   int       `json:"version"`
	ID        string    `json:"id"`
	Created   time.Time `json:"created"`
	Encrypted bool      `json:"encrypted"`
	Chunker   struct {
		Algorithm string `json:"algorithm"`
		Min       int    `json:"min"`
		Avg       int    `json:"avg"`
		Max       int    `json:"max"`
	} `json:"chunker"`
	Compression string `json:"compression"`
	Cipher      string `json:"cipher,omitempty"`
	// StoreConditionalCreate records the capability probe's answer for the
	// store the repository was created on (nil: not probed).
	StoreConditionalCreate *bool `json:"store_conditional_create,omitempty"`
	// MAC is an HMAC-SHA-256 of the config (Checksum and MAC empty) under
	// a key derived from the repository's data key: only a holder of the
	// data key could have written the config, so a store writer cannot
	// flip its fields (encrypted, chunker, cipher) unnoticed. Empty in
	// configs written before it existed, which are accepted as they are.
	MAC string `json:"mac,omitempty"`
	// Checksum is the SHA-256 (hex) of the config's JSON with Checksum
	// empty: a damaged config is noticed rather than half-believed.
	Checksum string `json:"checksum"`
}

// configName is the name a config's MAC is bound to.
const configName = "config"

// encodeConfig stamps the checksum and serialises the config.
func encodeConfig(c Config) []byte {
	record.Stamp(record.Key{}, configName, &c, &c.Checksum)
	b, _ := json.MarshalIndent(c, "", "  ")
	return b
}

// decodeConfig parses and checksums a stored config (its MAC is checked
// once the data key is unwrapped, by checkMAC).
func decodeConfig(key string, b []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return c, &CorruptError{Key: key, Detail: err.Error()}
	}
	if err := record.Verify(record.Key{}, configName, &c, &c.Checksum); err != nil {
		return c, &CorruptError{Key: key, Detail: "config does not match its checksum"}
	}
	return c, nil
}

// configMACKey derives the key of a config's MAC from the data key.
func configMACKey(dataKey []byte) record.Key {
	k, _ := record.New(dataKey, "repository config")
	return k
}

// stampMAC sets c.MAC under dataKey (c.Checksum is stamped later).
func (c *Config) stampMAC(dataKey []byte) {
	c.Checksum = ""
	record.Stamp(configMACKey(dataKey), configName, c, &c.MAC)
}

// checkMAC verifies c.MAC under dataKey; a config without one predates it.
func (c Config) checkMAC(key string, dataKey []byte) error {
	if c.MAC == "" {
		return nil
	}
	c.Checksum = ""
	if err := record.Verify(configMACKey(dataKey), configName, &c, &c.MAC); err != nil {
		return &CorruptError{Key: key, Detail: "config does not match its MAC (changed by someone without the data key)", Err: err}
	}
	return nil
}

// keyObject is the stored form of the data key.
type keyObject struct {
	// ConfigID binds the key to its repository's config, so a config or
	// key moved from another repository is noticed.
	ConfigID string `json:"config_id,omitempty"`
	KeyID    string `json:"key_id,omitempty"`
	Wrapped  []byte `json:"wrapped,omitempty"` // encrypted repositories
	Plain    []byte `json:"plain,omitempty"`   // unencrypted repositories: the ID/chunker key, not a secret
}

// Options open or create a repository.
type Options struct {
	// Create makes Open create the repository when it does not exist.
	Create bool
	// Encrypt makes a new repository encrypted; Keys is then required.
	Encrypt bool
	// Keys unwraps (and for new repositories wraps) the data key.
	Keys KeyProvider
	// Scope is passed to the KeyProvider (the tenant or scope name).
	Scope string
	// Now stamps the config of a new repository.
	Now time.Time
	// ConditionalCreate, when known, is recorded in a new repository's config.
	ConditionalCreate *bool
	// Deferred makes Create build a missing repository in memory only (data
	// key, config, derived keys) and write nothing: Pending reports it, and
	// Commit writes its key and config. Chunks can be saved to it before
	// (packs do not depend on the config object), so a first backup that
	// fails leaves no repository behind. A key without a config (a create
	// interrupted before) is adopted as without Deferred.
	Deferred bool
	// LazyIndex makes the Repo read the index's shard objects (shard.go)
	// only when a lookup needs them: a backup reads a few shards instead
	// of the whole index. Open then reads nothing of the index: the
	// first lookup or RefreshIndex lists it (a backup refreshes it once
	// it holds its lock, so listing it before was wasted). ReloadIndex
	// and CompleteIndex end the laziness (check and prune need every
	// entry).
	LazyIndex bool
}

// pendingCreate is what Commit writes for a repository Open built in
// memory (Options.Deferred).
type pendingCreate struct {
	cfg     Config // without MAC and ConditionalCreate, stamped by Commit
	key     []byte // the key object's JSON
	dataKey []byte
}

// Repo is an open repository. It is safe for concurrent use.
type Repo struct {
	store  storage.Store
	prefix string
	cfg    Config
	keyID  string
	k      *keys

	mu         sync.RWMutex
	index      map[ID]Location
	packNames  []string                 // pack keys; Location.Pack indexes it
	packIdx    map[string]int           // pack key -> index in packNames
	loadedIdx  map[string]struct{}      // index objects (and bundle parts, see partKey) already loaded
	tables     map[string]*bundleTable  // the tables of the bundles read
	lazyMode   bool                     // shard objects are read when first needed (Options.LazyIndex)
	listed     bool                     // the index was listed once (a lazy Repo's Open does not)
	lazy       lazyIndex                // listed shard objects not read yet
	reading    map[string]chan struct{} // shard objects being read (need), closed when done
	shardReads int                      // lookups that read shard objects (need)

	codecOnce sync.Once
	cdc       *codec

	serial uint64 // identifies this Repo's windows (window.go)

	pending *pendingCreate // set until Commit writes a deferred create
}

// Open opens the repository at prefix (which ends in "/").
func Open(ctx context.Context, store storage.Store, prefix string, opts Options) (*Repo, error) {
	r := &Repo{store: store, prefix: prefix, index: map[ID]Location{}, packIdx: map[string]int{}, loadedIdx: map[string]struct{}{}, lazyMode: opts.LazyIndex, serial: repoSerial.Add(1)}
	b, err := readObject(ctx, store, prefix+"config", maxSmallObject)
	switch {
	case errors.Is(err, storage.ErrNotFound) && opts.Create && opts.Deferred:
		if err := r.createDeferred(ctx, opts); err != nil {
			return nil, err
		}
	case errors.Is(err, storage.ErrNotFound) && opts.Create:
		if err := r.create(ctx, opts); err != nil {
			return nil, err
		}
	case errors.Is(err, storage.ErrNotFound):
		return nil, fmt.Errorf("repository %q: %w", prefix, ErrNotFound)
	case err != nil:
		return nil, err
	default:
		if r.cfg, err = decodeConfig(prefix+"config", b); err != nil {
			return nil, err
		}
		if r.cfg.Version != FormatVersion {
			return nil, fmt.Errorf("repository %q has format version %d; this build reads version %d", prefix, r.cfg.Version, FormatVersion)
		}
		if err := r.loadKey(ctx, opts); err != nil {
			return nil, err
		}
	}
	if opts.LazyIndex {
		return r, nil // listed by the first lookup or RefreshIndex
	}
	if err := r.RefreshIndex(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// newRepo makes a new repository's config (MAC stamped), key object and
// data key, in memory.
func newRepo(ctx context.Context, opts Options) (Config, keyObject, []byte, error) {
	if opts.Encrypt && opts.Keys == nil {
		return Config{}, keyObject{}, nil, errors.New("an encrypted repository needs a key provider")
	}
	cfg := Config{Version: FormatVersion, ID: randomHex(16), Created: opts.Now.UTC(), Encrypted: opts.Encrypt, Compression: "zstd"}
	cfg.Chunker.Algorithm, cfg.Chunker.Min, cfg.Chunker.Avg, cfg.Chunker.Max = "fastcdc-gear-v1", MinChunk, AvgChunk, MaxChunk
	if opts.Encrypt {
		cfg.Cipher = "AES-256-GCM"
	}
	cfg.StoreConditionalCreate = opts.ConditionalCreate
	dataKey := newDataKey()
	cfg.stampMAC(dataKey)
	ko := keyObject{ConfigID: cfg.ID}
	if opts.Encrypt {
		w, err := opts.Keys.Wrap(ctx, opts.Scope, dataKey)
		if err != nil {
			return Config{}, keyObject{}, nil, fmt.Errorf("wrap data key: %w", err)
		}
		ko.KeyID, ko.Wrapped = opts.Keys.KeyID(), w
	} else {
		ko.Plain = dataKey
	}
	return cfg, ko, dataKey, nil
}

func (r *Repo) create(ctx context.Context, opts Options) error {
	cfg, ko, dataKey, err := newRepo(ctx, opts)
	if err != nil {
		return err
	}
	kb, _ := json.Marshal(ko)
	// The key is created first, with IfNotExist: of several processes
	// creating the same repository one wins, and the others adopt its key
	// and config instead of overwriting the key someone already uses.
	err = storage.PutBytes(ctx, r.store, r.prefix+"key", kb, &storage.PutOptions{IfNotExist: true})
	if errors.Is(err, storage.ErrExists) {
		return r.adopt(ctx, opts)
	}
	if err != nil {
		return err
	}
	cb := encodeConfig(cfg)
	err = storage.PutBytes(ctx, r.store, r.prefix+"config", cb, &storage.PutOptions{IfNotExist: true})
	if errors.Is(err, storage.ErrExists) {
		return r.adopt(ctx, opts)
	}
	if err != nil {
		return err
	}
	if r.cfg, err = decodeConfig(r.prefix+"config", cb); err != nil {
		return err
	}
	r.keyID = ko.KeyID
	k, err := deriveKeys(dataKey, cfg.Encrypted)
	r.k = k
	return err
}

// adopt opens a repository another process is creating (or created and
// died before writing its config: the config is then rebuilt from the key,
// which names it).
func (r *Repo) adopt(ctx context.Context, opts Options) error {
	for attempt := 0; ; attempt++ {
		b, err := readObject(ctx, r.store, r.prefix+"config", maxSmallObject)
		if err == nil {
			if r.cfg, err = decodeConfig(r.prefix+"config", b); err != nil {
				return err
			}
			return r.loadKey(ctx, opts)
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if attempt == 20 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	kb, err := readObject(ctx, r.store, r.prefix+"key", maxSmallObject)
	if err != nil {
		return err
	}
	var ko keyObject
	if err := json.Unmarshal(kb, &ko); err != nil || ko.ConfigID == "" {
		return &CorruptError{Key: r.prefix + "key", Detail: "a key without a config, and it names none"}
	}
	cfg := Config{Version: FormatVersion, ID: ko.ConfigID, Created: opts.Now.UTC(), Encrypted: len(ko.Wrapped) > 0, Compression: "zstd"}
	cfg.Chunker.Algorithm, cfg.Chunker.Min, cfg.Chunker.Avg, cfg.Chunker.Max = "fastcdc-gear-v1", MinChunk, AvgChunk, MaxChunk
	if cfg.Encrypted {
		cfg.Cipher = "AES-256-GCM"
	}
	cb := encodeConfig(cfg)
	if err := storage.PutBytes(ctx, r.store, r.prefix+"config", cb, &storage.PutOptions{IfNotExist: true}); err != nil && !errors.Is(err, storage.ErrExists) {
		return err
	}
	return r.adopt(ctx, opts)
}

func (r *Repo) loadKey(ctx context.Context, opts Options) error {
	b, err := readObject(ctx, r.store, r.prefix+"key", maxSmallObject)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("repository %q: %w", r.prefix, ErrKeyDestroyed)
	}
	if err != nil {
		return err
	}
	var ko keyObject
	if err := json.Unmarshal(b, &ko); err != nil {
		return &CorruptError{Key: r.prefix + "key", Detail: err.Error()}
	}
	if ko.ConfigID != r.cfg.ID {
		return &CorruptError{Key: r.prefix + "config", Detail: fmt.Sprintf("config %s does not belong with key %s (moved from another repository?)", r.cfg.ID, r.prefix+"key")}
	}
	dataKey := ko.Plain
	if r.cfg.Encrypted {
		if opts.Keys == nil {
			return fmt.Errorf("repository %q is encrypted: configure a key provider: %w", r.prefix, ErrWrongKey)
		}
		dataKey, err = opts.Keys.Unwrap(ctx, opts.Scope, ko.Wrapped)
		if err != nil {
			if errors.Is(err, ErrWrongKey) {
				return fmt.Errorf("repository %q (key %q): %w", r.prefix, ko.KeyID, err)
			}
			return fmt.Errorf("repository %q: unwrap data key: %w", r.prefix, err)
		}
	}
	r.keyID = ko.KeyID
	k, err := deriveKeys(dataKey, r.cfg.Encrypted)
	if err != nil {
		return &CorruptError{Key: r.prefix + "key", Detail: err.Error()}
	}
	if err := r.cfg.checkMAC(r.prefix+"config", dataKey); err != nil {
		return err
	}
	r.k = k
	return nil
}

// Rekey rewraps the data key with newKeys (a new passphrase or KMS key)
// without rewriting any data. oldKeys must unwrap the current key.
func Rekey(ctx context.Context, store storage.Store, prefix, scope string, oldKeys, newKeys KeyProvider) error {
	r, err := Open(ctx, store, prefix, Options{Keys: oldKeys, Scope: scope})
	if err != nil {
		return err
	}
	if !r.cfg.Encrypted {
		return fmt.Errorf("repository %q is not encrypted; there is no key to change", prefix)
	}
	b, err := readObject(ctx, store, prefix+"key", maxSmallObject)
	if err != nil {
		return err
	}
	var ko keyObject
	if err := json.Unmarshal(b, &ko); err != nil {
		return &CorruptError{Key: prefix + "key", Detail: err.Error()}
	}
	dataKey, err := oldKeys.Unwrap(ctx, scope, ko.Wrapped)
	if err != nil {
		return err
	}
	w, err := newKeys.Wrap(ctx, scope, dataKey)
	if err != nil {
		return err
	}
	// Prove the new wrapping opens before replacing the old one.
	if back, err := newKeys.Unwrap(ctx, scope, w); err != nil || string(back) != string(dataKey) {
		return fmt.Errorf("repository %q: the new key provider cannot unwrap what it wrapped", prefix)
	}
	nb, _ := json.Marshal(keyObject{ConfigID: r.cfg.ID, KeyID: newKeys.KeyID(), Wrapped: w})
	return storage.PutBytes(ctx, store, prefix+"key", nb, nil)
}

// DestroyKey deletes the repository's wrapped data key: every chunk,
// manifest and index of an encrypted repository becomes unreadable
// (crypto-erasure). Copies of the key held elsewhere (backups of the Store,
// a KMS) are outside its reach.
func DestroyKey(ctx context.Context, store storage.Store, prefix string) error {
	err := store.Delete(ctx, prefix+"key")
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("repository %q: %w", prefix, ErrKeyDestroyed)
	}
	return err
}

// Encrypted reports whether the repository encrypts its data.
func (r *Repo) Encrypted() bool { return r.cfg.Encrypted }

// KeyID returns the key provider's ID recorded with the data key.
func (r *Repo) KeyID() string { return r.keyID }

// Config returns the repository config.
func (r *Repo) Config() Config { return r.cfg }

// Prefix returns the repository's key prefix.
func (r *Repo) Prefix() string { return r.prefix }

// Store returns the Store under the repository.
func (r *Repo) Store() storage.Store { return r.store }

// ChunkID computes the ID of a chunk's plaintext.
func (r *Repo) ChunkID(plain []byte) ID { return r.k.id(plain) }

// Gear returns the chunker table of this repository.
func (r *Repo) Gear() *Gear { return r.k.gear }

// sealMeta encrypts a metadata object (manifest, index, pack header) in
// encrypted repositories; ad binds it to its role and name (metaAD).
func (r *Repo) sealMeta(plain []byte, ad string) []byte {
	if !r.cfg.Encrypted {
		return plain
	}
	return r.k.seal(nil, plain, []byte(ad))
}

// metaAD is the additional data that binds a metadata object to its role
// and its name within the repository, so a sealed object moved or copied
// to another name fails to open.
func metaAD(role, name string) string { return role + ":" + name }

// openMeta opens a metadata object sealed with ad. Index objects and pack
// headers written before names were bound carry their role alone
// (legacyAD): they still open, and only such old objects can be moved.
func (r *Repo) openMeta(key string, data []byte, ad, legacyAD string) ([]byte, error) {
	if !r.cfg.Encrypted {
		return data, nil
	}
	sealed := data
	if legacyAD != "" {
		sealed = append([]byte(nil), data...) // open decrypts in place
	}
	out, err := r.k.open(data, []byte(ad))
	if err != nil && legacyAD != "" {
		out, err = r.k.open(sealed, []byte(legacyAD))
	}
	if err != nil {
		return nil, &CorruptError{Key: key, Detail: "decryption failed: " + err.Error()}
	}
	return out, nil
}

package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"

	"github.com/iluxsys/steward/internal/errs"
)

// ProbePrefix is the reserved key prefix the capability probe writes under.
const ProbePrefix = "_steward/probe/"

// Capabilities says what a Store can be trusted with.
type Capabilities struct {
	// ConditionalCreate: Put with IfNotExist refuses an existing key. When
	// false, commit points, locks and append-only logs cannot rely on it
	// when several processes write (see the packages' SingleWriter options).
	ConditionalCreate bool `json:"conditional_create"`
}

// Probe finds out what s can do by trying it: it creates a fresh key under
// ProbePrefix twice with IfNotExist (the second must fail with ErrExists),
// then deletes it. It costs three requests; cache the result with a
// CapabilityCache.
func Probe(ctx context.Context, s Store) (Capabilities, error) {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	key := ProbePrefix + hex.EncodeToString(rnd[:])
	create := &PutOptions{IfNotExist: true}
	if err := PutBytes(ctx, s, key, []byte("first"), create); err != nil {
		return Capabilities{}, errs.Errorf("storage", "capability probe: %w", err)
	}
	defer func() { _ = s.Delete(context.WithoutCancel(ctx), key) }()
	err := PutBytes(ctx, s, key, []byte("second"), create)
	switch {
	case errors.Is(err, ErrExists):
		// The first write must still be there, whole.
		b, rerr := ReadAll(ctx, s, key)
		if rerr != nil {
			return Capabilities{}, errs.Errorf("storage", "capability probe: %w", rerr)
		}
		return Capabilities{ConditionalCreate: string(b) == "first"}, nil
	case err == nil:
		return Capabilities{ConditionalCreate: false}, nil
	default:
		return Capabilities{}, errs.Errorf("storage", "capability probe: %w", err)
	}
}

// CapabilityCache probes each Store once and remembers the answer. The zero
// value is ready to use and safe for concurrent use; a host keeps one for
// the life of its Stores (there is no package-level cache).
type CapabilityCache struct {
	mu   sync.Mutex
	caps map[Store]Capabilities
}

// Get returns s's capabilities, probing on the first call for s. A failed
// probe is not cached.
func (c *CapabilityCache) Get(ctx context.Context, s Store) (Capabilities, error) {
	c.mu.Lock()
	if caps, ok := c.caps[s]; ok {
		c.mu.Unlock()
		return caps, nil
	}
	c.mu.Unlock()
	caps, err := Probe(ctx, s)
	if err != nil {
		return caps, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.caps == nil {
		c.caps = make(map[Store]Capabilities)
	}
	c.caps[s] = caps
	return caps, nil
}

// ErrNoConditionalCreate: the operation needs conditional create for
// correctness with several writers, and the store ignores it.
var ErrNoConditionalCreate = errors.New("store does not honour conditional create")

// RequireConditionalCreate probes s (once per cache) and returns nil when
// it honours conditional create or when singleWriter is set (the host
// promises this process is the only writer). Otherwise it returns an error
// matching ErrNoConditionalCreate that names the operation and the remedy.
// A nil cache probes every time.
func RequireConditionalCreate(ctx context.Context, s Store, cache *CapabilityCache, singleWriter bool, operation string) error {
	if singleWriter {
		return nil
	}
	if cache == nil {
		cache = &CapabilityCache{}
	}
	caps, err := cache.Get(ctx, s)
	if err != nil {
		return err
	}
	if caps.ConditionalCreate {
		return nil
	}
	return errs.Errorf("storage", "%s refused: %w (a create-if-absent write overwrote an existing object), so several writers could silently fork state; use a store that honours If-None-Match (AWS S3, GCS, Azure, file://) or set SingleWriter if this process is the only writer", operation, ErrNoConditionalCreate)
}

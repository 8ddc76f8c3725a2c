package health

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/storage"
)

// checkStore probes the store: storage.Probe creates a fresh key under
// storage.ProbePrefix twice with IfNotExist and deletes it, which shows
// in one go that the store is reachable, writable and honours conditional
// create. A read-only store is listed instead.
func (c *Checker) checkStore(ctx context.Context) []Result {
	if c.cfg.ReadOnly {
		for _, err := range c.store().List(ctx, storage.ProbePrefix) {
			if err != nil {
				return []Result{degraded(CheckStore, "", fmt.Sprintf("read-only store unreachable: %v", err))}
			}
			break
		}
		return []Result{ok(CheckStore, "", "read-only store reachable (listed; not written, as configured)")}
	}
	caps, err := storage.Probe(ctx, c.store())
	switch {
	case errors.Is(err, storage.ErrPermission):
		return []Result{degraded(CheckStore, "", fmt.Sprintf("store refuses writes (read-only?): %v; backups cannot be stored. If it is meant to be read-only, set Config.ReadOnly", err))}
	case err != nil:
		return []Result{degraded(CheckStore, "", fmt.Sprintf("store unreachable or not writable: %v", err))}
	}
	store := ok(CheckStore, "", "store reachable and writable (probe object "+storage.ProbePrefix+"… created and deleted)")
	cc := ok(CheckConditionalCreate, "", "store honours conditional create")
	switch {
	case !caps.ConditionalCreate && c.cfg.SingleWriter:
		cc.Message = "store ignores conditional create; fine while this process is its only writer (SingleWriter)"
	case !caps.ConditionalCreate:
		cc = degraded(CheckConditionalCreate, "", "store ignores conditional create: the audit log, flags, releases and prune refuse to run with several writers; use a store that honours If-None-Match or declare a single writer")
	}
	return []Result{store, cc}
}

// checkAudit verifies the audit records appended since the last Check
// (audit.Log.VerifySince), or the whole log at the first Check and every
// AuditFullEvery.
func (c *Checker) checkAudit(ctx context.Context, now time.Time) Result {
	from := c.verified
	full := c.fullAt.IsZero() || (c.cfg.AuditFullEvery > 0 && now.Sub(c.fullAt) >= c.cfg.AuditFullEvery)
	if full {
		from = audit.Checkpoint{}
	}
	at, _, err := c.cfg.Log.VerifySince(ctx, from)
	if err != nil && full {
		return degraded(CheckAuditChain, "", fmt.Sprintf("audit chain does not verify: %v", err))
	}
	if err != nil {
		return degraded(CheckAuditChain, "", fmt.Sprintf("audit chain does not verify after sequence %d: %v", from.Seq, err))
	}
	c.verified = at
	if full {
		c.fullAt = now
	}
	return ok(CheckAuditChain, "", fmt.Sprintf("audit chain verified up to sequence %d", at.Seq))
}

// keyState is the key provider's last check.
type keyState struct {
	at     time.Time
	result Result
}

// keyProbeScope is the scope name the probe key is wrapped for; no tenant
// or internal scope has it.
const keyProbeScope = "_health"

// checkKeys wraps and unwraps a random probe key with the key provider,
// at most every KeyCheckEvery.
func (c *Checker) checkKeys(ctx context.Context, now time.Time) Result {
	if !c.keys.at.IsZero() && c.cfg.KeyCheckEvery > 0 && now.Sub(c.keys.at) < c.cfg.KeyCheckEvery {
		return c.keys.result
	}
	c.keys = keyState{at: now, result: c.probeKeys(ctx)}
	return c.keys.result
}

func (c *Checker) probeKeys(ctx context.Context) Result {
	k := c.cfg.Keys
	probe := make([]byte, 32)
	_, _ = rand.Read(probe)
	wrapped, err := k.Wrap(ctx, keyProbeScope, probe)
	if err != nil {
		return degraded(CheckKeyProvider, "", fmt.Sprintf("key provider %q cannot wrap a key: %v", k.KeyID(), err))
	}
	got, err := k.Unwrap(ctx, keyProbeScope, wrapped)
	if err != nil {
		return degraded(CheckKeyProvider, "", fmt.Sprintf("key provider %q cannot unwrap the key it wrapped: %v", k.KeyID(), err))
	}
	if !bytes.Equal(got, probe) {
		return degraded(CheckKeyProvider, "", fmt.Sprintf("key provider %q unwrapped a key to other bytes than it wrapped", k.KeyID()))
	}
	return ok(CheckKeyProvider, "", fmt.Sprintf("key provider %q wrapped and unwrapped a probe key", k.KeyID()))
}

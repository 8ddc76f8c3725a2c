package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/iluxsys/steward/storage"
)

// ErrCreatedMeanwhile: Commit found that another process created the
// repository after this one was built in memory (Options.Deferred). What
// was saved under this Repo's data key cannot join it; it matches
// storage.ErrExists.
var ErrCreatedMeanwhile = fmt.Errorf("the repository was created by another process meanwhile: %w", storage.ErrExists)

// createDeferred builds a new repository in memory (Options.Deferred):
// nothing is written until Commit. A key already stored without a config
// is an interrupted create, adopted as create does.
func (r *Repo) createDeferred(ctx context.Context, opts Options) error {
	_, err := readObject(ctx, r.store, r.prefix+"key", maxSmallObject)
	if err == nil {
		return r.adopt(ctx, opts)
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	cfg, ko, dataKey, err := newRepo(ctx, opts)
	if err != nil {
		return err
	}
	kb, _ := json.Marshal(ko)
	k, err := deriveKeys(dataKey, cfg.Encrypted)
	if err != nil {
		return err
	}
	r.cfg, r.keyID, r.k = cfg, ko.KeyID, k
	r.pending = &pendingCreate{cfg: cfg, key: kb, dataKey: dataKey}
	return nil
}

// Pending reports whether the repository exists only in memory: built by
// Open with Options.Deferred and not committed yet.
func (r *Repo) Pending() bool { return r.pending != nil }

// Commit writes the key and then the config of a repository built in
// memory (Options.Deferred), each only if no object has its key, recording
// conditionalCreate (the store's probed capability, when known) in the
// config. It does nothing for a repository that exists. When another
// process created the repository meanwhile it writes nothing and returns
// an error matching ErrCreatedMeanwhile: this Repo's data key is not the
// repository's, so what was saved with it must be discarded. When the
// config cannot be written it deletes the key it wrote. Commit is not
// safe for concurrent use with itself.
func (r *Repo) Commit(ctx context.Context, conditionalCreate *bool) error {
	p := r.pending
	if p == nil {
		return nil
	}
	cfg := p.cfg
	cfg.StoreConditionalCreate = conditionalCreate
	cfg.stampMAC(p.dataKey)
	cb := encodeConfig(cfg)
	// The key first, as create does: the process whose key lands owns the
	// repository; another one adopts it (create) or fails here.
	err := storage.PutBytes(ctx, r.store, r.prefix+"key", p.key, &storage.PutOptions{IfNotExist: true})
	if errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("repository %q: %w", r.prefix, ErrCreatedMeanwhile)
	}
	if err != nil {
		return err
	}
	err = storage.PutBytes(ctx, r.store, r.prefix+"config", cb, &storage.PutOptions{IfNotExist: true})
	if err != nil {
		_ = r.store.Delete(context.WithoutCancel(ctx), r.prefix+"key")
		if errors.Is(err, storage.ErrExists) {
			return fmt.Errorf("repository %q: %w", r.prefix, ErrCreatedMeanwhile)
		}
		return err
	}
	if r.cfg, err = decodeConfig(r.prefix+"config", cb); err != nil {
		return err
	}
	r.pending = nil
	return nil
}

package repo

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"

	"github.com/iluxsys/steward/storage"
)

// SnapshotKey returns the object key of snapshot id's manifest.
func (r *Repo) SnapshotKey(id string) string { return r.prefix + "snapshots/" + id }

// SaveSnapshot writes a manifest with IfNotExist: the commit point of a
// backup. It is sealed in encrypted repositories, bound to its ID.
func (r *Repo) SaveSnapshot(ctx context.Context, id string, manifest []byte) error {
	body := r.sealMeta(manifest, "snapshot:"+id)
	return storage.PutBytes(ctx, r.store, r.SnapshotKey(id), body, &storage.PutOptions{IfNotExist: true})
}

// LoadSnapshot reads and opens snapshot id's manifest.
func (r *Repo) LoadSnapshot(ctx context.Context, id string) ([]byte, error) {
	key := r.SnapshotKey(id)
	b, err := readObject(ctx, r.store, key, maxManifest)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("snapshot %q in %q: %w", id, r.prefix, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return r.openMeta(key, b, "snapshot:"+id, "")
}

// DeleteSnapshot removes snapshot id's manifest (forget).
func (r *Repo) DeleteSnapshot(ctx context.Context, id string) error {
	err := r.store.Delete(ctx, r.SnapshotKey(id))
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("snapshot %q in %q: %w", id, r.prefix, ErrNotFound)
	}
	return err
}

// SnapshotIDs yields the IDs of every snapshot manifest, in key order.
func (r *Repo) SnapshotIDs(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		p := r.prefix + "snapshots/"
		for oi, err := range r.store.List(ctx, p) {
			if err != nil {
				yield("", err)
				return
			}
			if !yield(strings.TrimPrefix(oi.Key, p), nil) {
				return
			}
		}
	}
}

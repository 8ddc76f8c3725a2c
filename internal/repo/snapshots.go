package repo

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
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
		for key, err := range storage.ListKeys(ctx, r.store, p) {
			if err != nil {
				yield("", err)
				return
			}
			if !yield(strings.TrimPrefix(key, p), nil) {
				return
			}
		}
	}
}

// headKey names the head hint: the ID of the snapshot a backup last
// committed as the newest, and how many snapshots were committed since
// the catalog was last compacted. It is only a hint (see Head).
func (r *Repo) headKey() string { return r.prefix + "head" }

// maxHead bounds the head hint's size: one ID, a count and a newline.
const maxHead = 128

// Head returns the ID the head hint names, or "" when there is none or
// it is not well-formed, and the count it carries (0 when absent). The
// hint is written after each commit (SetHead) without a lock, by any
// writer, and is never trusted: a caller loads and verifies the manifest
// it names, and falls back to listing every snapshot when that fails. A
// stale hint (a concurrent backup's commit won the race, an old build
// committed without writing it, the snapshot was forgotten) costs
// efficiency, never correctness; so does a wrong count.
func (r *Repo) Head(ctx context.Context) (id string, n int, err error) {
	b, err := readObject(ctx, r.store, r.headKey(), maxHead)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrTooLarge) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, err
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 || !validSnapshotID(fields[0]) {
		return "", 0, nil
	}
	if len(fields) > 1 {
		n, _ = strconv.Atoi(fields[1])
	}
	return fields[0], max(n, 0), nil
}

// SetHead writes the head hint naming id, with count n.
func (r *Repo) SetHead(ctx context.Context, id string, n int) error {
	if !validSnapshotID(id) {
		return fmt.Errorf("head hint: snapshot ID %q is not well-formed", id)
	}
	return storage.PutBytes(ctx, r.store, r.headKey(), fmt.Appendf(nil, "%s %d\n", id, n), nil)
}

// validSnapshotID accepts what a backup names snapshots: a UUID in its
// canonical text form (so a hint can never name another object's key).
func validSnapshotID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, c := range id {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !('0' <= c && c <= '9' || 'a' <= c && c <= 'f'):
			return false
		}
	}
	return true
}

package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/iluxsys/steward/storage"
)

// Catalog objects. A listing of a scope's snapshots needs each one's
// summary (its catalog entry), and reading it from every manifest costs one
// read per snapshot. Writers therefore fold the summaries of the manifests
// written since into a catalog object (catalog/<name>, sealed like other
// metadata) from time to time, and readers take summaries from there.
//
// Catalog objects are a cache, never the truth: a snapshot exists when its
// manifest does (a listing of snapshots/ says which), and manifests never
// change once written, so a summary of a listed snapshot is correct
// whichever catalog object holds it, and a summary of a forgotten one is
// ignored. A snapshot no catalog object covers is read from its manifest.
type catalogObject struct {
	Snapshots map[string]json.RawMessage `json:"snapshots"`
}

// maxCatalogObject bounds a catalog object's size (about 100,000
// summaries).
const maxCatalogObject = 64 << 20

// ReadCatalog reads every catalog object and returns the summaries they
// hold by snapshot ID, and the keys of the objects read. An object gone
// since the listing (a compaction replaced it) is skipped: what it held is
// in its replacement or in the manifests.
func (r *Repo) ReadCatalog(ctx context.Context) (map[string]json.RawMessage, []string, error) {
	keys, err := r.listKeys(ctx, r.prefix+"catalog/")
	if err != nil {
		return nil, nil, err
	}
	out := map[string]json.RawMessage{}
	var read []string
	for _, key := range keys {
		b, err := readObject(ctx, r.store, key, maxCatalogObject)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err == nil {
			b, err = r.openMeta(key, b, metaAD("catalog", strings.TrimPrefix(key, r.prefix)), "")
		}
		var c catalogObject
		if err == nil {
			if err = json.Unmarshal(b, &c); err != nil {
				err = &CorruptError{Key: key, Detail: "catalog object: " + err.Error()}
			}
		}
		if err != nil {
			return nil, nil, err
		}
		for id, s := range c.Snapshots {
			out[id] = s
		}
		read = append(read, key)
	}
	return out, read, nil
}

// WriteCatalog stores summaries (by snapshot ID) as one new catalog
// object, then deletes the objects it replaces: a crash in between leaves
// both, which only repeats summaries.
func (r *Repo) WriteCatalog(ctx context.Context, summaries map[string]json.RawMessage, replaces []string) error {
	for id := range summaries {
		if !validSnapshotID(id) {
			return fmt.Errorf("write catalog: snapshot ID %q is not well-formed", id)
		}
	}
	b, err := json.Marshal(catalogObject{Snapshots: summaries})
	if err != nil {
		return err
	}
	name := "catalog/" + randomHex(16)
	body := r.sealMeta(b, metaAD("catalog", name))
	if err := storage.PutBytes(ctx, r.store, r.prefix+name, body, &storage.PutOptions{IfNotExist: true}); err != nil {
		return fmt.Errorf("write catalog: %w", err)
	}
	for _, key := range slices.Sorted(slices.Values(replaces)) {
		if err := r.store.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("write catalog: delete replaced %q: %w", key, err)
		}
	}
	return nil
}

package repo

import (
	"context"
	"errors"
	"fmt"

	"github.com/iluxsys/steward/storage"
)

// The largest object of each kind a repository reads whole. Objects come
// from the Store, so their sizes are untrusted: each is checked before
// memory is allocated for it, and a larger one is refused as corrupt
// instead of exhausting the host's memory.
const (
	maxSmallObject = 1 << 20  // config, key, lock
	maxManifest    = 16 << 20 // a snapshot manifest (its entry list is chunked)
	maxIndexObject = 64 << 20 // writers split index objects at indexSplit
	maxPackHeader  = 64 << 20
	maxPackSize    = 64 << 20 // ReadPackChunks reads a whole pack
	// maxStoredChunk bounds a chunk's stored length: a chunk is compressed
	// only when that shrinks it, and sealing adds a nonce and a tag.
	maxStoredChunk = MaxChunk + gcmNonceSize + gcmTagSize
	// indexSplit is the encoded size at which a writer starts another index
	// object, well below maxIndexObject.
	indexSplit = 16 << 20
)

// readObject reads key whole, refusing more than limit bytes.
func readObject(ctx context.Context, s storage.Store, key string, limit int64) ([]byte, error) {
	b, err := storage.ReadAllLimit(ctx, s, key, limit)
	if errors.Is(err, storage.ErrTooLarge) {
		return nil, &CorruptError{Key: key, Detail: fmt.Sprintf("larger than the %d bytes an object of its kind may have", limit), Err: storage.ErrTooLarge}
	}
	return b, err
}

// splitIndex cuts packs into groups whose encoded index stays near
// indexSplit bytes.
func splitIndex(packs []IndexPack) [][]IndexPack {
	var out [][]IndexPack
	start, size := 0, 0
	for i, p := range packs {
		n := len(p.Name) + 16 + len(p.Entries)*packEntryMaxLen
		if i > start && size+n > indexSplit {
			out = append(out, packs[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(packs) {
		out = append(out, packs[start:])
	}
	return out
}

// packEntryMaxLen and packEntryMinLen bound the bytes encodeHeader
// spends on one entry (a varint takes one to five bytes; the minimum is
// kept one below the true 36 as the decoders always checked it).
const (
	packEntryMaxLen = 32 + 1 + 3*5
	packEntryMinLen = 35
)

// writeIndex stores packs as one or more new delta index objects (each
// below maxIndexObject) and returns their keys and the bytes written.
func (r *Repo) writeIndex(ctx context.Context, packs []IndexPack) (keys []string, n int64, err error) {
	return r.writeIndexAs(ctx, "index/", packs)
}

// writeIndexAs is writeIndex for objects named base followed by 32 random
// hex digits: "index/" for deltas, mergedBase for a compaction's merge.
func (r *Repo) writeIndexAs(ctx context.Context, base string, packs []IndexPack) (keys []string, n int64, err error) {
	for _, group := range splitIndex(packs) {
		name := base + randomHex(16)
		body := r.sealMeta(EncodeIndex(group), metaAD("index", name))
		if err := storage.PutBytes(ctx, r.store, r.prefix+name, body, &storage.PutOptions{IfNotExist: true}); err != nil {
			return keys, n, fmt.Errorf("write index: %w", err)
		}
		keys = append(keys, r.prefix+name)
		n += int64(len(body))
	}
	return keys, n, nil
}

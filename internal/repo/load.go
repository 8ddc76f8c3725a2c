package repo

import (
	"context"
	"fmt"
	"io"
	"sync"
)

func (r *Repo) codec() *codec {
	r.codecOnce.Do(func() { r.cdc = newCodec() })
	return r.cdc
}

// rawPool holds the buffers stored blobs are read into; the decoded chunk
// is always copied out (decompressed or appended to dst), so a raw buffer
// is free again when LoadChunk returns.
var rawPool = sync.Pool{New: func() any { return new([]byte) }}

// LoadChunk reads chunk id, decrypts and decompresses it, and verifies it:
// an encrypted chunk by its AES-GCM tag over the content and id, a plain
// chunk by hashing its content to id. The result is appended to dst[:0].
// A mismatch is a *CorruptError naming the pack object.
func (r *Repo) LoadChunk(ctx context.Context, id ID, dst []byte) ([]byte, error) {
	if err := r.need(ctx, id); err != nil {
		return nil, fmt.Errorf("chunk %s: %w", id, err)
	}
	loc, packKey, ok := r.Lookup(id)
	if !ok {
		return nil, fmt.Errorf("chunk %s is not in the index of %q: %w", id, r.prefix, ErrNotFound)
	}
	if loc.Length > maxStoredChunk {
		return nil, &CorruptError{Key: packKey, Detail: fmt.Sprintf("chunk %s: stored length %d exceeds the maximum %d", id, loc.Length, maxStoredChunk)}
	}
	rawp := rawPool.Get().(*[]byte)
	defer rawPool.Put(rawp)
	if cap(*rawp) < int(loc.Length) {
		*rawp = make([]byte, loc.Length)
	}
	raw := (*rawp)[:loc.Length]
	if int64(loc.Length) <= windowMaxChunk && r.fromWindow(ctx, packKey, int64(loc.Offset), int64(loc.Length), raw) {
		return r.decode(packKey, id, loc, raw, dst, false)
	}
	rc, err := r.store.GetRange(ctx, packKey, int64(loc.Offset), int64(loc.Length))
	if err != nil {
		return nil, fmt.Errorf("chunk %s: %w", id, err)
	}
	_, err = io.ReadFull(rc, raw)
	rc.Close()
	if err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return nil, &CorruptError{Key: packKey, Detail: fmt.Sprintf("chunk %s: pack is truncated", id)}
		}
		return nil, fmt.Errorf("chunk %s: read %q: %w", id, packKey, err)
	}
	return r.decode(packKey, id, loc, raw, dst, false)
}

// decodeBlob decodes a stored chunk and checks everything: the GCM tag of
// an encrypted chunk and, in every case, that its content hashes to id.
func (r *Repo) decodeBlob(packKey string, id ID, loc Location, raw, dst []byte) ([]byte, error) {
	return r.decode(packKey, id, loc, raw, dst, true)
}

// decode decodes a stored chunk; with verifyAll false an encrypted chunk is
// trusted on its GCM tag alone.
func (r *Repo) decode(packKey string, id ID, loc Location, raw, dst []byte, verifyAll bool) ([]byte, error) {
	data := raw
	var err error
	compressed := loc.Flags&FlagCompressed != 0
	if loc.Flags&FlagEncrypted != 0 {
		if !r.cfg.Encrypted {
			return nil, &CorruptError{Key: packKey, Detail: fmt.Sprintf("chunk %s is marked encrypted in a plain repository", id)}
		}
		if compressed {
			data, err = r.k.open(raw, id[:]) // in place; decompressed into dst below
		} else {
			// Straight into dst: no copy of the plaintext afterwards.
			data, err = r.k.openTo(dst[:0], raw, id[:])
		}
		if err != nil {
			return nil, &CorruptError{Key: packKey, Detail: fmt.Sprintf("chunk %s: decryption failed (tampered or wrong key)", id)}
		}
	} else if !compressed {
		data = append(dst[:0], raw...)
	}
	if compressed {
		if loc.RawLength > MaxChunk {
			return nil, &CorruptError{Key: packKey, Detail: fmt.Sprintf("chunk %s: plain length %d exceeds the maximum", id, loc.RawLength)}
		}
		if data, err = r.codec().decompress(dst[:0], data); err != nil {
			return nil, &CorruptError{Key: packKey, Detail: fmt.Sprintf("chunk %s: decompression failed: %v", id, err)}
		}
	}
	// An encrypted chunk was authenticated by AES-GCM with its ID as
	// additional data: only the holder of the scope key could have sealed
	// these bytes for this ID, so hashing them again proves nothing more
	// (and costs as much as the decryption and decompression together).
	// A plain chunk has no tag: its content must hash to its ID.
	authenticated := loc.Flags&FlagEncrypted != 0 && !verifyAll
	if uint32(len(data)) != loc.RawLength || (!authenticated && r.k.id(data) != id) {
		return nil, &CorruptError{Key: packKey, Detail: fmt.Sprintf("chunk %s: content does not match its ID", id)}
	}
	return data, nil
}

// ReadPackChunks reads the whole pack at key and verifies every chunk its
// header lists, calling fn for each (check --read-data).
func (r *Repo) ReadPackChunks(ctx context.Context, key string, fn func(PackEntry, error)) error {
	entries, err := r.ReadPackHeader(ctx, key)
	if err != nil {
		return err
	}
	body, err := readObject(ctx, r.store, key, maxPackSize)
	if err != nil {
		return err
	}
	var dst []byte
	for _, e := range entries {
		if uint64(e.Offset)+uint64(e.Length) > uint64(len(body)) {
			fn(e, &CorruptError{Key: key, Detail: fmt.Sprintf("chunk %s lies outside the pack", e.ID)})
			continue
		}
		raw := append([]byte(nil), body[e.Offset:e.Offset+e.Length]...)
		loc := Location{Offset: e.Offset, Length: e.Length, RawLength: e.RawLength, Flags: e.Flags}
		dst, err = r.decodeBlob(key, e.ID, loc, raw, dst)
		fn(e, err)
	}
	return nil
}

package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/internal/record"
	"github.com/iluxsys/steward/storage"
)

// fzConfigID is the ID of the fixed configs the key-object fuzz target
// opens; the seed key objects name it.
const fzConfigID = "00112233445566778899aabbccddeeff"

// fzDataKey is the fixed data key of the blob fuzz target and the seeds.
var fzDataKey = bytes.Repeat([]byte{0x5a}, dataKeyLen)

// fzConfig returns a valid config of the given kind with fzConfigID.
func fzConfig(encrypted bool) Config {
	c := Config{Version: FormatVersion, ID: fzConfigID, Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Encrypted: encrypted, Compression: "zstd"}
	c.Chunker.Algorithm, c.Chunker.Min, c.Chunker.Avg, c.Chunker.Max = "fastcdc-gear-v1", MinChunk, AvgChunk, MaxChunk
	if encrypted {
		c.Cipher = "AES-256-GCM"
	}
	return c
}

func FuzzDecodeConfig(f *testing.F) {
	f.Add(encodeConfig(fzConfig(false)))
	f.Add(encodeConfig(fzConfig(true)))
	f.Add([]byte(`{"version":1,"id":"x","checksum":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeConfig("t/config", b)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		require.NoError(t, record.Verify(record.Key{}, configName, &c, &c.Checksum), "accepted a config whose checksum does not match")
		again := encodeConfig(c)
		c2, err := decodeConfig("t/config", again)
		require.NoError(t, err, "a decoded config re-encodes to something that does not decode")
		require.True(t, c.Created.Equal(c2.Created))
		c2.Created = c.Created // the location may differ (Local vs UTC); the instant is the same
		require.Equal(t, c, c2)
		require.Equal(t, again, encodeConfig(c2), "re-encoding is not stable")
	})
}

// FuzzOpenKeyObject opens a repository whose config is valid and whose key
// object holds the fuzzed bytes: decoding the key object must fail with
// ErrCorrupt or ErrWrongKey, never panic, and a key that opens must yield
// the data key it holds (and, when encrypted, survive Rekey).
func FuzzOpenKeyObject(f *testing.F) {
	dk := append([]byte(nil), fzDataKey...)
	wrapped, _ := testKeys{3}.Wrap(context.Background(), "t", dk)
	enc, _ := json.Marshal(keyObject{ConfigID: fzConfigID, KeyID: "test", Wrapped: wrapped})
	plain, _ := json.Marshal(keyObject{ConfigID: fzConfigID, Plain: dk})
	f.Add(enc, true)
	f.Add(plain, false)
	f.Add(plain, true)
	f.Add([]byte(`{"config_id":"00112233445566778899aabbccddeeff","plain":"AAAA"}`), false)
	f.Add([]byte(`{}`), false)
	f.Fuzz(func(t *testing.T, b []byte, encrypted bool) {
		ctx := context.Background()
		store := storage.NewMemory()
		require.NoError(t, storage.PutBytes(ctx, store, "t/config", encodeConfig(fzConfig(encrypted)), nil))
		require.NoError(t, storage.PutBytes(ctx, store, "t/key", b, nil))
		r, err := Open(ctx, store, "t/", Options{Keys: testKeys{3}, Scope: "t"})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrWrongKey) {
				t.Fatalf("error %v matches neither ErrCorrupt nor ErrWrongKey", err)
			}
			return
		}
		var ko keyObject
		require.NoError(t, json.Unmarshal(b, &ko), "Open accepted a key object that does not decode")
		require.Equal(t, fzConfigID, ko.ConfigID)
		require.Equal(t, ko.KeyID, r.KeyID())
		dataKey := ko.Plain
		if encrypted {
			dataKey, err = testKeys{3}.Unwrap(ctx, "t", ko.Wrapped)
			require.NoError(t, err)
		}
		k, err := deriveKeys(dataKey, encrypted)
		require.NoError(t, err)
		sample := []byte("fuzz sample chunk")
		require.Equal(t, k.id(sample), r.ChunkID(sample), "the repository does not use the data key its key object holds")
		if !encrypted {
			return
		}
		require.NoError(t, Rekey(ctx, store, "t/", "t", testKeys{3}, testKeys{5}))
		r2, err := Open(ctx, store, "t/", Options{Keys: testKeys{5}, Scope: "t"})
		require.NoError(t, err)
		require.Equal(t, r.ChunkID(sample), r2.ChunkID(sample), "Rekey changed the data key")
	})
}

func FuzzParseID(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	f.Add("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef")
	f.Add("")
	f.Add("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		require.Len(t, s, 64)
		require.Equal(t, strings.ToLower(s), id.String())
		again, err := ParseID(id.String())
		require.NoError(t, err)
		require.Equal(t, id, again)
	})
}

// fzBlobPack is the pack object the blob fuzz target reads chunks from.
const fzBlobPack = "00112233445566778899aabbccddeeff"

// fzBlobRepo returns a repository with the fixed data key over an empty
// memory store: enough for decodeBlob and for LoadChunk once the pack
// object and an index entry are in place.
func fzBlobRepo(t testing.TB, encrypted bool) *Repo {
	k, err := deriveKeys(fzDataKey, encrypted)
	require.NoError(t, err)
	r := &Repo{store: storage.NewMemory(), prefix: "t/", cfg: Config{Encrypted: encrypted}, k: k,
		index: map[ID]Location{}, packIdx: map[string]int{}, loadedIdx: map[string]struct{}{}}
	r.addPackLocked(IndexPack{Name: fzBlobPack})
	return r
}

// fzSealBlob stores plain the way Saver.Save does: optionally compressed,
// sealed in encrypted repositories. It returns the stored bytes and flags.
func fzSealBlob(r *Repo, plain []byte, compress bool) ([]byte, uint8) {
	stored, flags := append([]byte(nil), plain...), uint8(0)
	if compress {
		stored, flags = r.codec().compress(nil, plain, false), FlagCompressed
	}
	if r.cfg.Encrypted {
		id := r.k.id(plain)
		stored, flags = r.k.seal(nil, stored, id[:]), flags|FlagEncrypted
	}
	return stored, flags
}

// fzBlobPlain is the plaintext whose ID the blob fuzz target asks for.
var fzBlobPlain = []byte(strings.Repeat("steward fuzz chunk ", 8))

// FuzzDecodeBlob feeds stored blob bytes to the open path (decrypt,
// decompress, verify) under a fixed key, both directly (decodeBlob) and as
// the pack's content through LoadChunk: any input must return an error
// matching ErrCorrupt or the chunk fzBlobPlain, never panic. The same bytes,
// taken as a chunk's plaintext, must round-trip through seal and open.
func FuzzDecodeBlob(f *testing.F) {
	for _, enc := range []bool{false, true} {
		r := fzBlobRepo(f, enc)
		for _, compress := range []bool{false, true} {
			stored, flags := fzSealBlob(r, fzBlobPlain, compress)
			f.Add(stored, flags, enc)
		}
	}
	f.Add([]byte{}, uint8(FlagCompressed|FlagEncrypted), true)
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0x00, 0x00}, uint8(FlagCompressed), false)
	repos := map[bool]*Repo{false: fzBlobRepo(f, false), true: fzBlobRepo(f, true)}
	wantID := repos[false].k.id(fzBlobPlain) // the ID key does not depend on encryption
	f.Fuzz(func(t *testing.T, stored []byte, flags uint8, encrypted bool) {
		r := repos[encrypted]
		loc := Location{Length: uint32(len(stored)), RawLength: uint32(len(fzBlobPlain)), Flags: flags}
		got, err := r.decodeBlob("t/packs/00/00", wantID, loc, append([]byte(nil), stored...), nil)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
		} else {
			require.Equal(t, fzBlobPlain, got)
		}
		ctx := context.Background()
		require.NoError(t, storage.PutBytes(ctx, r.store, r.PackKey(fzBlobPack), stored, nil))
		r.mu.Lock()
		r.index[wantID] = loc
		r.mu.Unlock()
		// Packs are never rewritten in place, so pack windows may serve the
		// previous input's bytes: a new serial makes this a new repository.
		r.serial = repoSerial.Add(1)
		got, err = r.LoadChunk(ctx, wantID, []byte("scratch"))
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
		} else {
			require.Equal(t, fzBlobPlain, got)
		}

		// The input as plaintext round-trips, compressed or not.
		for _, compress := range []bool{false, true} {
			sealed, fl := fzSealBlob(r, stored, compress)
			id := r.k.id(stored)
			loc := Location{Length: uint32(len(sealed)), RawLength: uint32(len(stored)), Flags: fl}
			back, err := r.decodeBlob("t/packs/00/00", id, loc, sealed, []byte("scratch"))
			require.NoError(t, err)
			require.True(t, bytes.Equal(stored, back), "round trip changed the chunk")
		}
	})
}

// FuzzLockBody puts the fuzzed bytes where another process's lock object
// would be and takes a lock: an undecodable or stale object is ignored, a
// live one refuses what it conflicts with, and nothing panics.
func FuzzLockBody(f *testing.F) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, body := range []lockBody{
		{Owner: "backup acme", Exclusive: false, Created: now.Add(-time.Minute), Refreshed: now.Add(-time.Minute)},
		{Owner: "prune acme", Exclusive: true, Created: now.Add(-time.Hour), Refreshed: now.Add(-StaleAfter / 2)},
		{Owner: "dead prune", Exclusive: true, Created: now.Add(-time.Hour), Refreshed: now.Add(-time.Hour)},
	} {
		b, _ := json.Marshal(body)
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add([]byte(`not json`), true)
	ctx := context.Background()
	r, err := Open(ctx, storage.NewMemory(), "t/", Options{Create: true, Now: now})
	require.NoError(f, err)
	clock := func() time.Time { return now }
	f.Fuzz(func(t *testing.T, b []byte, exclusive bool) {
		require.NoError(t, storage.PutBytes(ctx, r.store, "t/locks/other", b, nil))
		var other lockBody
		conflict := json.Unmarshal(b, &other) == nil && now.Sub(other.Refreshed) <= StaleAfter && (exclusive || other.Exclusive)
		l, err := r.Lock(ctx, exclusive, "fuzz", clock)
		if conflict {
			require.ErrorIs(t, err, ErrLocked)
			require.Nil(t, l)
		} else {
			require.NoError(t, err)
			require.NoError(t, l.Unlock(ctx))
		}
		n := 0
		for _, err := range r.store.List(ctx, "t/locks/") {
			require.NoError(t, err)
			n++
		}
		require.Equal(t, 1, n, "a lock object was left behind")
	})
}

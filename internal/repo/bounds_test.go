package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// encryptedRepo returns an encrypted repository holding chunks, flushed.
func encryptedRepo(t *testing.T, store storage.Store, chunks ...[]byte) (*Repo, Options, []ID) {
	t.Helper()
	ctx := context.Background()
	opts := Options{Create: true, Encrypt: true, Keys: testKeys{7}, Scope: "t", Now: time.Now()}
	r, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	s := r.NewSaver(ctx, 1)
	var ids []ID
	for _, c := range chunks {
		id := r.ChunkID(c)
		_, err := s.Save(id, c, true)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	require.NoError(t, s.Flush())
	opts.Create = false
	return r, opts, ids
}

func keysUnder(t *testing.T, store storage.Store, prefix string) []string {
	t.Helper()
	var out []string
	for oi, err := range store.List(context.Background(), prefix) {
		require.NoError(t, err)
		out = append(out, oi.Key)
	}
	return out
}

// TestOversizedObjectsAreRefused plants objects far larger than their
// kind allows: each is refused as corrupt, naming the object, without
// being read whole.
func TestOversizedObjectsAreRefused(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	_, opts, _ := encryptedRepo(t, store, []byte("chunk"))
	huge := bytes.Repeat([]byte{'x'}, maxIndexObject+1)
	for _, c := range []struct{ key, kind string }{
		{"tenants/t/config", "config"},
		{"tenants/t/index/" + strings.Repeat("a", 32), "index"},
	} {
		t.Run(c.kind, func(t *testing.T) {
			saved, err := storage.ReadAll(ctx, store, c.key)
			if err != nil {
				saved = nil
			}
			require.NoError(t, storage.PutBytes(ctx, store, c.key, huge, nil))
			_, err = Open(ctx, store, "tenants/t/", opts)
			require.ErrorIs(t, err, ErrCorrupt)
			require.ErrorIs(t, err, storage.ErrTooLarge)
			require.Contains(t, err.Error(), c.key)
			if saved != nil {
				require.NoError(t, storage.PutBytes(ctx, store, c.key, saved, nil))
			} else {
				require.NoError(t, store.Delete(ctx, c.key))
			}
		})
	}
	r, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	require.NoError(t, r.SaveSnapshot(ctx, "big", huge[:maxManifest+1]))
	_, err = r.LoadSnapshot(ctx, "big")
	require.ErrorIs(t, err, storage.ErrTooLarge)
}

// TestCraftedLengthsAreRefusedBeforeAllocating: a pack trailer claiming a
// 4 GiB header and an index entry claiming a 4 GiB chunk are refused
// before any buffer of that size exists.
func TestCraftedLengthsAreRefusedBeforeAllocating(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	r, _, ids := encryptedRepo(t, store, []byte("chunk"))
	loc, packKey, ok := r.Lookup(ids[0])
	require.True(t, ok)

	pack, err := storage.ReadAll(ctx, store, packKey)
	require.NoError(t, err)
	binary.LittleEndian.PutUint32(pack[len(pack)-4-len(packMagic):], 0xFFFFFFF0)
	big := append(make([]byte, maxPackHeader+64), pack...) // long enough that only the cap refuses it
	require.NoError(t, storage.PutBytes(ctx, store, packKey, big, nil))
	_, err = r.ReadPackHeader(ctx, packKey)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "header length out of range")

	loc.Length = 0xFFFFFFF0
	r.mu.Lock()
	r.index[ids[0]] = loc
	r.mu.Unlock()
	_, err = r.LoadChunk(ctx, ids[0], nil)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "exceeds the maximum")
}

// TestMovedMetadataFailsToOpen copies a genuine index object and a
// genuine pack's header to other names: sealed with their names, they no
// longer open there.
func TestMovedMetadataFailsToOpen(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	r, opts, ids := encryptedRepo(t, store, []byte("chunk one"))
	idx := keysUnder(t, store, "tenants/t/index/")
	require.Len(t, idx, 1)
	b, err := storage.ReadAll(ctx, store, idx[0])
	require.NoError(t, err)
	moved := "tenants/t/index/" + strings.Repeat("b", 32)
	require.NoError(t, storage.PutBytes(ctx, store, moved, b, nil))
	_, err = Open(ctx, store, "tenants/t/", opts)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), moved)
	require.NoError(t, store.Delete(ctx, moved))

	_, packKey, _ := r.Lookup(ids[0])
	pack, err := storage.ReadAll(ctx, store, packKey)
	require.NoError(t, err)
	name := strings.Repeat("c", len(packKey[strings.LastIndexByte(packKey, '/')+1:]))
	other := r.PackKey(name)
	require.NoError(t, storage.PutBytes(ctx, store, other, pack, nil))
	_, err = r.ReadPackHeader(ctx, other)
	require.ErrorIs(t, err, ErrCorrupt, "a pack copied to another name")
	_, err = r.ReadPackHeader(ctx, packKey)
	require.NoError(t, err)
}

// TestLegacyMetadataStillOpens: index objects and pack headers sealed
// with their role alone, as repositories were written before names were
// bound, still open.
func TestLegacyMetadataStillOpens(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	r, opts, ids := encryptedRepo(t, store, []byte("legacy chunk"))
	_, packKey, _ := r.Lookup(ids[0])
	entries, err := r.ReadPackHeader(ctx, packKey)
	require.NoError(t, err)

	// Rewrite the pack's trailer and the index as the old format sealed them.
	pack, err := storage.ReadAll(ctx, store, packKey)
	require.NoError(t, err)
	hl := int(binary.LittleEndian.Uint32(pack[len(pack)-4-len(packMagic):]))
	body := pack[:len(pack)-4-len(packMagic)-hl]
	hdr := r.sealMeta(encodeHeader(entries), "pack-header")
	legacy := append(append([]byte(nil), body...), hdr...)
	legacy = binary.LittleEndian.AppendUint32(legacy, uint32(len(hdr)))
	legacy = append(legacy, packMagic...)
	require.NoError(t, storage.PutBytes(ctx, store, packKey, legacy, nil))
	idx := keysUnder(t, store, "tenants/t/index/")
	name := packKey[strings.LastIndexByte(packKey, '/')+1:]
	require.NoError(t, storage.PutBytes(ctx, store, idx[0], r.sealMeta(EncodeIndex([]IndexPack{{Name: name, Entries: entries}}), "index"), nil))

	r2, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	got, err := r2.LoadChunk(ctx, ids[0], nil)
	require.NoError(t, err)
	require.Equal(t, []byte("legacy chunk"), got)
	again, err := r2.ReadPackHeader(ctx, packKey)
	require.NoError(t, err)
	require.Equal(t, entries, again)
}

func TestIndexIsSplitBelowItsLimit(t *testing.T) {
	var packs []IndexPack
	for i := 0; i < 40; i++ {
		packs = append(packs, IndexPack{Name: strings.Repeat("a", 64), Entries: make([]PackEntry, 20_000)})
	}
	groups := splitIndex(packs)
	require.Greater(t, len(groups), 1)
	var n int
	for _, g := range groups {
		require.LessOrEqual(t, len(EncodeIndex(g)), maxIndexObject)
		n += len(g)
	}
	require.Equal(t, len(packs), n, "every pack is in one group")
	require.Len(t, splitIndex(nil), 0)
}

// TestConfigMACCatchesEdits plays a store writer who edits an encrypted
// repository's config and recomputes its unkeyed checksum: the MAC, keyed
// by the data key, refuses it. Flipping encrypted to false is refused too.
func TestConfigMACCatchesEdits(t *testing.T) {
	ctx := context.Background()
	for _, edit := range []func(*Config){
		func(c *Config) { c.Chunker.Avg *= 2 },
		func(c *Config) { c.Compression = "none" },
		func(c *Config) { c.Encrypted, c.Cipher = false, "" },
	} {
		store := storage.NewMemory()
		_, opts, _ := encryptedRepo(t, store, []byte("chunk"))
		b, err := storage.ReadAll(ctx, store, "tenants/t/config")
		require.NoError(t, err)
		c, err := decodeConfig("config", b)
		require.NoError(t, err)
		require.NotEmpty(t, c.MAC, "a new config carries its MAC")
		edit(&c)
		require.NoError(t, storage.PutBytes(ctx, store, "tenants/t/config", encodeConfig(c), nil))
		_, err = Open(ctx, store, "tenants/t/", opts)
		require.ErrorIs(t, err, ErrCorrupt)
	}
}

// TestConfigWithoutMACStillOpens: configs written before the MAC existed
// open as before.
func TestConfigWithoutMACStillOpens(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	_, opts, ids := encryptedRepo(t, store, []byte("old chunk"))
	b, err := storage.ReadAll(ctx, store, "tenants/t/config")
	require.NoError(t, err)
	c, err := decodeConfig("config", b)
	require.NoError(t, err)
	c.MAC = ""
	require.NoError(t, storage.PutBytes(ctx, store, "tenants/t/config", encodeConfig(c), nil))
	r, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	got, err := r.LoadChunk(ctx, ids[0], nil)
	require.NoError(t, err)
	require.Equal(t, []byte("old chunk"), got)
}

// TestReplantedManifestUnderAnotherIDFails: a manifest is sealed bound to
// its snapshot ID, so an old manifest planted under another snapshot's
// name (to make an old state look like a new snapshot) fails to open.
// Planting it back under its own name after a Forget is not detectable
// from the store alone (SECURITY.md).
func TestReplantedManifestUnderAnotherIDFails(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	r, _, _ := encryptedRepo(t, store, []byte("chunk"))
	require.NoError(t, r.SaveSnapshot(ctx, "old", []byte(`{"id":"old"}`)))
	b, err := storage.ReadAll(ctx, store, r.SnapshotKey("old"))
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(ctx, store, r.SnapshotKey("new"), b, nil))
	_, err = r.LoadSnapshot(ctx, "new")
	require.ErrorIs(t, err, ErrCorrupt)
	got, err := r.LoadSnapshot(ctx, "old")
	require.NoError(t, err)
	require.Equal(t, `{"id":"old"}`, string(got))
}

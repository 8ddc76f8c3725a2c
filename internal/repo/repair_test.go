package repo

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// RepairIndex rebuilds the index from the packs: a damaged index object
// fails to load with the repair hint; after the repair every chunk loads,
// the old index objects are gone and a damaged pack is reported, kept.
func TestRepairIndex(t *testing.T) {
	for _, enc := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "encrypted"}[enc], func(t *testing.T) { testRepairIndex(t, enc) })
	}
}

func testRepairIndex(t *testing.T, enc bool) {
	ctx := context.Background()
	store := storage.NewMemory()
	opts := Options{Create: true, Encrypt: enc, Keys: testKeys{7}, Scope: "t", Now: time.Now()}
	r, err := Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	opts.Create = false
	var ids []ID
	for i := range 3 {
		s := r.NewSaver(ctx, 1)
		data := []byte{byte(i), 1, 2, 3}
		id := r.ChunkID(data)
		_, err := s.Save(id, data, false)
		require.NoError(t, err)
		require.NoError(t, s.Flush())
		ids = append(ids, id)
	}
	old := r.IndexKeys()
	require.Len(t, old, 3)
	require.NoError(t, storage.PutBytes(ctx, store, old[0], []byte("STWI1\xff"), nil))
	require.NoError(t, store.Delete(ctx, old[1]))
	bad := r.PackKey("ee0123456789abcdef0123456789abcd")
	require.NoError(t, storage.PutBytes(ctx, store, bad, []byte("not a pack"), nil))

	_, err = Open(ctx, store, "tenants/t/", opts)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), IndexRepairHint)

	r, err = OpenNoIndex(ctx, store, "tenants/t/", opts)
	require.NoError(t, err)
	rep, err := r.RepairIndex(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, rep.PacksRead)
	require.Equal(t, 3, rep.ChunksIndexed)
	require.Equal(t, 2, rep.IndexesRemoved, "the truncated and the intact index object")
	require.Equal(t, 1, rep.IndexesWritten)
	require.Len(t, rep.Unreadable, 1)
	require.Equal(t, bad, rep.Unreadable[0].Key)
	_, err = store.Stat(ctx, bad)
	require.NoError(t, err, "repair deleted the damaged pack")
	for _, id := range ids {
		_, err := r.LoadChunk(ctx, id, nil)
		require.NoError(t, err)
	}
	r, err = Open(ctx, store, "tenants/t/", opts)
	require.NoError(t, err, "the repaired index loads")
	require.Equal(t, 3, r.IndexLen())
}

package backup_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// busyGeneration is 300 small files of which generation g rewrote 100,
// so every backup adds about 100 chunks to the index.
func busyGeneration(g int) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := range 300 {
		seed, mtime := uint64(i), time.Unix(0, 0)
		if i%3 == g%3 {
			seed, mtime = uint64(1_000_000+g*1000+i), time.Unix(int64(g)+1, 0)
		}
		fsys[fmt.Sprintf("d%02d/f%03d", i/20, i)] = &fstest.MapFile{Data: randBytes(seed, 300), Mode: 0o644, ModTime: mtime}
	}
	return fsys
}

func shardObjects(t *testing.T, store storage.Store) int {
	t.Helper()
	n := 0
	for _, key := range keysUnder(t, store, "tenants/acme/index/") {
		if strings.HasPrefix(key, "tenants/acme/index/b") { // a bundle of shards

			n++
		}
	}
	return n
}

// TestShardedIndexLifecycle: backups by fresh engines (new processes),
// two at once near the end, grow the index until compactions rewrite it
// as shards read in part; every snapshot then reads back exactly by a
// fresh engine, a check reading all data passes, and after forgetting
// half and a prune (which writes shards too) the rest still read back
// and check clean.
func TestShardedIndexLifecycle(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	fresh := func() *backup.Engine {
		e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
		require.NoError(t, err)
		return e
	}
	want := map[string]fstest.MapFS{}
	var ids []string
	var mu sync.Mutex
	backupGen := func(g int) {
		fsys := busyGeneration(g)
		s, err := fresh().Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Incremental, Encrypt: true})
		require.NoError(t, err)
		mu.Lock()
		want[s.ID], ids = fsys, append(ids, s.ID)
		mu.Unlock()
	}
	for g := range 36 {
		backupGen(g)
	}
	var wg sync.WaitGroup
	for g := 36; g < 40; g++ {
		wg.Go(func() { backupGen(g) })
	}
	wg.Wait()
	require.Positive(t, shardObjects(t, store), "compactions rewrote the index as shards")

	requireRestores(t, fresh(), want)
	chk, err := fresh().Check(ctx, "acme", &backup.CheckOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, chk.OK(), "%v", chk.Problems)

	var forget []string
	for i, id := range ids {
		if i%2 == 0 {
			forget = append(forget, id)
			delete(want, id)
		}
	}
	require.NoError(t, fresh().Forget(ctx, "acme", forget...))
	_, err = fresh().Prune(ctx, "acme", nil)
	require.NoError(t, err)
	require.Positive(t, shardObjects(t, store), "a prune writes shards")
	requireRestores(t, fresh(), want)
	chk, err = fresh().Check(ctx, "acme", &backup.CheckOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, chk.OK(), "%v", chk.Problems)
}

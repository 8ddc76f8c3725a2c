package backup_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/storage"
)

const packsPrefix = "tenants/acme/packs/"

// packsOnlyIn returns the packs of a missing from b, sorted, and their size.
func packsOnlyIn(a, b map[string]string) ([]string, int64) {
	var keys []string
	var size int64
	for k, v := range a {
		if _, ok := b[k]; !ok && strings.HasPrefix(k, packsPrefix) {
			keys = append(keys, k)
			size += int64(len(v))
		}
	}
	slices.Sort(keys)
	return keys, size
}

// leftoverFixture backs up a large and a small file, then the large one
// alone, and forgets the first snapshot: the small file's chunk is left
// unreferenced in a pack the large file's chunk keeps mostly live. It
// returns the engine, the store and the remaining snapshot's ID.
func leftoverFixture(t *testing.T) (*backup.Engine, storage.Store, string, map[string][]byte) {
	t.Helper()
	ctx := master()
	store := storage.NewMemory()
	e, err := backup.New(store, nil)
	require.NoError(t, err)
	big := randBytes(1, 2_000_000)
	first, err := e.Backup(ctx, "acme", backup.FSSource(fstest.MapFS{"big": {Data: big}, "small": {Data: randBytes(2, 100_000)}}), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	second, err := e.Backup(ctx, "acme", backup.FSSource(fstest.MapFS{"big": {Data: big}}), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	require.NoError(t, e.Forget(ctx, "acme", first.ID))
	return e, store, second.ID, map[string][]byte{"big": big}
}

// indexedChunks is the number of chunks the index lists.
func indexedChunks(t *testing.T, e *backup.Engine) int {
	t.Helper()
	chk, err := e.Check(master(), "acme", nil)
	require.NoError(t, err)
	require.True(t, chk.OK(), "%v", chk.Problems)
	return chk.Chunks
}

// TestPruneStatsMatchWhatWasRemoved: a prune's counts and bytes are those
// of the objects it removed and wrote, with or without repacking. The
// chunk left unreferenced in a mostly live pack is reported as kept, and
// a second prune drops nothing: before plan and execute were split, every
// prune reported it as dropped again, with 0 bytes freed.
func TestPruneStatsMatchWhatWasRemoved(t *testing.T) {
	for _, tc := range []struct {
		name      string
		threshold float64
		repacked  int
	}{
		{"default threshold", 0, 0},
		{"repack the mostly live pack", 0.01, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := master()
			e, store, id, want := leftoverFixture(t)
			chunksBefore := indexedChunks(t, e)
			before := objects(t, store)
			rep, err := e.Prune(ctx, "acme", &backup.PruneOptions{RepackThreshold: tc.threshold})
			require.NoError(t, err)
			after := objects(t, store)

			removed, removedBytes := packsOnlyIn(before, after)
			_, writtenBytes := packsOnlyIn(after, before)
			var reported []string
			for _, p := range rep.Packs {
				reported = append(reported, p.Key)
			}
			slices.Sort(reported)
			require.False(t, rep.DryRun)
			require.Equal(t, removed, reported, "packs reported against packs removed")
			require.Equal(t, len(removed), rep.PacksDeleted+rep.PacksRepacked, "packs removed")
			require.Equal(t, tc.repacked, rep.PacksRepacked)
			require.Equal(t, removedBytes, rep.PackBytesDeleted, "bytes of the packs removed")
			require.Equal(t, writtenBytes, rep.PackBytesWritten, "bytes of the packs written")
			require.Equal(t, removedBytes-writtenBytes, rep.BytesFreed, "bytes freed")
			require.Equal(t, chunksBefore-indexedChunks(t, e), rep.ChunksDeleted, "chunks that left the index")
			require.Equal(t, want, readBack(t, e, "acme", id))

			again, err := e.Prune(ctx, "acme", &backup.PruneOptions{RepackThreshold: tc.threshold})
			require.NoError(t, err)
			require.Zero(t, again.ChunksDeleted, "a second prune drops nothing: %+v", again)
			require.Zero(t, again.BytesFreed+again.PackBytesDeleted, "a second prune frees nothing: %+v", again)
			require.Equal(t, 1-tc.repacked, again.ChunksUnusedKept, "the small file's chunk stays unless repacked")
			require.Equal(t, after, objects(t, store), "a prune with nothing to do changes nothing")
		})
	}
}

// TestPruneDryRunChangesNothing: a dry run makes no Put and no Delete (no
// lock either), leaves every object as it was, says it is a dry run and
// reports what the real prune then does.
func TestPruneDryRunChangesNothing(t *testing.T) {
	ctx := master()
	_, base, _, _ := leftoverFixture(t)
	counter := faultstore.New(base, 1)
	e, err := backup.New(counter, nil)
	require.NoError(t, err)
	before := objects(t, base)
	dry, err := e.Prune(ctx, "acme", &backup.PruneOptions{DryRun: true})
	require.NoError(t, err)
	require.Equal(t, before, objects(t, base), "a dry run changed the store")
	require.Zero(t, counter.Calls(faultstore.OpPut), "a dry run wrote")
	require.Zero(t, counter.Calls(faultstore.OpDelete), "a dry run deleted")
	require.True(t, dry.DryRun)
	require.Positive(t, dry.PacksDeleted)

	rep, err := e.Prune(ctx, "acme", nil)
	require.NoError(t, err)
	dry.DryRun = false
	require.Equal(t, dry, rep, "the dry run reports what the prune does")
}

// TestPruneDryRunBesideBackup: while a backup holds its shared lock, a dry
// run plans and reports (a real prune is refused with ErrLocked).
func TestPruneDryRunBesideBackup(t *testing.T) {
	ctx := master()
	e, _, _, _ := leftoverFixture(t)
	src := &blockingSource{Source: backup.FSSource(generations(1)[0]), started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error)
	go func() {
		_, err := e.Backup(ctx, "acme", src, nil)
		done <- err
	}()
	<-src.started
	dry, err := e.Prune(ctx, "acme", &backup.PruneOptions{DryRun: true})
	require.NoError(t, err, "a dry run needs no exclusive lock")
	require.True(t, dry.DryRun)
	require.Positive(t, dry.PacksDeleted)
	_, err = e.Prune(ctx, "acme", nil)
	require.ErrorIs(t, err, backup.ErrLocked, "a real prune waits for the backup")
	close(src.release)
	require.NoError(t, <-done)
}

// TestCheckReportsUnreferencedPack: a pack no index lists (as a crashed
// backup leaves one) is counted with its size, not reported as damage;
// prune deletes it as an orphan.
func TestCheckReportsUnreferencedPack(t *testing.T) {
	ctx := master()
	e, store, _, _ := leftoverFixture(t)
	var some string
	for k, v := range objects(t, store) {
		if strings.HasPrefix(k, packsPrefix) {
			some = v
			break
		}
	}
	orphan := packsPrefix + "ff/ff0123456789abcdef0123456789abcd"
	require.NoError(t, storage.PutBytes(ctx, store, orphan, []byte(some), nil))

	chk, err := e.Check(ctx, "acme", nil)
	require.NoError(t, err)
	require.True(t, chk.OK(), "an unreferenced pack is no problem: %v", chk.Problems)
	require.Equal(t, 1, chk.UnreferencedPacks)
	require.Equal(t, int64(len(some)), chk.UnreferencedBytes)

	rep, err := e.Prune(ctx, "acme", nil)
	require.NoError(t, err)
	require.Equal(t, 1, rep.OrphanPacks)
	require.Contains(t, rep.Packs, backup.PrunedPack{Key: orphan, Action: "delete", Size: int64(len(some)), DeadBytes: int64(len(some))})
	chk, err = e.Check(ctx, "acme", nil)
	require.NoError(t, err)
	require.Zero(t, chk.UnreferencedPacks)
	require.Zero(t, chk.UnreferencedBytes)
}

// TestPruneProgress: a real prune reports after each repacked pack and
// each deleted one, never going back, and ends on its totals: every pack
// it removed and every live byte it copied. A dry run reports nothing.
func TestPruneProgress(t *testing.T) {
	ctx := master()
	e, store, _, _ := leftoverFixture(t)
	var seen []backup.Progress
	progress := func(p backup.Progress) { seen = append(seen, p) }
	_, err := e.Prune(ctx, "acme", &backup.PruneOptions{DryRun: true, RepackThreshold: 0.01, Progress: progress})
	require.NoError(t, err)
	require.Empty(t, seen, "a dry run reports no progress")

	before := objects(t, store)
	rep, err := e.Prune(ctx, "acme", &backup.PruneOptions{RepackThreshold: 0.01, Progress: progress})
	require.NoError(t, err)
	removed, _ := packsOnlyIn(before, objects(t, store))
	require.NotEmpty(t, seen)
	require.Equal(t, 1, rep.PacksRepacked, "the fixture repacks one pack")
	for i := 1; i < len(seen); i++ {
		require.GreaterOrEqual(t, seen[i].PacksRead, seen[i-1].PacksRead)
		require.GreaterOrEqual(t, seen[i].BytesDone, seen[i-1].BytesDone)
	}
	last := seen[len(seen)-1]
	require.Equal(t, int64(len(removed)), last.PacksTotal, "packs to remove")
	require.Equal(t, last.PacksTotal, last.PacksRead, "every pack removed was reported")
	require.Positive(t, last.BytesTotal, "the repacked pack held live bytes")
	require.Equal(t, last.BytesTotal, last.BytesDone, "every live byte copied was reported")
}

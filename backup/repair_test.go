package backup_test

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/storage"
)

const repairHint = "rebuild it with Engine.RepairIndex (backupctl repair index)"

// keysUnder lists the object keys under prefix.
func keysUnder(t *testing.T, s storage.Store, prefix string) []string {
	t.Helper()
	var keys []string
	for oi, err := range s.List(context.Background(), prefix) {
		require.NoError(t, err)
		keys = append(keys, oi.Key)
	}
	return keys
}

// requireRestores reads back every file of every snapshot in want (ID ->
// source tree) and compares it byte for byte with the source.
func requireRestores(t *testing.T, e *backup.Engine, want map[string]fstest.MapFS) {
	t.Helper()
	ctx := master()
	for id, fsys := range want {
		n := 0
		for f, err := range e.Files(ctx, "acme", id) {
			require.NoError(t, err, "snapshot %s", id)
			if !f.Mode.IsRegular() {
				continue
			}
			rc, err := e.OpenFile(ctx, "acme", f, nil)
			require.NoError(t, err, "snapshot %s: %s", id, f.Path)
			got, err := io.ReadAll(rc)
			require.NoError(t, rc.Close())
			require.NoError(t, err, "snapshot %s: %s", id, f.Path)
			require.Equal(t, fsys[f.Path].Data, got, "snapshot %s: %s restored different bytes", id, f.Path)
			n++
		}
		require.Equal(t, len(fsys), n, "snapshot %s: files restored", id)
	}
}

// Issue 17, finding 7: one index object truncated and another deleted
// break reading with an error that suggests the repair; RepairIndex then
// makes every snapshot restore byte-identical and Check with read-data
// pass, and reports a pack with a damaged header, left in place.
func TestRepairIndexAfterTruncatedAndDeletedIndex(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
	require.NoError(t, err)
	want := map[string]fstest.MapFS{}
	for _, g := range generations(4) {
		s, err := e.Backup(ctx, "acme", backup.FSSource(g), &backup.Options{Type: backup.Full, Encrypt: true})
		require.NoError(t, err)
		want[s.ID] = g
	}
	index := keysUnder(t, store, "tenants/acme/index/")
	require.GreaterOrEqual(t, len(index), 3)
	b, err := storage.ReadAll(ctx, store, index[0])
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(ctx, store, index[0], b[:len(b)/2], nil))
	require.NoError(t, store.Delete(ctx, index[1]))
	packs := keysUnder(t, store, "tenants/acme/packs/")
	b, err = storage.ReadAll(ctx, store, packs[0])
	require.NoError(t, err)
	b[len(b)-20] ^= 0xff // inside the sealed header
	damaged := "tenants/acme/packs/ee/ee0123456789abcdef0123456789abcd"
	require.NoError(t, storage.PutBytes(ctx, store, damaged, b, nil))

	e, err = backup.New(store, &backup.Config{Keys: cheapKeys("p")}) // a fresh process
	require.NoError(t, err)
	cat, err := e.Catalog(ctx, "acme")
	require.NoError(t, err, "listing snapshots needs no index")
	require.Len(t, cat, len(want))
	for id := range want {
		for _, err := range e.Files(ctx, "acme", id) {
			require.ErrorContains(t, err, repairHint)
			break
		}
	}

	rep, err := e.RepairIndex(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, len(packs), rep.PacksRead, "every intact pack is read")
	require.Equal(t, []backup.UnreadablePack{{Key: damaged, Error: rep.PacksUnreadable[0].Error}}, rep.PacksUnreadable)
	require.Contains(t, rep.PacksUnreadable[0].Error, damaged)
	require.Equal(t, len(index)-1, rep.IndexesRemoved, "the truncated and the intact old index objects")
	require.Positive(t, rep.ChunksIndexed)
	require.NotContains(t, keysUnder(t, store, "tenants/acme/index/"), index[0])
	_, err = store.Stat(ctx, damaged)
	require.NoError(t, err, "the damaged pack was deleted")

	requireRestores(t, e, want)
	check, err := e.Check(ctx, "acme", &backup.CheckOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, check.OK(), "problems after repair: %v", check.Problems)
	require.Equal(t, 1, check.UnreferencedPacks, "the damaged pack, counted")
}

// RepairIndex is authorized as a deletion (masters only by default) and
// audited, and refuses while another process holds a live lock.
func TestRepairIndexAuthorizedAuditedLocked(t *testing.T) {
	store := storage.NewMemory()
	var events []audit.Event
	rec := audit.AuditorFunc(func(_ context.Context, ev audit.Event) error { events = append(events, ev); return nil })
	e, err := backup.New(store, &backup.Config{Auditor: rec})
	require.NoError(t, err)
	_, err = e.Backup(master(), "acme", backup.FSSource(generations(1)[0]), nil)
	require.NoError(t, err)

	viewer := steward.WithPrincipal(context.Background(), steward.Principal{ID: "eve", Roles: []string{"viewer"}})
	_, err = e.RepairIndex(viewer, "acme")
	require.ErrorIs(t, err, steward.ErrForbidden)
	_, err = e.Unlock(viewer, "acme", true)
	require.ErrorIs(t, err, steward.ErrForbidden)

	rep, err := e.RepairIndex(master(), "acme")
	require.NoError(t, err)
	require.Empty(t, rep.PacksUnreadable)
	last := events[len(events)-1]
	require.Equal(t, audit.TypeIndexRepaired, last.Type)
	require.False(t, last.Failed(), "event %+v", last)

	putLock(t, store, "backup by alice", time.Now())
	_, err = e.RepairIndex(master(), "acme")
	require.ErrorIs(t, err, backup.ErrLocked)
	require.True(t, events[len(events)-1].Failed(), "a refused repair is audited as failed")
	_, err = e.RepairIndex(master(), "ghost")
	require.ErrorIs(t, err, backup.ErrNotFound)
}

// putLock writes a lock of tenant acme as a process that last refreshed
// it at refreshed (and was then killed) leaves it.
func putLock(t *testing.T, s storage.Store, owner string, refreshed time.Time) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"owner": owner, "host": "db-1", "pid": 4242, "exclusive": false, "created": refreshed, "refreshed": refreshed})
	require.NoError(t, err)
	key := "tenants/acme/locks/" + owner[:6] + refreshed.Format("150405")
	require.NoError(t, storage.PutBytes(context.Background(), s, key, b, nil))
	return key
}

// Issue 17, finding 8: a killed backup's lock makes prune fail naming the
// holder and when the lock goes stale; Unlock removes a stale lock, and a
// fresh one only when forced.
func TestPruneNamesLockHolderAndUnlock(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e, err := backup.New(store, &backup.Config{Clock: clock})
	require.NoError(t, err)
	_, err = e.Backup(ctx, "acme", backup.FSSource(generations(1)[0]), nil)
	require.NoError(t, err)

	killed := clock.Now().Add(-2 * time.Minute)
	dead := putLock(t, store, "backup by cron", killed)
	_, err = e.Prune(ctx, "acme", nil)
	require.ErrorIs(t, err, backup.ErrLocked)
	var le *backup.LockedError
	require.ErrorAs(t, err, &le)
	require.Equal(t, "backup by cron", le.Owner)
	require.Equal(t, killed.Add(backup.LockStaleAfter), le.StaleAt)
	for _, want := range []string{`"backup by cron"`, "host db-1, pid 4242", "goes stale at 2026-03-01T12:03:00Z", "backupctl unlock"} {
		require.ErrorContains(t, err, want)
	}

	removed, err := e.Unlock(ctx, "acme", false)
	require.NoError(t, err)
	require.Empty(t, removed, "a lock refreshed 2 minutes ago is not stale")
	clock.Advance(backup.LockStaleAfter)
	removed, err = e.Unlock(ctx, "acme", false)
	require.NoError(t, err)
	require.Len(t, removed, 1)
	require.Equal(t, "backup by cron", removed[0].Owner)
	require.True(t, removed[0].Stale)
	require.Empty(t, keysUnder(t, store, dead))
	_, err = e.Prune(ctx, "acme", nil)
	require.NoError(t, err, "prune runs once the lock is gone")

	fresh := putLock(t, store, "prune by bob", clock.Now())
	removed, err = e.Unlock(ctx, "acme", false)
	require.NoError(t, err)
	require.Empty(t, removed, "a live lock stays without force")
	require.Len(t, keysUnder(t, store, fresh), 1)
	removed, err = e.Unlock(ctx, "acme", true)
	require.NoError(t, err)
	require.Len(t, removed, 1, "force removes a live lock")
	require.False(t, removed[0].Stale)
	require.Empty(t, keysUnder(t, store, "tenants/acme/locks/"))
}

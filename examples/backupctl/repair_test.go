package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
)

// Issue 17, finding 7: after one index file is truncated and another
// deleted, snapshots and restore fail suggesting repair index; repair
// index (text, then --json) reports a pack with a damaged header, which it
// leaves in place, and every snapshot then restores byte-identical and
// check --read-data passes.
func TestRepairIndexRestoresEverySnapshot(t *testing.T) {
	f := newFixture(t)
	want := map[string]map[string]string{f.snap.ID: tree(t, f.src)}
	for i := range 3 {
		name := filepath.Join(f.src, "m1", fmt.Sprintf("f%d.bin", i))
		require.NoError(t, os.WriteFile(name, bytes.Repeat([]byte{byte(i + 1)}, 200_000+i), 0o644))
		s := f.backup(t)
		want[s.ID] = tree(t, f.src)
	}
	index, err := filepath.Glob(filepath.Join(f.storeDir, "tenants", "acme", "index", "*"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(index), 3)
	require.NoError(t, os.Truncate(index[0], 10))
	require.NoError(t, os.Remove(index[1]))
	packs, err := filepath.Glob(filepath.Join(f.storeDir, "tenants", "acme", "packs", "*", "*"))
	require.NoError(t, err)
	b, err := os.ReadFile(packs[0])
	require.NoError(t, err)
	b[len(b)-6] ^= 0xff // the trailer's magic
	damaged := filepath.Join(f.storeDir, "tenants", "acme", "packs", "ee", "ee0123456789abcdef0123456789abcd")
	require.NoError(t, os.MkdirAll(filepath.Dir(damaged), 0o755))
	require.NoError(t, os.WriteFile(damaged, b, 0o644))

	const hint = "backupctl repair index --tenant acme"
	out, err := run(t, "--store", f.store, "snapshots", "--tenant", "acme")
	require.NoError(t, err, "listing snapshots needs no index")
	require.Contains(t, out, f.snap.ID)
	_, err = run(t, "--store", f.store, "restore", "--tenant", "acme", "--snapshot", f.snap.ID, "--target", filepath.Join(f.dir, "r0"))
	require.ErrorContains(t, err, hint)

	out, err = run(t, "--store", f.store, "repair", "index", "--tenant", "acme")
	require.NoError(t, err)
	require.Contains(t, out, fmt.Sprintf("%d packs read", len(packs)))
	require.Contains(t, out, fmt.Sprintf("%d old index objects removed", len(index)-1))
	require.Contains(t, out, "unreadable pack tenants/acme/packs/ee/ee0123456789abcdef0123456789abcd (left in place")
	require.FileExists(t, damaged)

	out, err = run(t, "--store", f.store, "repair", "index", "--tenant", "acme", "--json")
	require.NoError(t, err)
	var rep backup.RepairReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), "repair index --json printed %q", out)
	require.Equal(t, len(packs), rep.PacksRead)
	require.Len(t, rep.PacksUnreadable, 1)
	require.Equal(t, 1, rep.IndexesRemoved, "the first repair's own index object")
	requireSnakeCase(t, "repair index", rep)

	for id, files := range want {
		target := filepath.Join(f.dir, "restore-"+id)
		_, err := run(t, "--store", f.store, "restore", "--tenant", "acme", "--snapshot", id, "--target", target)
		require.NoError(t, err, "snapshot %s", id)
		got := map[string]string{}
		for p, c := range tree(t, target) {
			rel, err := filepath.Rel(target, p)
			require.NoError(t, err)
			got[filepath.Join(f.src, rel)] = c
		}
		require.Equal(t, files, got, "snapshot %s restored other bytes", id)
	}
	out, err = run(t, "--store", f.store, "check", "--tenant", "acme", "--read-data")
	require.NoError(t, err, "check after repair: %s", out)
}

// writeLock leaves a lock of tenant acme in the store as a process last
// refreshing it at refreshed, then killed, would.
func writeLock(t *testing.T, storeDir, name, owner string, refreshed time.Time) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"owner": owner, "host": "db-1", "pid": 4242, "exclusive": false, "created": refreshed, "refreshed": refreshed})
	require.NoError(t, err)
	p := filepath.Join(storeDir, "tenants", "acme", "locks", name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// Issue 17, finding 8: a killed backup's lock makes prune fail naming the
// holder and when it goes stale; unlock removes it once stale; a live lock
// stays without --force and goes with it, after a warning.
func TestUnlock(t *testing.T) {
	f := newFixture(t)
	refreshed := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	live := writeLock(t, f.storeDir, "live", "backup by cron", refreshed)
	_, err := run(t, "--store", f.store, "prune", "--tenant", "acme")
	require.ErrorIs(t, err, backup.ErrLocked)
	for _, want := range []string{`"backup by cron" (host db-1, pid 4242)`, "goes stale at " + refreshed.Add(backup.LockStaleAfter).Format(time.RFC3339), "backupctl unlock --tenant acme"} {
		require.ErrorContains(t, err, want)
	}

	out, err := run(t, "--store", f.store, "unlock", "--tenant", "acme")
	require.NoError(t, err)
	require.Contains(t, out, `no stale lock on "acme" to remove`)
	require.FileExists(t, live)

	dead := writeLock(t, f.storeDir, "dead", "backup by killed process", time.Now().Add(-time.Hour))
	out, err = run(t, "--store", f.store, "unlock", "--tenant", "acme", "--json")
	require.NoError(t, err)
	var res unlockResult
	require.NoError(t, json.Unmarshal([]byte(out), &res), "unlock --json printed %q", out)
	require.Len(t, res.Removed, 1)
	require.Equal(t, "backup by killed process", res.Removed[0].Owner)
	require.NoFileExists(t, dead)
	require.FileExists(t, live)

	var stdout, stderr bytes.Buffer
	require.NoError(t, runTo(t, &stdout, &stderr, "--store", f.store, "unlock", "--tenant", "acme", "--force"))
	require.Contains(t, stderr.String(), "warning: --force removes every lock")
	require.Contains(t, stdout.String(), `removed live shared lock locks/live of "backup by cron" (host db-1, pid 4242)`)
	require.NoFileExists(t, live)
	_, err = run(t, "--store", f.store, "prune", "--tenant", "acme")
	require.NoError(t, err)
}

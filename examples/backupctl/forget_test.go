package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
)

// oneBackup backs up one small file of tenant acme, unencrypted, into a
// fresh store and returns the store's directory, its URL and the snapshot.
func oneBackup(t *testing.T) (dir, store string, snap backup.Snapshot) {
	t.Helper()
	dir = t.TempDir()
	store = "file://" + filepath.ToSlash(filepath.Join(dir, "store"))
	src := filepath.Join(dir, "src")
	require.NoError(t, os.MkdirAll(src, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte("alpha"), 0o644))
	unsetenv(t, "STEWARD_PASSPHRASE")
	out, err := run(t, "--store", store, "backup", "--tenant", "acme", "--source", src, "--json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(out), &snap), "backup --json printed %q", out)
	return dir, store, snap
}

// forget --id refuses a snapshot whose manifest is corrupt and an ID the
// engine could not have written; --force deletes the corrupt one.
func TestForgetCorruptNeedsForce(t *testing.T) {
	dir, store, snap := oneBackup(t)

	manifest := filepath.Join(dir, "store", "tenants", "acme", "snapshots", snap.ID)
	b, err := os.ReadFile(manifest)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	require.NoError(t, os.WriteFile(manifest, b, 0o644))

	_, err = run(t, "--store", store, "forget", "--tenant", "acme", "--id", "../x")
	require.ErrorIs(t, err, backup.ErrInvalidOptions)
	_, err = run(t, "--store", store, "forget", "--tenant", "acme", "--force")
	require.ErrorContains(t, err, "--force applies to snapshots named with --snapshot")
	_, err = run(t, "--store", store, "forget", "--tenant", "acme", "--id", snap.ID)
	require.ErrorIs(t, err, backup.ErrCorrupt)
	require.FileExists(t, manifest, "forget without --force deleted a corrupt manifest")

	_, err = run(t, "--store", store, "forget", "--tenant", "acme", "--id", snap.ID, "--force")
	require.NoError(t, err)
	require.NoFileExists(t, manifest, "forget --force left the corrupt manifest")
}

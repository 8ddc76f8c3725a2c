package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
)

// TestExitCodes: a partial snapshot exits 3 (restic's convention), any
// other failure 1.
func TestExitCodes(t *testing.T) {
	require.Equal(t, 3, exitCode(fmt.Errorf("backup: %w", backup.ErrPartial)))
	require.Equal(t, 1, exitCode(errors.New("backup: open: no such directory")))
}

// TestBackupPartialExitsThree: a backup of a tree with an unreadable file
// prints the snapshot with the skipped path and reason (text) or lists it
// (--json), and its error makes backupctl exit 3.
func TestBackupPartialExitsThree(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: chmod 000 does not stop root from reading, so no file is unreadable")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "m"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "m", "ok.txt"), []byte("ok"), 0o644))
	locked := filepath.Join(src, "m", "locked.txt")
	require.NoError(t, os.WriteFile(locked, []byte("secret"), 0o644))
	require.NoError(t, os.Chmod(locked, 0))
	store := "file://" + filepath.ToSlash(filepath.Join(dir, "store"))
	unsetenv(t, "STEWARD_PASSPHRASE")

	out, err := run(t, "--store", store, "backup", "--tenant", "acme", "--source", src)
	require.ErrorIs(t, err, backup.ErrPartial)
	require.Equal(t, 3, exitCode(err))
	require.Contains(t, out, "partial: 1 entry skipped")
	require.Contains(t, out, "skipped m/locked.txt: ")

	out, err = run(t, "--store", store, "backup", "--tenant", "acme", "--source", src, "--full", "--json")
	require.Equal(t, 3, exitCode(err))
	require.Contains(t, out, `"skipped": [`)
	require.Contains(t, out, `"path": "m/locked.txt"`)
}

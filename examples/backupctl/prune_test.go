package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// prune --dry-run says "would" and changes nothing; the real prune then
// deletes the forgotten snapshot's packs and the orphan that check
// counted as unreferenced (not as a problem).
func TestPruneDryRunSaysWould(t *testing.T) {
	dir, store, snap := oneBackup(t)
	packs, err := filepath.Glob(filepath.Join(dir, "store", "tenants", "acme", "packs", "*", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, packs)
	b, err := os.ReadFile(packs[0])
	require.NoError(t, err)
	orphan := filepath.Join(dir, "store", "tenants", "acme", "packs", "ff", "ff0123456789abcdef0123456789abcd")
	require.NoError(t, os.MkdirAll(filepath.Dir(orphan), 0o755))
	require.NoError(t, os.WriteFile(orphan, b, 0o644))
	out, err := run(t, "--store", store, "check", "--tenant", "acme")
	require.NoError(t, err, "an unreferenced pack is no problem: %s", out)
	require.Contains(t, out, fmt.Sprintf("1 unreferenced packs (%d bytes)", len(b)))
	packs = append(packs, orphan)

	_, err = run(t, "--store", store, "forget", "--tenant", "acme", "--id", snap.ID)
	require.NoError(t, err)

	out, err = run(t, "--store", store, "prune", "--tenant", "acme", "--dry-run")
	require.NoError(t, err)
	require.Contains(t, out, "packs would be deleted", "dry run printed %q", out)
	require.Contains(t, out, "bytes would be freed")
	for _, p := range packs {
		require.FileExists(t, p, "a dry run deleted a pack")
	}

	out, err = run(t, "--store", store, "prune", "--tenant", "acme")
	require.NoError(t, err)
	require.NotContains(t, out, "would", "a real prune printed %q", out)
	require.Contains(t, out, "bytes freed")
	for _, p := range packs {
		require.NoFileExists(t, p, "prune left a pack of the forgotten snapshot")
	}
}

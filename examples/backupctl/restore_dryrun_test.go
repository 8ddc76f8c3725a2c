package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRestoreDryRun: restore --dry-run prints each decision and the counts
// and leaves the target as it was.
func TestRestoreDryRun(t *testing.T) {
	dir := t.TempDir()
	store := "file://" + filepath.ToSlash(filepath.Join(dir, "store"))
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "m1"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "m1", "a.txt"), []byte("alpha"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dst, "project"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dst, "project", "keep.txt"), []byte("mine"), 0o644))
	t.Setenv("STEWARD_PASSPHRASE", "pw")
	_, err := run(t, "--store", store, "backup", "--tenant", "acme", "--source", src, "--full")
	require.NoError(t, err)

	out, err := run(t, "--store", store, "restore", "--tenant", "acme", "--target", dst, "--dry-run")
	require.NoError(t, err)
	require.Contains(t, out, "removed    project  not in the snapshot")
	require.Contains(t, out, "restored   m1/a.txt")
	require.Contains(t, out, "would restore 1 files (5 bytes), create 1 directories, remove 1 entries")
	b, err := os.ReadFile(filepath.Join(dst, "project", "keep.txt"))
	require.NoError(t, err, "the dry run removed project/keep.txt")
	require.Equal(t, "mine", string(b))
	require.NoFileExists(t, filepath.Join(dst, "m1", "a.txt"), "the dry run wrote m1/a.txt")
}

// TestRestorePaths: restore --path restores the named files only and
// leaves the rest of the target alone; an absent path is refused.
func TestRestorePaths(t *testing.T) {
	dir := t.TempDir()
	store := "file://" + filepath.ToSlash(filepath.Join(dir, "store"))
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "m1"), 0o755))
	for _, n := range []string{"a.txt", "b, with comma.txt"} {
		require.NoError(t, os.WriteFile(filepath.Join(src, "m1", n), []byte("v1 "+n), 0o644))
	}
	t.Setenv("STEWARD_PASSPHRASE", "pw")
	_, err := run(t, "--store", store, "backup", "--tenant", "acme", "--source", src, "--full")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dst, "m1"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dst, "m1", "a.txt"), []byte("local"), 0o644))

	out, err := run(t, "--store", store, "restore", "--tenant", "acme", "--target", dst, "--path", "m1/b, with comma.txt")
	require.NoError(t, err)
	require.Contains(t, out, "1 files")
	b, err := os.ReadFile(filepath.Join(dst, "m1", "b, with comma.txt"))
	require.NoError(t, err)
	require.Equal(t, "v1 b, with comma.txt", string(b))
	b, err = os.ReadFile(filepath.Join(dst, "m1", "a.txt"))
	require.NoError(t, err)
	require.Equal(t, "local", string(b), "a file not named is left alone")

	_, err = run(t, "--store", store, "restore", "--tenant", "acme", "--target", dst, "--path", "m1/zzz")
	require.ErrorContains(t, err, `path "m1/zzz"`)
}

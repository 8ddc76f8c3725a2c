package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/restore"
)

// TestRestoreDelete: a full restore into a directory holding other data is
// refused, naming --delete, and changes nothing; its dry run says it would
// be refused; with --delete it removes the other data.
func TestRestoreDelete(t *testing.T) {
	f := newFixture(t)
	dst := filepath.Join(f.dir, "dst")
	keep := filepath.Join(dst, "project", "keep.txt")
	require.NoError(t, os.MkdirAll(filepath.Dir(keep), 0o755))
	require.NoError(t, os.WriteFile(keep, []byte("mine"), 0o644))
	before := tree(t, dst)

	_, err := run(t, "--store", f.store, "restore", "--tenant", "acme", "--target", dst)
	require.ErrorIs(t, err, restore.ErrWouldDelete)
	require.Contains(t, err.Error(), `"project"`)
	require.Contains(t, err.Error(), "pass --delete", "the error names the flag")
	require.NotContains(t, err.Error(), "AllowDelete", "the error names no Go field")
	require.Equal(t, before, tree(t, dst), "the refused restore changed the target")

	out, err := run(t, "--store", f.store, "restore", "--tenant", "acme", "--target", dst, "--dry-run")
	require.NoError(t, err)
	require.Contains(t, out, "removed    project  not in the snapshot")
	require.Contains(t, out, "the restore would be refused")
	require.Equal(t, before, tree(t, dst))

	out, err = run(t, "--store", f.store, "restore", "--tenant", "acme", "--target", dst, "--delete")
	require.NoError(t, err)
	require.Contains(t, out, "1 removed")
	require.NoFileExists(t, keep)
	b, err := os.ReadFile(filepath.Join(dst, "m1", "a.txt"))
	require.NoError(t, err)
	require.Equal(t, "alpha", string(b))
}

// TestRestoreContinueOnError: with one byte flipped in the pack holding one
// file, restore --continue-on-error restores the intact file, lists the
// damaged one, prints the count and fails (exits non-zero).
func TestRestoreContinueOnError(t *testing.T) {
	f := newFixture(t)
	old := packFiles(t, f.storeDir)
	require.NoError(t, os.MkdirAll(filepath.Join(f.src, "m2"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(f.src, "m2", "b.txt"), []byte("bravo"), 0o644))
	f.backup(t)
	for p := range packFiles(t, f.storeDir) {
		if old[p] {
			continue // m1/a.txt's pack
		}
		orig, err := os.ReadFile(p)
		require.NoError(t, err)
		bad := append([]byte(nil), orig...)
		bad[0] ^= 0x01 // the first blob: m2/b.txt's chunk, or the entry list
		require.NoError(t, os.WriteFile(p, bad, 0o644))
		dst := filepath.Join(t.TempDir(), "out")
		out, err := run(t, "--store", f.store, "restore", "--tenant", "acme", "--target", dst, "--continue-on-error")
		if !errors.Is(err, restore.ErrDamaged) {
			require.NoError(t, os.WriteFile(p, orig, 0o644)) // the entry list's pack: try the next
			continue
		}
		rel, _ := filepath.Rel(f.storeDir, p)
		require.Contains(t, out, "damaged    m2/b.txt  "+filepath.ToSlash(rel))
		require.Contains(t, out, "1 damaged")
		require.Contains(t, err.Error(), "1 damaged files not restored")
		b, err := os.ReadFile(filepath.Join(dst, "m1", "a.txt"))
		require.NoError(t, err)
		require.Equal(t, "alpha", string(b), "the intact file is restored")
		require.NoFileExists(t, filepath.Join(dst, "m2", "b.txt"), "the damaged file is not published")
		return
	}
	t.Fatal("no pack of the second backup held m2/b.txt's content")
}

// packFiles returns the pack objects of acme in the file store at dir.
func packFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	packs, err := filepath.Glob(filepath.Join(dir, "tenants", "acme", "packs", "*", "*"))
	require.NoError(t, err)
	out := map[string]bool{}
	for _, p := range packs {
		if !strings.HasSuffix(p, ".attrs") {
			out[p] = true
		}
	}
	return out
}

package restore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
)

// TestRestorePaths restores ticked files and a ticked directory: nothing
// else is written, the target keeps what lies beside them, and inside the
// ticked directory what the snapshot lacks is removed, as the plan said.
func TestRestorePaths(t *testing.T) {
	e, r, _, _ := setup(t)
	src := t.TempDir()
	writeFiles(t, src, map[string]file{
		"users/1.json": {"ana", t0}, "users/2.json": {"bob", t0}, "users/deep/3.json": {"cid", t0},
		"assets/logo.png": {"PNG", t0}, "assets/icon.png": {"ICO", t0}, "reservations/r1.txt": {"r1", t0},
	})
	s, err := e.Backup(master(), "acme", backup.DirSource(src), nil)
	require.NoError(t, err)
	dst := t.TempDir()
	writeFiles(t, dst, map[string]file{
		"users/1.json": {"changed", t2}, "users/2.json": {"local", t2}, "users/mine.json": {"mine", t1},
		"assets/old.png": {"OLD", t1}, "reservations/r1.txt": {"local r1", t2},
	})
	opts := &restore.Options{Mode: restore.Selective, Paths: []string{"users/1.json", "users/deep/3.json", "assets"}, AllowDelete: true}
	dry := *opts
	dry.DryRun = true
	plan, err := r.Restore(master(), "acme", s.ID, restore.DirTarget(dst), &dry)
	require.NoError(t, err)

	rep, err := r.Restore(master(), "acme", s.ID, restore.DirTarget(dst), opts)
	require.NoError(t, err)
	require.Equal(t, map[string]file{
		"users/1.json": {"ana", t0}, "users/deep/3.json": {"cid", t0},
		"assets/logo.png": {"PNG", t0}, "assets/icon.png": {"ICO", t0},
		// Beside the ticked paths, the target's own files stay as they were.
		"users/2.json": {"local", t2}, "users/mine.json": {"mine", t1}, "reservations/r1.txt": {"local r1", t2},
	}, tree(t, dst))
	require.Equal(t, plan.Plan.Decisions, rep.Decisions, "the restore carries out the dry run's plan")
	require.Equal(t, 4, rep.FilesRestored, "3.json, 1.json and the two assets")
	require.Equal(t, 1, rep.EntriesRemoved, "assets/old.png, inside a ticked directory")
	require.Equal(t, []string{"users/1.json", "users/deep/3.json", "assets"}, rep.Paths)
	require.Equal(t, 1, rep.DirsCreated, "users/deep, above a ticked file")
}

// TestRestorePathsIntoEmptyTarget creates the directories above a ticked
// file and writes nothing else.
func TestRestorePathsIntoEmptyTarget(t *testing.T) {
	_, r, _, id := setup(t)
	dst := t.TempDir()
	_, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{Mode: restore.Selective, Paths: []string{"users/2.json"}, Modules: []string{"assets"}})
	require.NoError(t, err)
	require.Equal(t, map[string]file{"users/2.json": {"bob", t0}, "assets/logo.png": {"PNG", t0}}, tree(t, dst))
}

// TestRestorePathsRefused: bad or absent paths fail before anything is
// written.
func TestRestorePathsRefused(t *testing.T) {
	_, r, _, id := setup(t)
	for name, opts := range map[string]*restore.Options{
		"absent path":      {Mode: restore.Selective, Paths: []string{"users/1.json", "users/9.json"}},
		"absent directory": {Mode: restore.Selective, Paths: []string{"nothing/here"}},
		"escaping path":    {Mode: restore.Selective, Paths: []string{"../etc/passwd"}},
		"absolute path":    {Mode: restore.Selective, Paths: []string{"/users/1.json"}},
		"full with paths":  {Mode: restore.Full, Paths: []string{"users/1.json"}},
		"merge with paths": {Mode: restore.Merge, Paths: []string{"users/1.json"}},
		"nothing selected": {Mode: restore.Selective},
	} {
		t.Run(name, func(t *testing.T) {
			dst := t.TempDir()
			_, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), opts)
			require.ErrorIs(t, err, restore.ErrInvalidOptions)
			left, err := os.ReadDir(dst)
			require.NoError(t, err)
			require.Empty(t, left, "nothing written")
		})
	}
	_, err := r.Restore(master(), "acme", id, restore.DirTarget(filepath.Join(t.TempDir(), "x")), &restore.Options{Mode: restore.Selective, Paths: []string{"users/9.json"}})
	require.ErrorContains(t, err, `path "users/9.json"`)
}

package restore_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
)

// foreign is data a target holds that no restore wrote: a file the
// snapshot also has (users/1.json), a file it lacks in a module it has
// (users/extra.json) and a module it lacks (project/).
var foreign = map[string]file{
	"users/1.json":       {"local", t2},
	"users/extra.json":   {"extra", t1},
	"project/.git/HEAD":  {"ref: refs/heads/main", t1},
	"project/main.go":    {"package main", t1},
	"project/README.txt": {"mine", t2},
}

// snapshotFiles is what setup backs up.
var snapshotFiles = map[string]file{
	"users/1.json":        {"ana", t0},
	"users/2.json":        {"bob", t0},
	"reservations/r1.txt": {"r1", t0},
	"assets/logo.png":     {"PNG", t0},
}

// TestFullRestoreRefusesToRemoveForeignData: a full restore into a target
// holding data no restore created is refused without AllowDelete and leaves
// every entry as it was (type, mode, size, mtime, bytes, directory mtimes
// too); its dry run lists the removals and says it would be refused; with
// AllowDelete the same restore removes them.
func TestFullRestoreRefusesToRemoveForeignData(t *testing.T) {
	_, r, _, id := setup(t)
	dst := t.TempDir()
	writeFiles(t, dst, foreign)
	before, beforeBytes := listing(t, dst, true), tree(t, dst)

	rep, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), nil)
	require.ErrorIs(t, err, restore.ErrWouldDelete)
	require.Nil(t, rep)
	require.Contains(t, err.Error(), `would remove 2 entries`)
	require.Contains(t, err.Error(), `"project", "users/extra.json"`, "the message names what it would remove")
	require.Contains(t, err.Error(), "AllowDelete", "the message says how to go on")
	require.Equal(t, before, listing(t, dst, true), "a refused restore changes nothing")
	require.Equal(t, beforeBytes, tree(t, dst), "a refused restore changes no byte")

	dry, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{DryRun: true})
	require.NoError(t, err)
	require.True(t, dry.WouldRefuse)
	require.Equal(t, []string{"project", "users/extra.json"}, removals(dry.Plan.Decisions), "the dry run shows what the refused restore would remove")
	require.Equal(t, before, listing(t, dst, true))

	allowed, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{AllowDelete: true})
	require.NoError(t, err)
	require.Equal(t, removals(dry.Plan.Decisions), removals(allowed.Decisions), "AllowDelete removes what the dry run listed")
	require.Equal(t, snapshotFiles, tree(t, dst))
	require.NoDirExists(t, filepath.Join(dst, restore.MarkerDir), "a foreign target is not marked, even with AllowDelete")

	dry, err = r.Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{DryRun: true, AllowDelete: true})
	require.NoError(t, err)
	require.False(t, dry.WouldRefuse, "with AllowDelete nothing is refused")
}

// TestWouldDeleteListsABoundedNumber: the refusal counts every entry and
// names at most ten.
func TestWouldDeleteListsABoundedNumber(t *testing.T) {
	_, r, _, id := setup(t)
	dst := t.TempDir()
	many := map[string]file{}
	for i := range 12 {
		many[fmt.Sprintf("stray-%02d.txt", i)] = file{"x", t1}
	}
	writeFiles(t, dst, many)
	_, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{Mode: restore.Full})
	require.ErrorIs(t, err, restore.ErrWouldDelete)
	require.Contains(t, err.Error(), "would remove 12 entries")
	require.Contains(t, err.Error(), `"stray-09.txt" and 2 more`)
	require.NotContains(t, err.Error(), "stray-10.txt")
	require.Equal(t, many, tree(t, dst))
}

// TestSelectiveAndMergeNeedNoAllowDelete: the guard is for full restores;
// a selective restore removes within its modules as before, a merge
// removes nothing.
func TestSelectiveAndMergeNeedNoAllowDelete(t *testing.T) {
	_, r, _, id := setup(t)
	for _, opts := range []restore.Options{{Mode: restore.Selective, Modules: []string{"users"}}, {Mode: restore.Merge}} {
		t.Run(string(opts.Mode), func(t *testing.T) {
			dst := t.TempDir()
			writeFiles(t, dst, foreign)
			rep, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), &opts)
			require.NoError(t, err)
			got := tree(t, dst)
			require.Equal(t, foreign["project/main.go"], got["project/main.go"], "outside the restored modules nothing is removed")
			if opts.Mode == restore.Merge {
				require.Zero(t, rep.EntriesRemoved)
			} else {
				require.Equal(t, []string{"users/extra.json"}, removals(rep.Decisions))
			}
		})
	}
}

// TestMarkerLetsTheSameTenantRemove: a restore into an empty target marks
// it; a later full restore of another snapshot of the same tenant removes
// what that snapshot lacks without AllowDelete, while one of another tenant
// is refused. The marker is never planned, counted or removed, in a
// directory and in memory alike.
func TestMarkerLetsTheSameTenantRemove(t *testing.T) {
	e, r, _, id1 := setup(t)
	src := t.TempDir()
	second := map[string]file{"users/1.json": {"ana v2", t1}, "users/9.json": {"zed", t1}}
	writeFiles(t, src, second)
	snap2, err := e.Backup(master(), "acme", backup.DirSource(src), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	other, err := e.Backup(master(), "globex", backup.DirSource(src), &backup.Options{Type: backup.Full})
	require.NoError(t, err)

	targets := map[string]func(t *testing.T) restore.Target{
		"dir":     func(t *testing.T) restore.Target { return restore.DirTarget(t.TempDir()) },
		"missing": func(t *testing.T) restore.Target { return restore.DirTarget(filepath.Join(t.TempDir(), "new")) },
		"memory":  func(t *testing.T) restore.Target { return restore.MemoryTarget() },
	}
	for name, newTarget := range targets {
		t.Run(name, func(t *testing.T) {
			dst := newTarget(t)
			rep, err := r.Restore(master(), "acme", id1, dst, nil)
			require.NoError(t, err)
			require.Equal(t, 4, rep.FilesRestored, "the marker is not a file of the restore")
			require.Contains(t, walkPaths(t, dst), restore.MarkerDir+"/acme")
			require.Equal(t, contentsOf(snapshotFiles), contents(t, dst), "the marker adds no regular file")

			_, err = r.Restore(master(), "globex", other.ID, dst, nil)
			require.ErrorIs(t, err, restore.ErrWouldDelete, "another tenant's restore may not remove acme's data")

			rep, err = r.Restore(master(), "acme", snap2.ID, dst, &restore.Options{Validate: true})
			require.NoError(t, err, "the same tenant's marker allows the removals")
			require.Equal(t, []string{"assets", "reservations", "users/2.json"}, removals(rep.Decisions))
			for _, d := range rep.Decisions {
				require.NotContains(t, d.Path, restore.MarkerDir)
			}
			require.Equal(t, contentsOf(second), contents(t, dst))
			require.Contains(t, walkPaths(t, dst), restore.MarkerDir+"/acme", "the marker stays")
		})
	}
}

// TestMarkerOfAnotherTenantInAnEmptyTarget: a target holding nothing but
// another tenant's marker is empty; the restore replaces the marker, so
// the other tenant no longer owns the target.
func TestMarkerOfAnotherTenantInAnEmptyTarget(t *testing.T) {
	e, r, _, id := setup(t)
	src := t.TempDir()
	writeFiles(t, src, map[string]file{"g/1.txt": {"globex", t1}})
	other, err := e.Backup(master(), "globex", backup.DirSource(src), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	dst := restore.MemoryTarget()
	_, err = r.Restore(master(), "globex", other.ID, dst, nil)
	require.NoError(t, err)
	require.NoError(t, dst.Remove(context.Background(), "g"))
	require.Equal(t, []string{restore.MarkerDir, restore.MarkerDir + "/globex"}, walkPaths(t, dst))

	_, err = r.Restore(master(), "acme", id, dst, nil)
	require.NoError(t, err)
	require.Contains(t, walkPaths(t, dst), restore.MarkerDir+"/acme")
	require.NotContains(t, walkPaths(t, dst), restore.MarkerDir+"/globex")
	_, err = r.Restore(master(), "globex", other.ID, dst, nil)
	require.ErrorIs(t, err, restore.ErrWouldDelete, "globex's marker is gone")
}

// removals returns the paths of the removals among ds.
func removals(ds []restore.Decision) []string {
	var out []string
	for _, d := range ds {
		if d.Action == restore.ActionRemoved {
			out = append(out, d.Path)
		}
	}
	return out
}

// walkPaths returns every path tg's Walk yields.
func walkPaths(t *testing.T, tg restore.Target) []string {
	t.Helper()
	var out []string
	require.NoError(t, tg.Walk(context.Background(), func(e backup.Entry) error {
		out = append(out, e.Path)
		return nil
	}))
	return out
}

// contents reads every regular file of tg back: path -> bytes.
func contents(t *testing.T, tg restore.Target) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, tg.Walk(context.Background(), func(e backup.Entry) error {
		if !e.Mode.IsRegular() {
			return nil
		}
		rc, err := tg.Open(context.Background(), e.Path)
		require.NoError(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		out[e.Path] = string(b)
		return nil
	}))
	return out
}

func contentsOf(files map[string]file) map[string]string {
	out := map[string]string{}
	for p, f := range files {
		out[p] = f.data
	}
	return out
}

package restore_test

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
)

// typeFixture backs up a tree whose users module holds a directory
// (users/notes) and a file (users/photo), and returns the engine, the
// snapshot's ID and the source tree.
func typeFixture(t *testing.T) (*backup.Engine, string, map[string]file) {
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	src := t.TempDir()
	files := map[string]file{
		"users/1.json":        {"ana", t0},
		"users/2.json":        {"bob", t0},
		"users/photo":         {"PHOTO", t0},
		"users/notes/a.txt":   {"note", t0},
		"reservations/r1.txt": {"r1", t0},
		"assets/logo.png":     {"PNG", t0},
	}
	writeFiles(t, src, files)
	snap, err := e.Backup(master(), "acme", backup.DirSource(src), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	return e, snap.ID, files
}

// typeTarget is a target holding a newer local file where the snapshot has
// the directory users/notes, a local directory holding a file where it has
// the file users/photo, a newer, an older and an unchanged file, and a
// module the snapshot lacks.
var typeTarget = map[string]file{
	"users/1.json":          {"newer", t2},
	"users/2.json":          {"old", t0.Add(-time.Hour)},
	"users/notes":           {"my notes", t2},
	"users/photo/local.jpg": {"JPEG", t1},
	"assets/logo.png":       {"PNG", t0},
	"other/x":               {"x", t1},
}

// listing reads every entry under dir: path -> type, permissions, size and
// mtime. With dirMtimes false a directory's mtime is left out (it moves
// whenever an entry is added or removed in it).
func listing(t *testing.T, dir string, dirMtimes bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%v %d %s", fi.Mode(), fi.Size(), fi.ModTime().UTC().Format(time.RFC3339Nano))
		if fi.IsDir() && !dirMtimes {
			line = fi.Mode().String()
		}
		out[filepath.ToSlash(rel)] = line
		return nil
	})
	require.NoError(t, err)
	return out
}

// eventLog is an Auditor keeping the types of the events it records.
type eventLog struct {
	mu    sync.Mutex
	types []string
}

func (l *eventLog) Record(_ context.Context, e audit.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.types = append(l.types, string(e.Type))
	return nil
}

// TestDryRunWritesNothingAndMatchesRestore: in each mode a dry run (with a
// safety backup and validation asked for) leaves the target's listing,
// the catalog and the audit log as they were, and its plan is, path for
// path, what the following real restore does, as its report says and as
// the target's listing before and after shows.
func TestDryRunWritesNothingAndMatchesRestore(t *testing.T) {
	for _, opts := range []restore.Options{
		{Mode: restore.Full},
		{Mode: restore.Selective, Modules: []string{"users"}},
		{Mode: restore.Merge},
	} {
		t.Run(string(opts.Mode), func(t *testing.T) {
			e, id, src := typeFixture(t)
			events := &eventLog{}
			r := restore.New(e, &restore.Config{Auditor: events})
			dst := t.TempDir()
			writeFiles(t, dst, typeTarget)
			before, beforeFiles := listing(t, dst, true), listing(t, dst, false)
			catalog, err := e.Catalog(master(), "acme")
			require.NoError(t, err)

			dry := opts
			dry.DryRun, dry.SafetyBackup, dry.Validate = true, true, true
			rep, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), &dry)
			require.NoError(t, err)
			require.True(t, rep.DryRun)
			require.NotNil(t, rep.Plan)
			require.NotEmpty(t, rep.Plan.Decisions)
			require.Zero(t, rep.Counts, "a dry run carries out nothing")
			require.Empty(t, rep.Decisions)
			require.Empty(t, rep.SafetySnapshotID)
			require.Equal(t, opts.Mode == restore.Full, rep.WouldRefuse, "only a full restore removes the target's own data, and it needs AllowDelete")
			require.Equal(t, before, listing(t, dst, true), "a dry run writes nothing")
			after, err := e.Catalog(master(), "acme")
			require.NoError(t, err)
			require.Len(t, after, len(catalog), "a dry run takes no safety backup")
			require.Empty(t, events.types, "a dry run records no restore")

			real := opts
			real.SafetyBackup, real.AllowDelete = true, true
			done, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), &real)
			require.NoError(t, err)
			require.NotEmpty(t, done.SafetySnapshotID)
			require.Equal(t, rep.Plan.Decisions, done.Decisions, "the real restore carries out the plan, path for path")
			require.Equal(t, rep.Plan.Counts, done.Counts)
			require.Equal(t, []string{string(audit.TypeRestoreCompleted)}, events.types)
			requireHappened(t, rep.Plan, beforeFiles, listing(t, dst, false), src)
		})
	}
}

// requireHappened checks a plan against a target's listings before and
// after the restore that carried it out (directory mtimes left out): each decision shows in the target,
// and every entry that changed is covered by a decision at its path or a
// removal above it.
func requireHappened(t *testing.T, p *restore.Plan, before, after map[string]string, src map[string]file) {
	t.Helper()
	byPath := map[string]restore.Decision{}
	for _, d := range p.Decisions {
		byPath[d.Path] = d
		switch d.Action {
		case restore.ActionRemoved:
			require.NotContains(t, after, d.Path)
		case restore.ActionRestored:
			require.Equal(t, fmt.Sprintf("%v %d %s", fs.FileMode(0o644), len(src[d.Path].data), t0.Format(time.RFC3339Nano)), after[d.Path], d.Path)
		case restore.ActionDirCreated:
			require.True(t, strings.HasPrefix(after[d.Path], "d"), "%s: %q", d.Path, after[d.Path])
		default: // unchanged, kept-newer, conflict: as it was
			require.Equal(t, before[d.Path], after[d.Path], d.Path)
		}
	}
	covered := func(p string) bool {
		if _, ok := byPath[p]; ok {
			return true
		}
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if byPath[dir].Action == restore.ActionRemoved {
				return true
			}
		}
		return false
	}
	for p, b := range before {
		if after[p] != b {
			require.True(t, covered(p), "%s changed (%q -> %q) without a decision", p, b, after[p])
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			require.True(t, covered(p), "%s appeared without a decision", p)
		}
	}
}

// TestDryRunIntoMissingDirectory: a dry run into a directory that does not
// exist plans every entry and does not create it.
func TestDryRunIntoMissingDirectory(t *testing.T) {
	e, id, _ := typeFixture(t)
	dst := filepath.Join(t.TempDir(), "not-yet")
	rep, err := restore.New(e, nil).Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{DryRun: true})
	require.NoError(t, err)
	require.Equal(t, 6, rep.Plan.FilesRestored)
	require.NoDirExists(t, dst)
}

// TestMergeKeepsLocalDataOfAnotherType: a merge where the target holds a
// newer file at the snapshot's directory users/notes and a directory
// (holding a file) at its file users/photo keeps both local sides intact,
// reports them (and the snapshot's file under users/notes) as conflicts,
// and its counts equal what happened.
func TestMergeKeepsLocalDataOfAnotherType(t *testing.T) {
	e, id, _ := typeFixture(t)
	r := restore.New(e, nil)
	dst := t.TempDir()
	writeFiles(t, dst, typeTarget)
	rep, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{Mode: restore.Merge})
	require.NoError(t, err)
	require.Equal(t, map[string]file{
		"users/1.json":          {"newer", t2},
		"users/2.json":          {"bob", t0},
		"users/notes":           {"my notes", t2},
		"users/photo/local.jpg": {"JPEG", t1},
		"reservations/r1.txt":   {"r1", t0},
		"assets/logo.png":       {"PNG", t0},
		"other/x":               {"x", t1},
	}, tree(t, dst), "local data intact")
	var conflicts []string
	for _, d := range rep.Decisions {
		if d.Action == restore.ActionConflict {
			conflicts = append(conflicts, d.Path)
		}
	}
	require.Equal(t, []string{"users/notes", "users/notes/a.txt", "users/photo"}, conflicts)
	require.Equal(t, restore.Counts{FilesRestored: 2, BytesRestored: 5, DirsCreated: 1, FilesUnchanged: 1, FilesKept: 1, Conflicts: 3}, rep.Counts,
		"restored users/2.json and reservations/r1.txt, created reservations/, kept users/1.json, nothing removed")

	again, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{Mode: restore.Merge})
	require.NoError(t, err)
	require.Equal(t, restore.Counts{FilesUnchanged: 3, FilesKept: 1, Conflicts: 3}, again.Counts)
}

package restore_test

import (
	"fmt"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
)

func dirEntry(p string) backup.File {
	return backup.File{Entry: backup.Entry{Path: p, Mode: fs.ModeDir | 0o755, ModTime: t0}}
}

// fileEntry is a regular file of mtime t0; sum "" means not hashed.
func fileEntry(p string, size int64, sum string) backup.File {
	return backup.File{Entry: backup.Entry{Path: p, Size: size, Mode: 0o644, ModTime: t0}, SHA256: sum}
}

// newer returns f modified at t2.
func newer(f backup.File) backup.File {
	f.ModTime = t2
	return f
}

// planSnapshot and planTarget are a small snapshot and target state, in
// walk order. The target holds, besides the snapshot's paths: a file where
// the snapshot has a directory (a/fileHere), a directory holding a file
// where the snapshot has a file (a/dirHere), a file newer than the
// snapshot's (a/older), extra files (a/extra, c/z), and no module b.
var (
	planSnapshot = []backup.File{
		dirEntry("a"),
		fileEntry("a/changed", 3, "s-changed"),
		fileEntry("a/dirHere", 4, "s-dirHere"),
		dirEntry("a/fileHere"),
		fileEntry("a/fileHere/x", 1, "s-x"),
		fileEntry("a/missing", 5, "s-missing"),
		fileEntry("a/older", 3, "s-older"),
		fileEntry("a/same", 3, "s-same"),
		dirEntry("b"),
		fileEntry("b/f", 2, "s-b"),
	}
	planTarget = []backup.File{
		dirEntry("a"),
		fileEntry("a/changed", 3, "other"),
		dirEntry("a/dirHere"),
		fileEntry("a/dirHere/y", 6, ""),
		fileEntry("a/extra", 8, ""),
		newer(fileEntry("a/fileHere", 7, "")),
		newer(fileEntry("a/older", 3, "")),
		fileEntry("a/same", 3, "s-same"),
		dirEntry("c"),
		fileEntry("c/z", 9, ""),
	}
)

// decisionLines renders decisions as "path action size" for comparison.
func decisionLines(ds []restore.Decision) []string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s %s %d", d.Path, d.Action, d.Size))
	}
	return out
}

// TestNewPlan asserts each mode's plan on values, without a disk.
func TestNewPlan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   *restore.Options
		want   []string
		counts restore.Counts
	}{
		{"Full", nil, []string{
			"a/changed restored 3",
			"a/dirHere restored 4",
			"a/dirHere/y removed 6",
			"a/extra removed 8",
			"a/fileHere dir 0",
			"a/fileHere/x restored 1",
			"a/missing restored 5",
			"a/older restored 3",
			"a/same unchanged 3",
			"b dir 0",
			"b/f restored 2",
			"c removed 9",
		}, restore.Counts{FilesRestored: 6, BytesRestored: 18, DirsCreated: 2, FilesUnchanged: 1, EntriesRemoved: 3}},
		{"Selective", &restore.Options{Mode: restore.Selective, Modules: []string{"a"}}, []string{
			"a/changed restored 3",
			"a/dirHere restored 4",
			"a/dirHere/y removed 6",
			"a/extra removed 8",
			"a/fileHere dir 0",
			"a/fileHere/x restored 1",
			"a/missing restored 5",
			"a/older restored 3",
			"a/same unchanged 3",
		}, restore.Counts{FilesRestored: 5, BytesRestored: 16, DirsCreated: 1, FilesUnchanged: 1, EntriesRemoved: 2}},
		{"Merge", &restore.Options{Mode: restore.Merge}, []string{
			"a/changed restored 3",
			"a/dirHere conflict 4",
			"a/fileHere conflict 0",
			"a/fileHere/x conflict 1",
			"a/missing restored 5",
			"a/older kept-newer 3",
			"a/same unchanged 3",
			"b dir 0",
			"b/f restored 2",
		}, restore.Counts{FilesRestored: 3, BytesRestored: 10, DirsCreated: 1, FilesUnchanged: 1, FilesKept: 1, Conflicts: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := restore.NewPlan(planSnapshot, planTarget, tc.opts)
			require.NoError(t, err)
			require.Equal(t, tc.want, decisionLines(p.Decisions))
			require.Equal(t, tc.counts, p.Counts)
			var tally restore.Counts
			for _, d := range p.Decisions {
				switch d.Action {
				case restore.ActionRestored:
					tally.FilesRestored++
					tally.BytesRestored += d.Size
				case restore.ActionDirCreated:
					tally.DirsCreated++
				case restore.ActionUnchanged:
					tally.FilesUnchanged++
				case restore.ActionKeptNewer:
					tally.FilesKept++
				case restore.ActionRemoved:
					tally.EntriesRemoved++
				case restore.ActionConflict:
					tally.Conflicts++
				}
			}
			require.Equal(t, tally, p.Counts, "counts tally the decisions")
		})
	}
}

func TestNewPlanReasons(t *testing.T) {
	reasons := func(opts *restore.Options) map[string]string {
		p, err := restore.NewPlan(planSnapshot, planTarget, opts)
		require.NoError(t, err)
		out := map[string]string{}
		for _, d := range p.Decisions {
			out[d.Path] = d.Reason
		}
		return out
	}
	full := reasons(nil)
	require.Equal(t, "target held a directory", full["a/dirHere"])
	require.Equal(t, "target held a file", full["a/fileHere"])
	require.Equal(t, "not in the snapshot", full["c"])
	merge := reasons(&restore.Options{Mode: restore.Merge})
	require.Contains(t, merge["a/dirHere"], "the target holds a directory where the snapshot has a file")
	require.Contains(t, merge["a/fileHere"], "the target holds a file where the snapshot has a directory")
	require.Contains(t, merge["a/fileHere/x"], `under "a/fileHere"`)
	require.Contains(t, merge["a/older"], "target modified 2026-01-03T00:00:00Z")
}

// TestNewPlanEdgeCases: what a plan takes as proof, what it refuses, and
// paths the snapshot lists no directory for.
func TestNewPlanEdgeCases(t *testing.T) {
	t.Run("SizeAndMtimeAreNoProof", func(t *testing.T) {
		p, err := restore.NewPlan([]backup.File{fileEntry("a/f", 3, "s")}, []backup.File{fileEntry("a/f", 3, "")}, nil)
		require.NoError(t, err)
		require.Equal(t, []string{"a/f restored 3"}, decisionLines(p.Decisions), "a target file without a hash is not unchanged")
	})
	t.Run("BadOptions", func(t *testing.T) {
		_, err := restore.NewPlan(planSnapshot, planTarget, &restore.Options{Mode: restore.Selective})
		require.ErrorIs(t, err, restore.ErrInvalidOptions)
		_, err = restore.NewPlan(planSnapshot, planTarget, &restore.Options{Mode: "sideways"})
		require.ErrorIs(t, err, restore.ErrInvalidOptions)
	})
	t.Run("PathLeavingTheTarget", func(t *testing.T) {
		_, err := restore.NewPlan([]backup.File{fileEntry("../x", 1, "s")}, nil, nil)
		require.ErrorContains(t, err, `"../x"`)
	})
	t.Run("ImpliedDirectories", func(t *testing.T) {
		// The snapshot lists no entry for d or f; the target's directory d
		// stays, its file f goes to make room for f/g.
		snap := []backup.File{fileEntry("d/e", 1, "s-e"), fileEntry("f/g", 1, "s-g")}
		target := []backup.File{dirEntry("d"), fileEntry("d/e", 1, "s-e"), fileEntry("f", 4, "")}
		p, err := restore.NewPlan(snap, target, nil)
		require.NoError(t, err)
		require.Equal(t, []string{"d/e unchanged 1", "f removed 4", "f/g restored 1"}, decisionLines(p.Decisions))
		p, err = restore.NewPlan(snap, target, &restore.Options{Mode: restore.Merge})
		require.NoError(t, err)
		require.Equal(t, []string{"d/e unchanged 1", "f/g conflict 1"}, decisionLines(p.Decisions))
	})
	t.Run("RemovalOfUnknownSize", func(t *testing.T) {
		// A Target that knows a file's size only by reading it (a table)
		// reports SizeUnknown: its removal counts no bytes, not -1.
		target := []backup.File{dirEntry("t"), fileEntry("t/rows", backup.SizeUnknown, ""), fileEntry("t/more", 5, "")}
		p, err := restore.NewPlan([]backup.File{fileEntry("u/rows", 1, "s")}, target, nil)
		require.NoError(t, err)
		require.Equal(t, []string{"t removed 5", "u/rows restored 1"}, decisionLines(p.Decisions))
	})
	t.Run("EmptyTarget", func(t *testing.T) {
		p, err := restore.NewPlan(planSnapshot, nil, &restore.Options{Mode: restore.Merge})
		require.NoError(t, err)
		require.Equal(t, restore.Counts{FilesRestored: 7, BytesRestored: 21, DirsCreated: 3}, p.Counts)
	})
}

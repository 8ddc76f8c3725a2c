package restore

import (
	"context"
	"io/fs"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
)

// A plan keeps its decisions and reads the entries again to carry them
// out: each visits every planned entry with its decision, and fails when
// the entries read again are not the ones planned (renamed, one more, one
// fewer), so a plan is never carried out on other entries than it decided.
func TestPlanEachReadsThePlannedEntriesAgain(t *testing.T) {
	mtime := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	entry := func(p string, dir bool) backup.File {
		e := backup.Entry{Path: p, Mode: 0o644, Size: 3, ModTime: mtime}
		if dir {
			e.Mode, e.Size = fs.ModeDir|0o755, 0
		}
		return backup.File{Entry: e, SHA256: "ab"}
	}
	planned := []backup.File{entry("app", true), entry("app/a", false), entry("app/b", false), entry("db/c", false)}
	p, err := NewPlan(planned, nil, &Options{Mode: Selective, Modules: []string{"app"}})
	require.NoError(t, err)
	require.Equal(t, []dirEntry{{0, planned[0].Entry}}, p.dirs, "the directory is kept, not the files")

	var seen []string
	require.NoError(t, p.each(context.Background(), func(i int, f backup.File) error {
		require.Equal(t, p.Decisions[i].Path, f.Path)
		seen = append(seen, f.Path)
		return nil
	}))
	require.Equal(t, []string{"app", "app/a", "app/b"}, seen, "every planned entry once, the unselected one not")

	renamed := append([]backup.File{}, planned...)
	renamed[2] = entry("app/x", false)
	more := append(append([]backup.File{}, planned...), entry("app/z", false))
	for name, again := range map[string][]backup.File{"renamed": renamed, "one more": more, "one fewer": planned[:3]} {
		q := *p
		q.source = sliceSource(again)
		err := q.each(context.Background(), func(int, backup.File) error { return nil })
		require.ErrorContains(t, err, "entry list changed while it was restored", name)
	}
}

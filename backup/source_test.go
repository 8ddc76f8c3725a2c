package backup_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/backup/sourcetest"
	"github.com/iluxsys/steward/storage"
)

func mapFS(tree sourcetest.Tree) fstest.MapFS {
	fsys := fstest.MapFS{}
	for p, b := range tree {
		if strings.HasSuffix(p, "/") {
			fsys[strings.TrimSuffix(p, "/")] = &fstest.MapFile{Mode: 0o755 | 1<<31, ModTime: time.Unix(1e9, 0)}
			continue
		}
		fsys[p] = &fstest.MapFile{Data: b, Mode: 0o644, ModTime: time.Unix(1e9, 0)}
	}
	return fsys
}

func TestSourceConformance(t *testing.T) {
	t.Run("DirSource", func(t *testing.T) {
		sourcetest.Run(t, func(t *testing.T, tree sourcetest.Tree) backup.Source {
			dir := t.TempDir()
			require.NoError(t, tree.WriteDir(dir))
			return backup.DirSource(dir)
		})
	})
	t.Run("FSSource", func(t *testing.T) {
		sourcetest.Run(t, func(t *testing.T, tree sourcetest.Tree) backup.Source {
			return backup.FSSource(mapFS(tree))
		})
	})
	t.Run("Modules", func(t *testing.T) {
		sourcetest.Run(t, func(t *testing.T, tree sourcetest.Tree) backup.Source {
			per := map[string]sourcetest.Tree{}
			for p, b := range tree {
				mod, rest, _ := strings.Cut(p, "/")
				if per[mod] == nil {
					per[mod] = sourcetest.Tree{}
				}
				if rest != "" {
					per[mod][rest] = b
				}
			}
			m := map[string]backup.Source{}
			for mod, sub := range per {
				m[mod] = backup.FSSource(mapFS(sub))
			}
			return backup.Modules(m)
		})
	})
}

// TestDirSourceYieldsSymlinksUnfollowed: links come as entries with their
// targets, read from the links themselves; nothing outside the tree is
// read, and nothing below a link to a directory is walked.
func TestDirSourceYieldsSymlinksUnfollowed(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	require.NoError(t, sourcetest.Tree{"m/real.txt": []byte("real")}.WriteDir(dir))
	require.NoError(t, sourcetest.Tree{"secret.txt": []byte("outside the tree")}.WriteDir(outside))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(dir, "m", "link.txt")))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "m", "linkdir")))
	got := map[string]string{}
	var paths []string
	for _, e := range sourcetest.Walk(t, backup.DirSource(dir)) {
		paths = append(paths, e.Path)
		if e.Mode&fs.ModeSymlink != 0 {
			require.Zero(t, e.Size, "a link's size is not content: %q", e.Path)
			got[e.Path] = e.LinkTarget
		}
	}
	require.Equal(t, []string{"m", "m/link.txt", "m/linkdir", "m/real.txt"}, paths, "links are entries; the linked directory is not entered")
	require.Equal(t, map[string]string{
		"m/link.txt": filepath.Join(outside, "secret.txt"),
		"m/linkdir":  outside,
	}, got, "each link carries its target verbatim")
}

// hardLinkSource yields src's entries with HardLinkTo set as links says.
type hardLinkSource struct {
	backup.Source
	links map[string]string
}

func (s hardLinkSource) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	return s.Source.Walk(ctx, func(e backup.Entry) error {
		e.HardLinkTo = s.links[e.Path]
		return fn(e)
	})
}

// TestBackupChecksHardLinks: a Source's HardLinkTo must name an earlier,
// valid path; on another entry than a regular file it is dropped.
func TestBackupChecksHardLinks(t *testing.T) {
	fsys := fstest.MapFS{"m/a": {Data: []byte("a")}, "m/b": {Data: []byte("a")}, "m/d": {Mode: fs.ModeDir | 0o755}}
	for _, tc := range []struct {
		name  string
		links map[string]string
		err   string
	}{
		{"earlier", map[string]string{"m/b": "m/a"}, ""},
		{"later", map[string]string{"m/a": "m/b"}, "not an earlier path"},
		{"itself", map[string]string{"m/a": "m/a"}, "not an earlier path"},
		{"invalid", map[string]string{"m/b": "../a"}, "not an earlier path"},
		{"directory", map[string]string{"m/d": "m/a"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := backup.New(storage.NewMemory(), nil)
			require.NoError(t, err)
			snap, err := e.Backup(master(), "acme", hardLinkSource{backup.FSSource(fsys), tc.links}, nil)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			for f, err := range e.Files(master(), "acme", snap.ID) {
				require.NoError(t, err)
				want := tc.links[f.Path]
				if !f.Mode.IsRegular() {
					want = ""
				}
				require.Equal(t, want, f.HardLinkTo, "%q", f.Path)
			}
		})
	}
}

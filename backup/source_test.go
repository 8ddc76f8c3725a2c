package backup_test

import (
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

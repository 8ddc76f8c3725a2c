//go:build unix

package backup_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// hardLinkTree writes m/a.txt linked at m/b.txt and m/sub/c.txt, and a
// file with one link, under dir.
func hardLinkTree(t *testing.T, dir string) {
	t.Helper()
	writeTree(t, dir, map[string][]byte{"m/a.txt": []byte("shared"), "m/single.txt": []byte("one"), "m/sub/x": nil})
	require.NoError(t, os.Link(filepath.Join(dir, "m", "a.txt"), filepath.Join(dir, "m", "b.txt")))
	require.NoError(t, os.Link(filepath.Join(dir, "m", "a.txt"), filepath.Join(dir, "m", "sub", "c.txt")))
}

// TestDirSourceNamesHardLinks: the second and later paths of a file with
// several links name the first one; the first path, and a file with one
// link, name none. Modules prefixes the first path with the module.
func TestDirSourceNamesHardLinks(t *testing.T) {
	dir := t.TempDir()
	hardLinkTree(t, dir)
	want := map[string]string{"m/a.txt": "", "m/b.txt": "m/a.txt", "m/single.txt": "", "m/sub/c.txt": "m/a.txt", "m/sub/x": ""}
	for name, src := range map[string]backup.Source{
		"dir":     backup.DirSource(dir),
		"modules": backup.Modules(map[string]backup.Source{"x": backup.DirSource(dir)}),
	} {
		t.Run(name, func(t *testing.T) {
			prefix := map[string]string{"dir": "", "modules": "x/"}[name]
			got := map[string]string{}
			require.NoError(t, src.Walk(master(), func(e backup.Entry) error {
				if e.Mode.IsRegular() {
					got[e.Path] = e.HardLinkTo
				}
				return nil
			}))
			w := map[string]string{}
			for p, first := range want {
				if first != "" {
					first = prefix + first
				}
				w[prefix+p] = first
			}
			require.Equal(t, w, got, "HardLinkTo by path (got, want)")
		})
	}
}

// TestBackupStoresHardLinks: a snapshot stores each path of a
// hard-linked file with its content (the same chunks) and the later
// paths with the first one. An incremental backup after the link was
// broken (one path replaced by a new file) stores that path as a file of
// its own, and the other paths still linked.
func TestBackupStoresHardLinks(t *testing.T) {
	dir := t.TempDir()
	hardLinkTree(t, dir)
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	snap, err := e.Backup(master(), "acme", backup.DirSource(dir), nil)
	require.NoError(t, err)
	require.EqualValues(t, 5, snap.Metadata.FileCount, "every path of a linked file counts")
	got := entriesOf(t, e, "acme", snap.ID)
	require.Empty(t, got["m/a.txt"].HardLinkTo)
	for _, p := range []string{"m/b.txt", "m/sub/c.txt"} {
		require.Equal(t, "m/a.txt", got[p].HardLinkTo, "%q names the first path", p)
		require.Equal(t, got["m/a.txt"].Chunks, got[p].Chunks, "%q has its own content, the same chunks", p)
		require.Equal(t, got["m/a.txt"].SHA256, got[p].SHA256)
	}
	data := readBack(t, e, "acme", snap.ID)
	require.Equal(t, "shared", string(data["m/b.txt"]))

	require.NoError(t, os.Remove(filepath.Join(dir, "m", "b.txt")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "m", "b.txt"), []byte("rewritten"), 0o644))
	snap2, err := e.Backup(master(), "acme", backup.DirSource(dir), &backup.Options{Type: backup.Incremental})
	require.NoError(t, err)
	got = entriesOf(t, e, "acme", snap2.ID)
	require.Empty(t, got["m/b.txt"].HardLinkTo, "the rewritten path is a file of its own")
	require.Equal(t, "m/a.txt", got["m/sub/c.txt"].HardLinkTo, "the other path is still a link")
	require.Equal(t, "rewritten", string(readBack(t, e, "acme", snap2.ID)["m/b.txt"]))
	require.Equal(t, "m/a.txt", entriesOf(t, e, "acme", snap.ID)["m/b.txt"].HardLinkTo, "the first snapshot keeps the link")
}

package backup

import (
	"fmt"
	"io"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// An entry list longer than the probe is chunked from the probe and the
// rest of the stream, one that fits from a buffer of its own size: either
// way the chunks, and so the manifest's tree, are the ones a probe of any
// size gives, and every file reads back.
func TestEntryListChunkedWhateverTheProbe(t *testing.T) {
	fsys := fstest.MapFS{}
	for i := range 300 {
		fsys[fmt.Sprintf("d%02d/f%03d.txt", i%17, i)] = &fstest.MapFile{Data: fmt.Appendf(nil, "file %d", i), ModTime: time.Unix(int64(i), 0)}
	}
	defer func(p int) { entryListProbe = p }(entryListProbe)
	e, err := New(storage.NewMemory(), nil)
	require.NoError(t, err)
	ctx := MasterContext()
	var trees [][]string
	for _, probe := range []int{1, 700, 256 << 10} {
		entryListProbe = probe
		snap, err := e.Backup(ctx, "acme", FSSource(fsys), &Options{Type: Full})
		require.NoError(t, err)
		r, err := e.openRepo(ctx, "acme", false, false, false)
		require.NoError(t, err)
		m, err := e.loadManifest(ctx, r, snap.ID)
		require.NoError(t, err)
		trees = append(trees, m.Tree)
		n := 0
		for f, err := range e.Files(ctx, "acme", snap.ID) {
			require.NoError(t, err)
			if !f.Mode.IsRegular() {
				continue
			}
			rc, err := e.OpenFile(ctx, "acme", f, nil)
			require.NoError(t, err)
			b, err := io.ReadAll(rc)
			require.NoError(t, rc.Close())
			require.NoError(t, err)
			require.Equal(t, fsys[f.Path].Data, b, "%s with a probe of %d bytes", f.Path, probe)
			n++
		}
		require.Equal(t, len(fsys), n, "files with a probe of %d bytes", probe)
	}
	require.Len(t, trees[0], len(trees[2]))
	require.Greater(t, len(trees[0]), 0)
	require.Equal(t, trees[2], trees[0], "a probe of 1 byte")
	require.Equal(t, trees[2], trees[1], "a probe of 700 bytes")
}

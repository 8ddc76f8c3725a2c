package repo

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// A saver fills its packs in files staged in a directory store (no
// temporary file to copy, nothing named in the store until the pack is
// whole), and in temporary files for a store that stages nothing; the
// chunks read back alike and no temporary file is left.
func TestPacksAreStagedWhereTheStoreCan(t *testing.T) {
	dir, err := storage.OpenDir(t.TempDir())
	require.NoError(t, err)
	// Linux stages where the file system has unnamed files (O_TMPFILE).
	canStage := false
	if f, err := storage.Stage(dir, "probe/x"); err == nil {
		canStage = true
		f.Close()
	}
	require.Equal(t, runtime.GOOS == "linux", canStage, "this machine's temporary directory stages")
	for _, tc := range []struct {
		name   string
		store  storage.Store
		staged bool
	}{
		{"directory", dir, canStage},
		{"memory", storage.NewMemory(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r, err := Open(ctx, tc.store, "tenants/t/", Options{Create: true, Encrypt: true, Keys: testKeys{7}, Scope: "t", Now: time.Now()})
			require.NoError(t, err)
			s := r.NewSaver(ctx, 1)
			s.tmpDir = t.TempDir()
			chunk := randBytes(1, 100_000)
			id := r.ChunkID(chunk)
			_, err = s.Save(id, chunk, true)
			require.NoError(t, err)
			temps, _ := filepath.Glob(filepath.Join(s.tmpDir, "steward-pack-*"))
			if tc.staged {
				require.Empty(t, temps, "a staged pack needs no temporary file")
			} else {
				require.Len(t, temps, 1)
			}
			require.Empty(t, keysUnder(t, tc.store, "tenants/t/packs/"), "no pack is named before it is whole")
			require.NoError(t, s.Flush())
			require.Len(t, keysUnder(t, tc.store, "tenants/t/packs/"), 1)
			got, err := r.LoadChunk(ctx, id, nil)
			require.NoError(t, err)
			require.Equal(t, chunk, got)
			left, err := os.ReadDir(s.tmpDir)
			require.NoError(t, err)
			require.Empty(t, left)
		})
	}
}

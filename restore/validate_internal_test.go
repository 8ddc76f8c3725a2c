package restore

import (
	"context"
	"io/fs"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
)

// allocatedWriting returns the bytes allocated while a 16 MiB file is
// written through tg.
func allocatedWriting(t *testing.T, tg Target, p string) uint64 {
	t.Helper()
	ctx := context.Background()
	chunk := make([]byte, 1<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	w, err := tg.Create(ctx, backup.Entry{Path: p, Mode: 0o644, Size: 16 << 20})
	require.NoError(t, err)
	for range 16 {
		_, err := w.Write(chunk)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDiscardTargetKeepsNoBytes: Validate's scratch target allocates next
// to nothing for a 16 MiB file, where MemoryTarget (the scratch target
// before) allocates at least the file; it counts the files closed, not the
// aborted ones, and holds no entries.
func TestDiscardTargetKeepsNoBytes(t *testing.T) {
	ctx := context.Background()
	kept := allocatedWriting(t, MemoryTarget(), "m/f")
	require.GreaterOrEqual(t, kept, uint64(16<<20), "MemoryTarget allocated %d bytes, want at least the 16 MiB it keeps", kept)
	d := &discardTarget{}
	dropped := allocatedWriting(t, d, "m/f")
	require.Less(t, dropped, uint64(64<<10), "discardTarget allocated %d bytes for a 16 MiB file, want under 64 KiB", dropped)
	require.EqualValues(t, 1, d.files.Load())

	w, err := d.Create(ctx, backup.Entry{Path: "m/aborted", Mode: 0o644})
	require.NoError(t, err)
	require.NoError(t, w.(Aborter).Abort())
	w, err = d.Create(ctx, backup.Entry{Path: "m/twice", Mode: 0o644})
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, w.Close())
	require.EqualValues(t, 2, d.files.Load(), "an aborted file is not counted, a file closed twice is counted once")

	w, err = d.Create(ctx, backup.Entry{Path: "m", Mode: fs.ModeDir | 0o755})
	require.NoError(t, err)
	require.Nil(t, w, "a directory has no writer")
	_, err = d.Create(ctx, backup.Entry{Path: "../x", Mode: 0o644})
	require.Error(t, err)
	_, err = d.Open(ctx, "m/f")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.NoError(t, d.Walk(ctx, func(e backup.Entry) error {
		t.Errorf("Walk yielded %q, want nothing", e.Path)
		return nil
	}))
}

//go:build unix

package backup_test

import (
	"context"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
)

// TestDirSourceFIFOSwapDoesNotHang: a file swapped for a named pipe after
// the walk saw it is refused at once (ErrSourceChanged), instead of the
// open waiting forever for a writer.
func TestDirSourceFIFOSwapDoesNotHang(t *testing.T) {
	f := newSwapFixture(t)
	src := backup.DirSource(f.root)
	es, err := walkAll(src, func(backup.Entry) {})
	require.NoError(t, err)
	e := entryAt(t, es, "victim.txt")
	f.replace(t, "victim.txt", func(p string) error { return syscall.Mkfifo(p, 0o644) })
	rc, err := backup.OpenEntry(context.Background(), src, e)
	require.ErrorIs(t, err, backup.ErrSourceChanged)
	require.True(t, rc == nil)
	rc, err = src.Open(context.Background(), "victim.txt")
	require.ErrorIs(t, err, backup.ErrSourceChanged)
	require.True(t, rc == nil)
}

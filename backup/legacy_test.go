package backup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// legacyFiles is what testdata/legacy-store holds: one full snapshot of
// these files in the encrypted scope "enc" and the plain scope "plain",
// written by main before configs carried a MAC, encryption followed the
// keys and metadata was sealed bound to its name.
var legacyFiles = map[string][]byte{
	"users/1.json":   []byte(`{"name":"ada"}`),
	"users/2.json":   []byte(`{"name":"grace"}`),
	"assets/big.txt": fmt.Appendf(nil, "%0200000d", 7),
}

// legacyStore copies testdata/legacy-store to a temporary directory.
func legacyStore(t *testing.T) storage.Store {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "legacy-store"))))
	store, err := storage.Open(master(), "file://"+filepath.ToSlash(dir))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	return store
}

func TestLegacyRepositoriesStillOpen(t *testing.T) {
	ctx := master()
	store := legacyStore(t)
	keys := backup.PassphraseWithOptions("fixture-pass", backup.PassphraseOptions{Time: 1, MemoryKiB: 1024, Threads: 1})
	e, err := backup.New(store, &backup.Config{Keys: keys})
	require.NoError(t, err)
	cat, err := e.Catalog(ctx, "enc")
	require.NoError(t, err)
	require.Len(t, cat, 1)
	require.Equal(t, legacyFiles, readBack(t, e, "enc", cat[0].ID))
	check, err := e.Check(ctx, "enc", &backup.CheckOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, check.OK(), "%+v", check)

	// New backups go on in the old scope, and the old snapshot still reads.
	more := fstest.MapFS{"users/3.json": {Data: []byte(`{"name":"linus"}`)}}
	snap, err := e.Backup(ctx, "enc", backup.FSSource(more), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	require.True(t, snap.Metadata.Encrypted)
	fresh, err := backup.New(store, &backup.Config{Keys: keys})
	require.NoError(t, err)
	require.Equal(t, legacyFiles, readBack(t, fresh, "enc", cat[0].ID))
	require.Equal(t, map[string][]byte{"users/3.json": []byte(`{"name":"linus"}`)}, readBack(t, fresh, "enc", snap.ID))

	// The plain scope opens with the explicit opt-in, and not without it.
	_, err = e.Catalog(ctx, "plain")
	require.ErrorIs(t, err, backup.ErrPlaintextScope)
	optIn, err := backup.New(store, &backup.Config{Keys: keys, AllowPlaintext: true})
	require.NoError(t, err)
	cat, err = optIn.Catalog(ctx, "plain")
	require.NoError(t, err)
	require.Equal(t, legacyFiles, readBack(t, optIn, "plain", cat[0].ID))
	noKeys, err := backup.New(store, nil)
	require.NoError(t, err)
	require.Equal(t, legacyFiles, readBack(t, noKeys, "plain", cat[0].ID))
}

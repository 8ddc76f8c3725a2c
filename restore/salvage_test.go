package restore_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
	"github.com/iluxsys/steward/storage/storetest"
)

// salvageFixture backs up three generations of a tree, each adding files,
// so that the last snapshot's content spans several packs (each backup
// writes its own). It returns the store, the last snapshot's ID and its
// files.
func salvageFixture(t *testing.T) (storage.Store, string, map[string]file) {
	store := storage.NewMemory()
	e, err := backup.New(store, nil)
	require.NoError(t, err)
	src := t.TempDir()
	all := map[string]file{}
	var id string
	for _, gen := range []map[string]file{
		{"users/1.json": {"ana", t0}, "users/2.json": {"bob", t0}},
		{"assets/logo.png": {"PNG", t1}, "assets/icon.png": {"ICO", t1}},
		{"reservations/r1.txt": {"r1", t2}, "reservations/r2.txt": {"r2", t2}},
	} {
		writeFiles(t, src, gen)
		for p, f := range gen {
			all[p] = f
		}
		snap, err := e.Backup(master(), "acme", backup.DirSource(src), &backup.Options{Type: backup.Incremental})
		require.NoError(t, err)
		id = snap.ID
	}
	return store, id, all
}

// unreadable returns the files of snapshot id that the engine over store
// cannot read whole: those stored (in part) in the damaged object. It
// returns nil when the entry list itself cannot be read (the object held
// entry-list chunks too): no file can be salvaged then.
func unreadable(t *testing.T, store storage.Store, id string) []string {
	t.Helper()
	e, err := backup.New(store, nil)
	require.NoError(t, err)
	var out []string
	for f, err := range e.Files(master(), "acme", id) {
		if err != nil {
			return nil
		}
		if !f.Mode.IsRegular() {
			continue
		}
		rc, err := e.OpenFile(master(), "acme", f, nil)
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			out = append(out, f.Path)
		}
	}
	return out
}

// TestContinueOnErrorSalvagesIntactFiles: with one byte flipped in one
// pack, or one pack missing, a restore with ContinueOnError restores every
// file the engine can read byte-identical, lists exactly the others as
// damaged with the pack's key, leaves none of them under its final name or
// as a temporary file, and ends with ErrDamaged.
func TestContinueOnErrorSalvagesIntactFiles(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, s storage.Store, key string)
		cause  error
	}{
		{"flipped byte", func(t *testing.T, s storage.Store, key string) {
			b, err := storage.ReadAll(ctx, s, key)
			require.NoError(t, err)
			b[0] ^= 0x01 // the first blob holds file content
			require.NoError(t, storage.PutBytes(ctx, s, key, b, nil))
		}, backup.ErrCorrupt},
		{"missing pack", func(t *testing.T, s storage.Store, key string) {
			require.NoError(t, s.Delete(ctx, key))
		}, storage.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, id, files := salvageFixture(t)
			packs := contentPacks(t, base, id)
			require.GreaterOrEqual(t, len(packs), 2, "the content spans several packs")
			var store storage.Store
			var key string
			var bad []string
			for _, k := range packs { // a pack holding some files, not all
				store = storetest.Clone(t, base)
				tc.damage(t, store, k)
				if bad = unreadable(t, store, id); len(bad) > 0 && len(bad) < len(files) {
					key = k
					break
				}
			}
			require.NotEmpty(t, key, "no pack holds only some of the files")
			t.Logf("%s: %d of %d files unreadable", key, len(bad), len(files))
			salvage(t, store, id, files, key, bad, tc.cause)
		})
	}
}

// salvage restores id from store, where the object key is damaged and the
// files bad cannot be read, with ContinueOnError, and checks the outcome.
func salvage(t *testing.T, store storage.Store, id string, files map[string]file, key string, bad []string, cause error) {
	t.Helper()
	e, err := backup.New(store, nil)
	require.NoError(t, err)
	dst := t.TempDir()
	rep, err := restore.New(e, nil).Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{ContinueOnError: true, Validate: true})
	require.ErrorIs(t, err, restore.ErrDamaged)
	require.ErrorIs(t, err, cause, "the first damaged file's cause is reachable")
	require.NotNil(t, rep)
	require.Contains(t, err.Error(), fmt.Sprintf("%d files of snapshot %s could not be read whole", len(bad), id))
	require.False(t, rep.Validated, "a restore with damaged files is not validated whole")

	var damaged []string
	for _, d := range rep.Damaged {
		damaged = append(damaged, d.Path)
		require.Equal(t, key, d.Object, "%s: the object at fault", d.Path)
		require.NotEmpty(t, d.Err)
	}
	require.Equal(t, bad, damaged, "exactly the files the engine cannot read are damaged, in path order")
	require.Equal(t, len(files)-len(bad), rep.FilesRestored)

	got := tree(t, dst)
	for p, f := range files {
		if slices.Contains(bad, p) {
			require.NotContains(t, got, p, "a damaged file is not published")
			continue
		}
		require.Equal(t, f, got[p], "%s restored byte-identical with its mtime", p)
	}
	require.NoError(t, filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		require.False(t, strings.HasPrefix(d.Name(), ".steward-restore-"), "temporary file %s left behind", p)
		return nil
	}))
	require.Len(t, got, len(files)-len(bad), "nothing else in the target")
	_, statErr := os.Stat(filepath.Join(dst, filepath.FromSlash(bad[0])))
	require.ErrorIs(t, statErr, fs.ErrNotExist)
}

// TestWithoutContinueOnErrorTheFirstDamageStops: the default is unchanged:
// the restore stops with the damaged file's error, not ErrDamaged.
func TestWithoutContinueOnErrorTheFirstDamageStops(t *testing.T) {
	base, id, _ := salvageFixture(t)
	packs := contentPacks(t, base, id)
	for _, k := range packs {
		require.NoError(t, base.Delete(context.Background(), k))
	}
	e, err := backup.New(base, nil)
	require.NoError(t, err)
	rep, err := restore.New(e, nil).Restore(master(), "acme", id, restore.MemoryTarget(), nil)
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.NotErrorIs(t, err, restore.ErrDamaged)
	// The report is nil when the entry list itself was in a deleted pack.
	require.True(t, rep == nil || len(rep.Damaged) == 0, "without ContinueOnError nothing is salvaged: %+v", rep)
}

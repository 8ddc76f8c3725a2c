package backup_test

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/storage"
)

// failAfterPacks fails its walk after the entry "m/big", once the store
// holds a pack of the scope: the backup has uploaded data by then.
type failAfterPacks struct {
	backup.Source
	store storage.Store
}

func (f failAfterPacks) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	return f.Source.Walk(ctx, func(en backup.Entry) error {
		if en.Path == "m/zz" {
			deadline := time.Now().Add(20 * time.Second)
			for !hasObject(f.store, "tenants/acme/packs/") {
				if time.Now().After(deadline) {
					return errors.New("no pack was uploaded")
				}
				time.Sleep(10 * time.Millisecond)
			}
			return errors.New("walk broke midway")
		}
		return fn(en)
	})
}

func hasObject(s storage.Store, prefix string) bool {
	for _, err := range s.List(context.Background(), prefix) {
		return err == nil
	}
	return false
}

// TestFailedFirstBackupLeavesStoreAsItWas: a first backup of a missing
// directory writes nothing at all; one whose Source fails midway, after a
// pack was uploaded, leaves every object (listing and contents) as it
// was, with no registry entry; the next good backup works and creates the
// scope, encrypted as asked.
func TestFailedFirstBackupLeavesStoreAsItWas(t *testing.T) {
	mem := storage.NewMemory()
	counted := faultstore.New(mem, 0)
	keys := backup.Passphrase("correct horse")
	e, err := backup.New(counted, &backup.Config{Keys: keys})
	require.NoError(t, err)
	_, err = e.Backup(master(), "globex", backup.FSSource(fstest.MapFS{"m/a": {Data: []byte("other tenant")}}), nil)
	require.NoError(t, err)
	before := objects(t, mem)
	puts, deletes := counted.Calls(faultstore.OpPut), counted.Calls(faultstore.OpDelete)

	_, err = e.Backup(master(), "acme", backup.DirSource(t.TempDir()+"/mistyped"), nil)
	require.Error(t, err)
	require.Equal(t, puts, counted.Calls(faultstore.OpPut), "a source that fails at once made a store write")
	require.Equal(t, deletes, counted.Calls(faultstore.OpDelete), "a source that fails at once made a store delete")
	require.Equal(t, before, objects(t, mem))

	big := randBytes(11, 17<<20) // more than a pack
	fsys := fstest.MapFS{"m/big": {Data: big}, "m/zz": {Data: []byte("z")}}
	_, err = e.Backup(master(), "acme", failAfterPacks{backup.FSSource(fsys), mem}, nil)
	require.ErrorContains(t, err, "walk broke midway")
	require.Equal(t, before, objects(t, mem), "the failed first backup changed the store")
	tenants, err := e.Tenants(master())
	require.NoError(t, err)
	require.Equal(t, []string{"globex"}, tenants)

	snap, err := e.Backup(master(), "acme", backup.FSSource(fsys), nil)
	require.NoError(t, err)
	require.True(t, snap.Metadata.Encrypted)
	tenants, err = e.Tenants(master())
	require.NoError(t, err)
	require.Equal(t, []string{"acme", "globex"}, tenants)
	chk, err := e.Check(master(), "acme", &backup.CheckOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, chk.OK(), "check: %v", chk.Problems)
}

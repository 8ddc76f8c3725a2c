package backup_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/storage"
)

// forgetFixture backs up two snapshots of "acme" over a counting store.
func forgetFixture(t *testing.T, encrypt bool) (*backup.Engine, storage.Store, *faultstore.Store, []string) {
	t.Helper()
	base := storage.NewMemory()
	counter := faultstore.New(base, 1)
	e, err := backup.New(counter, &backup.Config{Keys: cheapKeys("p")})
	require.NoError(t, err)
	var ids []string
	for i := range 2 {
		fsys := fstest.MapFS{"a.txt": {Data: []byte(fmt.Sprint("generation ", i))}}
		s, err := e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: encrypt})
		require.NoError(t, err)
		ids = append(ids, s.ID)
	}
	return e, base, counter, ids
}

func storeCalls(s *faultstore.Store) int64 {
	var n int64
	for _, op := range faultstore.Ops {
		n += s.Calls(op)
	}
	return n
}

func TestForgetRefusesInvalidIDsBeforeAnyIO(t *testing.T) {
	e, base, counter, ids := forgetFixture(t, false)
	before := objects(t, base)
	for _, tc := range []struct{ name, bad string }{
		{"empty", ""},
		{"path", "../x"},
		{"path to another scope", "../../tenants/other/snapshots/" + ids[0]},
		{"not a UUID", "snapshot-1"},
		{"latest", "latest"},
		{"uppercase", strings.ToUpper(ids[0])},
		{"braces", "{" + ids[0] + "}"},
		{"URN", "urn:uuid:" + ids[0]},
		{"no hyphens", strings.ReplaceAll(ids[0], "-", "")},
		{"named twice", ids[1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := storeCalls(counter)
			err := e.Forget(master(), "acme", ids[1], tc.bad)
			require.ErrorIs(t, err, backup.ErrInvalidOptions, "Forget(%q): got %v", tc.bad, err)
			require.Contains(t, err.Error(), fmt.Sprintf("%q", tc.bad), "the error names the ID")
			require.Equal(t, calls, storeCalls(counter), "Forget(%q) called the store", tc.bad)
			require.Equal(t, before, objects(t, base), "Forget(%q) changed the store", tc.bad)
		})
	}
	require.NoError(t, e.Forget(master(), "acme", ids[1]), "a valid ID is still forgotten")
}

func TestForgetRefusesCorruptManifestUnlessForced(t *testing.T) {
	for _, encrypt := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypt), func(t *testing.T) {
			e, base, _, ids := forgetFixture(t, encrypt)
			flipManifestByte(t, base, ids[0])
			before := objects(t, base)

			err := e.Forget(master(), "acme", ids[1], ids[0])
			require.ErrorIs(t, err, backup.ErrCorrupt, "Forget of a corrupt manifest: got %v", err)
			require.Contains(t, err.Error(), ids[0])
			require.Equal(t, before, objects(t, base), "a refused Forget deleted something")

			err = e.ForgetWithOptions(master(), "acme", []string{ids[0]}, &backup.ForgetOptions{Force: true})
			require.NoError(t, err)
			after := objects(t, base)
			require.Len(t, after, len(before)-1, "Force deletes the one manifest")
			for k := range before {
				if strings.HasSuffix(k, "snapshots/"+ids[0]) {
					require.NotContains(t, after, k, "the corrupt manifest is still there")
				}
			}
			cat, err := e.Catalog(master(), "acme")
			require.NoError(t, err)
			require.Len(t, cat, 1)
			require.Equal(t, ids[1], cat[0].ID, "the other snapshot is kept")
		})
	}
}

// flipManifestByte flips one byte in the middle of snapshot id's stored
// manifest.
func flipManifestByte(t *testing.T, s storage.Store, id string) {
	t.Helper()
	ctx := context.Background()
	for k, v := range objects(t, s) {
		if strings.HasSuffix(k, "snapshots/"+id) {
			b := []byte(v)
			b[len(b)/2] ^= 0x01
			require.NoError(t, storage.PutBytes(ctx, s, k, b, nil))
			return
		}
	}
	t.Fatalf("no manifest of snapshot %s in the store", id)
}

package backup

import (
	"context"
	"encoding/json"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/internal/repo"
	"github.com/iluxsys/steward/storage"
)

// TestCraftedManifestWithTraversalIsRefused writes a manifest whose entry
// list names "../evil" straight into the store (as an attacker with write
// access to the bucket could) and checks that reading it fails as corrupt.
func TestCraftedManifestWithTraversalIsRefused(t *testing.T) {
	for _, bad := range []string{"../evil", "/etc/passwd", "a/../../b", `a\b`} {
		ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
		store := storage.NewMemory()
		r, err := repo.Open(ctx, store, "tenants/acme/", repo.Options{Create: true, Now: time.Now()})
		require.NoError(t, err)
		line, _ := json.Marshal(fileLine{P: bad, S: 0, M: 0o644})
		line = append(line, '\n')
		id := r.ChunkID(line)
		s := r.NewSaver(ctx, 1)
		_, err = s.Save(id, line, false)
		require.NoError(t, err)
		require.NoError(t, s.Flush())
		m := &manifest{Format: 1, Tree: []string{id.String()}}
		m.Snapshot = Snapshot{ID: "crafted", Tenant: "acme", Type: Full, Timestamp: time.Now().UTC(), Checksums: map[string]string{}}
		m.Checksums["manifest"] = manifestChecksum(m)
		body, _ := json.Marshal(m)
		require.NoError(t, r.SaveSnapshot(ctx, "crafted", body))
		require.NoError(t, storage.PutBytes(ctx, store, registryPrefix+"acme", []byte("x"), nil))

		e, err := New(store, nil)
		require.NoError(t, err)
		var sawErr error
		for _, err := range e.Files(ctx, "acme", "crafted") {
			if err != nil {
				sawErr = err
			}
		}
		require.ErrorIs(t, sawErr, ErrCorrupt, "path %q", bad)
	}
}

func FuzzDecodeManifest(f *testing.F) {
	m := &manifest{Format: 1, Tree: []string{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}
	m.Snapshot = Snapshot{ID: "x", Type: Full, Checksums: map[string]string{"users": "ab"}}
	good, _ := json.Marshal(m)
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":1,"id":"a","type":"full","tree":["x"]}`))
	partial := *m
	partial.Metadata.Partial = true
	partial.Skipped = []Skipped{{Path: "users/1", Reason: "permission denied"}}
	withSkips, _ := json.Marshal(&partial)
	f.Add(withSkips)
	f.Add([]byte(`{"format":2,"id":"a","type":"full","tree":[],"metadata":{"partial":true},"skipped":[{"path":"d","reason":"x"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeManifest(b)
		if err != nil {
			return
		}
		sum := manifestChecksum(m) // must not panic
		// Round trip: what decodes encodes to a manifest that decodes to
		// the same value (skipped list and partial flag included).
		enc, err := json.Marshal(m)
		require.NoError(t, err)
		m2, err := decodeManifest(enc)
		require.NoError(t, err, "re-encoded manifest does not decode")
		enc2, err := json.Marshal(m2)
		require.NoError(t, err)
		require.Equal(t, string(enc), string(enc2))
		require.Equal(t, sum, manifestChecksum(m2))
		require.Equal(t, len(m.Skipped), len(m2.Skipped))
		require.Equal(t, m.Metadata.Partial, m2.Metadata.Partial)
	})
}

func FuzzEntryLine(f *testing.F) {
	f.Add([]byte(`{"p":"users/1","s":3,"m":420,"t":0,"h":"ab","c":["x"],"z":[3]}`))
	f.Add([]byte(`{"p":"../x","s":0,"m":2147484141}`))
	f.Add([]byte(`{"p":"m/b","s":1,"m":420,"t":5,"h":"ab","c":["x"],"z":[1],"hl":"m/a"}`))
	f.Add([]byte(`{"p":"m/z","s":0,"m":420,"t":5,"hlb":"bS9j6Q=="}`))
	f.Add([]byte(`{"p":"m/a","s":0,"m":420,"t":5,"hl":"m/b"}`))
	f.Add([]byte(`{"p":"m/l","s":0,"m":134218239,"l":"a","hl":"m/a"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var l fileLine
		if json.Unmarshal(b, &l) != nil {
			return
		}
		file, err := l.file()
		if err != nil {
			return
		}
		if file.Mode.IsRegular() {
			var total int64
			for _, c := range file.Chunks {
				total += c.Size
			}
			if total != file.Size {
				t.Fatalf("accepted an entry whose chunks hold %d bytes for size %d", total, file.Size)
			}
		}
		if file.HardLinkTo != "" && (!file.Mode.IsRegular() || file.HardLinkTo >= file.Path) {
			t.Fatalf("accepted %q (mode %v) as a hard link to %q", file.Path, file.Mode, file.HardLinkTo)
		}
		// Round trip: what decodes encodes to a line that decodes to the
		// same entry (path, link target and hard link byte for byte).
		enc, err := json.Marshal(lineOf(&file))
		require.NoError(t, err)
		var l2 fileLine
		require.NoError(t, json.Unmarshal(enc, &l2))
		file2, err := l2.file()
		require.NoError(t, err, "re-encoded entry %s does not decode", enc)
		require.Equal(t, file, file2, "entry after a round trip (got, want)")
	})
}

// TestPruneLockKeepsBackupsOut: while prune holds the exclusive lock, a
// backup of the same tenant is refused with ErrLocked and writes no
// snapshot; once released, it runs.
func TestPruneLockKeepsBackupsOut(t *testing.T) {
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
	store := storage.NewMemory()
	e, err := New(store, nil)
	require.NoError(t, err)
	src := FSSource(fstest.MapFS{"m/f": {Data: []byte("x")}})
	_, err = e.Backup(ctx, "acme", src, nil)
	require.NoError(t, err)
	r, err := e.repo(ctx, "acme", false, false)
	require.NoError(t, err)
	lock, err := r.Lock(ctx, true, "prune by test", time.Now)
	require.NoError(t, err)
	_, err = e.Backup(ctx, "acme", src, nil)
	require.ErrorIs(t, err, ErrLocked)
	require.Contains(t, err.Error(), "prune by test")
	cat, err := e.Catalog(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, cat, 1, "the refused backup wrote no snapshot")
	require.NoError(t, lock.Unlock(ctx))
	_, err = e.Backup(ctx, "acme", src, nil)
	require.NoError(t, err)
}

package release_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/storage"
)

// FuzzGetRelease stores the fuzzed bytes as a release definition and reads
// it back through Manager.Get: bad bytes are an error, never a panic, and a
// definition that decodes re-encodes to one that decodes the same.
func FuzzGetRelease(f *testing.F) {
	ctx := master()
	store := storage.NewMemory()
	e, err := backup.New(store, nil)
	require.NoError(f, err)
	m, err := release.NewManager(store, &release.Config{Engine: e})
	require.NoError(f, err)
	r, err := m.Create(ctx, release.Spec{Channel: "prod", Version: "1.0.0", Name: "first", Artifact: backup.FSSource(files("1.0.0")),
		Forward:  []release.Migration{{ID: "1", SQL: "CREATE TABLE a (x INTEGER)"}},
		Backward: []release.Migration{{ID: "1", SQL: "DROP TABLE a"}},
		BuildID:  "42", CommitSHA: "0123abc", Branch: "main", Components: []release.Component{{Name: "app", Version: "1.0.0"}}})
	require.NoError(f, err)
	const key = "releases/defs/" + "prod-1.0.0" + ".json"
	good, err := storage.ReadAll(ctx, store, key)
	require.NoError(f, err)
	require.Equal(f, r.ID, "prod-1.0.0")
	f.Add(good)
	f.Add([]byte(`{"id":"prod-1.0.0","sbom":null}`))
	f.Add([]byte(`{"created_at":"not a time"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		require.NoError(t, storage.PutBytes(ctx, store, key, b, nil))
		r1, err := m.Get(ctx, "prod-1.0.0")
		if err != nil {
			require.NotErrorIs(t, err, release.ErrNotFound)
			return
		}
		b1, err := json.Marshal(r1)
		require.NoError(t, err, "a decoded release does not encode")
		require.NoError(t, storage.PutBytes(ctx, store, key, b1, nil))
		r2, err := m.Get(ctx, "prod-1.0.0")
		require.NoError(t, err, "a re-encoded release does not decode")
		b2, err := json.Marshal(r2)
		require.NoError(t, err)
		require.Equal(t, string(b1), string(b2), "re-encoding is not stable")
		require.True(t, r1.CreatedAt.Equal(r2.CreatedAt))
		// omitempty turns an empty migration list into an absent (nil) one.
		require.Equal(t, len(r1.Forward), len(r2.Forward))
		require.Equal(t, len(r1.Backward), len(r2.Backward))
		if len(r1.Forward) > 0 {
			require.Equal(t, r1.Forward, r2.Forward)
		}
		if len(r1.Backward) > 0 {
			require.Equal(t, r1.Backward, r2.Backward)
		}
	})
}

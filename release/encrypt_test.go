package release_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/storage"
)

// TestImplicitScopesAreEncrypted: on an engine with keys, the scopes a
// release creates without being asked (its artifact in _releases, the
// safety backups of tenants and of the general structure) are encrypted,
// though neither Create nor SafetyBackupAll sets Options.Encrypt.
func TestImplicitScopesAreEncrypted(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	keys := backup.PassphraseWithOptions("p", backup.PassphraseOptions{Time: 1, MemoryKiB: 1024, Threads: 1})
	e, err := backup.New(store, &backup.Config{Keys: keys})
	require.NoError(t, err)
	m, err := release.NewManager(store, &release.Config{Engine: e})
	require.NoError(t, err)
	spec := release.Spec{Channel: "prod", Version: "1.0.0", Artifact: backup.FSSource(files("1.0.0"))}
	rel, err := m.Create(ctx, spec)
	require.NoError(t, err)
	snap, err := e.Snapshot(ctx, backup.Releases, rel.ArtifactSnapshot)
	require.NoError(t, err)
	require.True(t, snap.Metadata.Encrypted, "the release artifact's scope")

	sources := func(context.Context) (map[string]backup.Source, error) {
		return map[string]backup.Source{"acme": backup.FSSource(fstest.MapFS{"users/1": {Data: []byte("row")}})}, nil
	}
	ids, err := release.SafetyBackupAll(e, sources, backup.FSSource(fstest.MapFS{"css/app.css": {Data: []byte("x")}}))(ctx, rel)
	require.NoError(t, err)
	require.Len(t, ids, 2)
	for _, scope := range []string{"acme", backup.General} {
		cat, err := e.Catalog(ctx, scope)
		require.NoError(t, err)
		require.Len(t, cat, 1)
		require.True(t, cat[0].Metadata.Encrypted, "the safety backup of %s", scope)
	}
}

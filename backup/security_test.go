package backup_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/repo"
	"github.com/iluxsys/steward/storage"
)

func TestScopesFollowTheKeys(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
	require.NoError(t, err)
	src := backup.FSSource(fstest.MapFS{"m/a": {Data: []byte("secret-marker")}})
	for _, scope := range []string{"acme", backup.General, backup.Releases} {
		snap, err := e.Backup(ctx, scope, src, nil)
		require.NoError(t, err, scope)
		require.True(t, snap.Metadata.Encrypted, "a backup with nil options on an engine with keys encrypts %s", scope)
	}
	require.NoError(t, e.Init(ctx, "beta", false))
	snap, err := e.Backup(ctx, "beta", src, &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	require.True(t, snap.Metadata.Encrypted, "Init without encrypt on an engine with keys makes an encrypted scope")
	for k, v := range objects(t, store) {
		require.NotContains(t, v, "secret-marker", "object %s holds plaintext", k)
	}
}

// downgrade rewrites prefix's config to say unencrypted (its checksum
// recomputed, as a store writer can), plants a plain key and deletes the
// index and snapshots, as issue 15 describes the attack.
func downgrade(t *testing.T, store storage.Store, prefix string) {
	t.Helper()
	ctx := context.Background()
	b, err := storage.ReadAll(ctx, store, prefix+"config")
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(b, &c))
	c["encrypted"], c["checksum"] = false, ""
	delete(c, "cipher")
	delete(c, "mac")
	var cfg repo.Config
	raw, _ := json.Marshal(c)
	require.NoError(t, json.Unmarshal(raw, &cfg))
	plain, _ := json.Marshal(cfg)
	sum := sha256.Sum256(plain)
	cfg.Checksum = hex.EncodeToString(sum[:])
	forged, _ := json.Marshal(cfg)
	require.NoError(t, storage.PutBytes(ctx, store, prefix+"config", forged, nil))
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	kb, _ := json.Marshal(map[string]any{"config_id": cfg.ID, "plain": key})
	require.NoError(t, storage.PutBytes(ctx, store, prefix+"key", kb, nil))
	for oi, err := range store.List(ctx, prefix) {
		require.NoError(t, err)
		if strings.HasPrefix(oi.Key, prefix+"index/") || strings.HasPrefix(oi.Key, prefix+"snapshots/") {
			require.NoError(t, store.Delete(ctx, oi.Key))
		}
	}
}

func TestConfigDowngradeIsRefused(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	keys := cheapKeys("p")
	e, err := backup.New(store, &backup.Config{Keys: keys})
	require.NoError(t, err)
	src := backup.FSSource(fstest.MapFS{"m/a": {Data: []byte("secret-marker")}})
	_, err = e.Backup(ctx, "acme", src, nil)
	require.NoError(t, err)

	downgrade(t, store, "tenants/acme/")
	before := objects(t, store)
	e2, err := backup.New(store, &backup.Config{Keys: keys})
	require.NoError(t, err)
	_, err = e2.Backup(ctx, "acme", src, nil)
	require.ErrorIs(t, err, backup.ErrPlaintextScope)
	require.Contains(t, err.Error(), `"acme"`)
	require.Equal(t, before, objects(t, store), "the refused backup wrote nothing")
	_, err = e2.Catalog(ctx, "acme")
	require.ErrorIs(t, err, backup.ErrPlaintextScope)
}

func TestPlaintextScopeNeedsOptIn(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	plain, err := backup.New(store, nil)
	require.NoError(t, err)
	src := backup.FSSource(fstest.MapFS{"m/a": {Data: []byte("x")}})
	_, err = plain.Backup(ctx, "acme", src, nil)
	require.NoError(t, err)

	keyed, err := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
	require.NoError(t, err)
	_, err = keyed.Catalog(ctx, "acme")
	require.ErrorIs(t, err, backup.ErrPlaintextScope)

	optIn, err := backup.New(store, &backup.Config{Keys: cheapKeys("p"), AllowPlaintext: true})
	require.NoError(t, err)
	cat, err := optIn.Catalog(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, cat, 1)
	snap, err := optIn.Backup(ctx, "fresh", src, nil)
	require.NoError(t, err)
	require.False(t, snap.Metadata.Encrypted, "with AllowPlaintext, new scopes follow Options.Encrypt")
}

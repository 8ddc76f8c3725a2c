package backup_test

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// objects returns every object of s, key -> content.
func objects(t *testing.T, s storage.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for oi, err := range s.List(ctx, "") {
		require.NoError(t, err)
		b, err := storage.ReadAll(ctx, s, oi.Key)
		require.NoError(t, err)
		out[oi.Key] = string(b)
	}
	return out
}

// recorder collects audit events.
type recorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *recorder) Record(_ context.Context, ev audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return nil
}

func TestInitThenEncryptedBackup(t *testing.T) {
	store := storage.NewMemory()
	aud := &recorder{}
	e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p"), Auditor: aud})
	require.NoError(t, err)
	ctx := master()
	require.NoError(t, e.Init(ctx, "acme", true))

	objs := objects(t, store)
	for _, k := range []string{"tenants/acme/config", "tenants/acme/key", "registry/tenants/acme"} {
		require.Contains(t, objs, k, "Init wrote %v; want %s among them", keys(objs), k)
	}
	require.NotContains(t, objs["tenants/acme/key"], `"plain"`, "an encrypted scope's data key is stored in clear")
	cat, err := e.Catalog(ctx, "acme")
	require.NoError(t, err)
	require.Empty(t, cat, "Init takes no snapshot")
	ts, err := e.Tenants(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"acme"}, ts)
	require.Len(t, aud.events, 1)
	require.Equal(t, audit.TypeRepoInitialized, aud.events[0].Type)
	require.Equal(t, audit.LevelInfo, aud.events[0].Level)
	require.Equal(t, "ops", aud.events[0].UserID)
	require.Equal(t, "acme", aud.events[0].Tenant)

	// A wrong passphrase is refused: the key was wrapped with "p".
	wrong, err := backup.New(store, &backup.Config{Keys: cheapKeys("not p")})
	require.NoError(t, err)
	_, err = wrong.Catalog(ctx, "acme")
	require.ErrorIs(t, err, backup.ErrWrongKey)

	// Another engine over the same store backs up into the scope Init made.
	e2, err := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
	require.NoError(t, err)
	fsys := fstest.MapFS{"m1/a.txt": {Data: []byte("alpha")}, "m2/b.txt": {Data: []byte("beta")}}
	snap, err := e2.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: true})
	require.NoError(t, err)
	require.Equal(t, objs["tenants/acme/config"], objects(t, store)["tenants/acme/config"], "Backup replaced the config Init wrote")
	require.Equal(t, map[string][]byte{"m1/a.txt": []byte("alpha"), "m2/b.txt": []byte("beta")}, readBack(t, e2, "acme", snap.ID))
	cat, err = e2.Catalog(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, cat, 1)
	require.Equal(t, snap.ID, cat[0].ID)
}

func TestInitUnencryptedScopeRefusesEncryptedBackup(t *testing.T) {
	e, err := backup.New(storage.NewMemory(), &backup.Config{Keys: cheapKeys("p"), AllowPlaintext: true})
	require.NoError(t, err)
	ctx := master()
	require.NoError(t, e.Init(ctx, backup.General, false))
	_, err = e.Backup(ctx, backup.General, backup.FSSource(fstest.MapFS{"m/a": {Data: []byte("x")}}), &backup.Options{Encrypt: true})
	require.ErrorIs(t, err, backup.ErrInvalidOptions)
	ts, err := e.Tenants(ctx)
	require.NoError(t, err)
	require.Empty(t, ts, "General is not a tenant")
}

func TestInitExistingScopeIsErrExistsAndChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name            string
		first, second   bool // encrypt
		dropConfig      bool // an interrupted create: the key without its config
		backupInBetween bool
	}{
		{name: "twice encrypted", first: true, second: true},
		{name: "twice unencrypted", first: false, second: false},
		{name: "encrypted then unencrypted", first: true, second: false},
		{name: "unencrypted then encrypted", first: false, second: true},
		{name: "after a backup", first: true, second: true, backupInBetween: true},
		{name: "interrupted create", first: true, second: true, dropConfig: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := storage.NewMemory()
			ctx := master()
			e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
			require.NoError(t, err)
			require.NoError(t, e.Init(ctx, "acme", tc.first))
			if tc.backupInBetween {
				_, err := e.Backup(ctx, "acme", backup.FSSource(fstest.MapFS{"m/a": {Data: []byte("x")}}), &backup.Options{Encrypt: true})
				require.NoError(t, err)
			}
			if tc.dropConfig {
				require.NoError(t, store.Delete(context.Background(), "tenants/acme/config"))
			}
			before := objects(t, store)

			for _, eng := range []*backup.Engine{e, mustNew(t, store)} {
				err = eng.Init(ctx, "acme", tc.second)
				require.ErrorIs(t, err, backup.ErrExists)
				require.ErrorContains(t, err, `"acme"`)
				require.Equal(t, before, objects(t, store), "a refused Init changed the store")
			}
		})
	}
}

func mustNew(t *testing.T, store storage.Store) *backup.Engine {
	t.Helper()
	e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
	require.NoError(t, err)
	return e
}

func TestInitBadInputWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tenant  string
		encrypt bool
		keys    backup.KeyProvider
		want    error
	}{
		{name: "empty tenant", tenant: "", want: steward.ErrInvalidTenant},
		{name: "uppercase and slash", tenant: "Acme/1", encrypt: true, keys: cheapKeys("p"), want: steward.ErrInvalidTenant},
		{name: "dot dot", tenant: "..", want: steward.ErrInvalidTenant},
		{name: "encrypt without keys", tenant: "acme", encrypt: true, want: backup.ErrInvalidOptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := storage.NewMemory()
			aud := &recorder{}
			e, err := backup.New(store, &backup.Config{Keys: tc.keys, Auditor: aud})
			require.NoError(t, err)
			before := len(objects(t, store))
			err = e.Init(master(), tc.tenant, tc.encrypt)
			require.ErrorIs(t, err, tc.want)
			require.Len(t, objects(t, store), before, "a refused Init wrote objects")
			require.Empty(t, aud.events, "bad input is refused before the audited operation")
		})
	}
}

func TestInitNeedsMaster(t *testing.T) {
	store := storage.NewMemory()
	aud := &recorder{}
	e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p"), Auditor: aud})
	require.NoError(t, err)
	viewer := steward.WithPrincipal(context.Background(), steward.Principal{ID: "intruder", Roles: []string{"viewer"}})
	require.ErrorIs(t, e.Init(viewer, "acme", true), steward.ErrForbidden)
	require.ErrorIs(t, e.Init(context.Background(), "acme", false), steward.ErrUnauthenticated)
	require.Empty(t, objects(t, store), "a refused Init wrote objects")
	require.Len(t, aud.events, 2)
	require.Equal(t, audit.TypeAccessDenied, aud.events[0].Type)
	require.Equal(t, "intruder", aud.events[0].UserID)

	// The refusals left nothing behind: the master can still create it.
	require.NoError(t, e.Init(master(), "acme", true))
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

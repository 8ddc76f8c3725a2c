package steward_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/s3test"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
	_ "github.com/iluxsys/steward/storage/cloud"
)

// TestS3EndToEnd runs the whole quickstart scenario — backup, incremental,
// restore, prune, release deploy and rollback, audit verification —
// against an S3 API server on loopback, through storage.Open("s3://...").
func TestS3EndToEnd(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	srv := s3test.Start(t)
	srv.Store(t, "steward-e2e").Close()
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "e2e", Roles: []string{steward.RoleMaster}})
	store, err := storage.Open(ctx, srv.URL("steward-e2e"))
	require.NoError(t, err)
	store = storage.WithRetry(store, nil)
	defer store.Close()
	caps, err := storage.Probe(ctx, store)
	require.NoError(t, err)
	require.True(t, caps.ConditionalCreate, "gofakes3 honours If-None-Match")

	log, err := audit.NewLog(ctx, store, &audit.LogConfig{RecordKey: []byte("audit record key, test only"), CheckpointEvery: 5})
	require.NoError(t, err)
	keys := backup.PassphraseWithOptions("s3 secret", backup.PassphraseOptions{Time: 1, MemoryKiB: 1024, Threads: 1})
	e, err := backup.New(store, &backup.Config{Keys: keys, Auditor: log, PackUploads: 4})
	require.NoError(t, err)

	data := fstest.MapFS{
		"users/1.json":    {Data: []byte(`{"name":"ana"}`), Mode: 0o644, ModTime: time.Unix(1e9, 0)},
		"assets/big.bin":  {Data: randomBytes(3 << 20), Mode: 0o644, ModTime: time.Unix(1e9, 0)},
		"config/app.yaml": {Data: []byte("locale: pt\n"), Mode: 0o644, ModTime: time.Unix(1e9, 0)},
	}
	full, err := e.Backup(ctx, "acme", backup.FSSource(data), &backup.Options{Type: backup.Full, Encrypt: true})
	require.NoError(t, err)
	data["users/2.json"] = &fstest.MapFile{Data: []byte(`{"name":"bruno"}`), Mode: 0o644, ModTime: time.Unix(2e9, 0)}
	incr, err := e.Backup(ctx, "acme", backup.FSSource(data), &backup.Options{Type: backup.Incremental, Encrypt: true})
	require.NoError(t, err)
	require.Equal(t, full.ID, incr.Parent)

	r := restore.New(e, &restore.Config{Auditor: log})
	dir := t.TempDir()
	_, err = r.Restore(ctx, "acme", incr.ID, restore.DirTarget(dir), &restore.Options{Validate: true})
	require.NoError(t, err)
	for p, f := range data {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		require.NoError(t, err)
		require.Equal(t, f.Data, got, p)
	}

	require.NoError(t, e.Forget(ctx, "acme", full.ID))
	_, err = e.Prune(ctx, "acme", nil)
	require.NoError(t, err)
	chk, err := e.Check(ctx, "acme", &backup.CheckOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, chk.OK(), "%v", chk.Problems)
	v, err := r.Validate(ctx, "acme", "latest")
	require.NoError(t, err)
	require.Equal(t, restore.StatusPassed, v.Status, v.Report)

	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "app.db"))
	require.NoError(t, err)
	defer db.Close()
	live := t.TempDir()
	m, err := release.NewManager(store, &release.Config{Engine: e, Auditor: log, Migrator: &release.SQLMigrator{DB: db}, Deployer: release.DirDeployer(r, live)})
	require.NoError(t, err)
	r1, err := m.Create(ctx, release.Spec{Channel: "prod", Version: "1.0.0", Artifact: backup.FSSource(fstest.MapFS{"app.js": {Data: []byte("one")}}),
		Forward: []release.Migration{{ID: "1", SQL: "CREATE TABLE t (x INTEGER)"}}, Backward: []release.Migration{{ID: "1", SQL: "DROP TABLE t"}}})
	require.NoError(t, err)
	r2, err := m.Create(ctx, release.Spec{Channel: "prod", Version: "1.1.0", Artifact: backup.FSSource(fstest.MapFS{"app.js": {Data: []byte("two")}}),
		Forward: []release.Migration{{ID: "2", SQL: "CREATE TABLE u (y INTEGER)"}}, Backward: []release.Migration{{ID: "2", SQL: "DROP TABLE u"}}})
	require.NoError(t, err)
	_, err = m.Deploy(ctx, r1.ID, nil)
	require.NoError(t, err)
	_, err = m.Deploy(ctx, r2.ID, nil)
	require.NoError(t, err)
	b, _ := os.ReadFile(filepath.Join(live, "app.js"))
	require.Equal(t, "two", string(b))
	_, err = m.Rollback(ctx, r1.ID, nil)
	require.NoError(t, err)
	b, _ = os.ReadFile(filepath.Join(live, "app.js"))
	require.Equal(t, "one", string(b))
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'u'`).Scan(&n))
	require.Zero(t, n, "1.1.0's table is gone after the rollback")

	rep, err := log.Verify(ctx)
	require.NoError(t, err)
	require.Positive(t, rep.Events)
	d, err := log.Dashboard(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, d.TenantBackups.TotalCount)
	require.Equal(t, "1.0.0", d.Releases.ActiveVersion)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	x := uint64(88172645463325252)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

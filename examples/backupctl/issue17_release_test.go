package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/release"
)

// Finding 4: with a tenant's only manifest deleted, check and drill fail
// (exit code 1) and say the tenant has no snapshot.
func TestCheckAndDrillFailTenantWithoutSnapshot(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, os.Remove(filepath.Join(f.storeDir, "tenants", "acme", "snapshots", f.snap.ID)))
	out, err := run(t, "--store", f.store, "tenants")
	require.NoError(t, err)
	require.Contains(t, out, "acme", "tenants no longer lists acme")

	out, err = run(t, "--store", f.store, "check", "--tenant", "acme")
	require.Error(t, err, "check of a tenant with no snapshot exited 0; printed %q", out)
	require.Contains(t, out, "0 snapshots")
	require.Contains(t, out, `problem: "acme" has no snapshot`)

	out, err = run(t, "--store", f.store, "drill")
	require.ErrorContains(t, err, "1 of 1 tenants failed validation", "drill printed %q", out)
	require.Regexp(t, `(?m)^acme +- failed`, out)
	require.Contains(t, out, `tenant "acme" has no snapshot to restore`)
}

// releaseFixture is a store, a SQLite database and a deploy directory,
// with prod-1.0.0 (creates users) and prod-1.1.0 (adds users.email).
type releaseFixture struct {
	store, db, deployDir string
	r1, r2               release.Release
}

func newReleaseFixture(t *testing.T) *releaseFixture {
	t.Helper()
	unsetenv(t, "STEWARD_PASSPHRASE")
	unsetenv(t, "STEWARD_RELEASE_KEY")
	unsetenv(t, "STEWARD_SINGLE_WRITER")
	dir := t.TempDir()
	f := &releaseFixture{store: "file://" + filepath.ToSlash(filepath.Join(dir, "store")), db: filepath.Join(dir, "app.db"), deployDir: filepath.Join(dir, "www")}
	create := func(version, fwd, bwd string) release.Release {
		src := filepath.Join(dir, "src-"+version)
		require.NoError(t, os.MkdirAll(src, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(src, "VERSION"), []byte(version), 0o644))
		mf := migrationsFile{Forward: []release.Migration{{ID: "m-" + version, SQL: fwd}}, Backward: []release.Migration{{ID: "m-" + version, SQL: bwd}}}
		b, err := json.Marshal(mf)
		require.NoError(t, err)
		migs := filepath.Join(dir, version+".json")
		require.NoError(t, os.WriteFile(migs, b, 0o644))
		out, err := run(t, "--store", f.store, "release", "create", "--version", version, "--dir", src, "--migrations", migs, "--json")
		require.NoError(t, err)
		var r release.Release
		require.NoError(t, json.Unmarshal([]byte(out), &r), "release create --json printed %q", out)
		return r
	}
	f.r1 = create("1.0.0", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)", "DROP TABLE users")
	f.r2 = create("1.1.0", "ALTER TABLE users ADD COLUMN email TEXT", "ALTER TABLE users DROP COLUMN email")
	return f
}

// release runs `release args...` with the fixture's database and deploy
// directory.
func (f *releaseFixture) release(t *testing.T, args ...string) (string, error) {
	return run(t, append([]string{"--store", f.store, "release", "--db", f.db, "--deploy-dir", f.deployDir}, args...)...)
}

// columns lists the users table's columns.
func (f *releaseFixture) columns(t *testing.T) []string {
	db, err := sql.Open("sqlite", f.db)
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM pragma_table_info('users') ORDER BY cid`)
	require.NoError(t, err)
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		require.NoError(t, rows.Scan(&c))
		cols = append(cols, c)
	}
	return cols
}

// Finding 5: forget of an artifact snapshot a release uses is refused
// (exit 1, naming --force); with --force it goes, and the next rollback
// refuses before any backward migration: the email column is still
// there, the 1.1.0 files too, and the error names the missing artifact.
func TestForgetOfReleaseArtifactAndRollback(t *testing.T) {
	f := newReleaseFixture(t)
	for _, id := range []string{f.r1.ID, f.r2.ID} {
		_, err := f.release(t, "deploy", id)
		require.NoError(t, err)
	}
	require.Equal(t, []string{"id", "name", "email"}, f.columns(t))

	out, err := run(t, "--store", f.store, "forget", "--tenant", backup.Releases, "--snapshot", f.r1.ArtifactSnapshot, "--dry-run")
	require.ErrorIs(t, err, backup.ErrProtected, "a dry run says what forget would: printed %q", out)
	require.NotContains(t, out, "would forget")
	out, err = run(t, "--store", f.store, "forget", "--tenant", backup.Releases, "--snapshot", f.r1.ArtifactSnapshot)
	require.ErrorIs(t, err, backup.ErrProtected, "forget of a release's artifact: printed %q", out)
	require.ErrorContains(t, err, f.r1.ArtifactSnapshot)
	require.ErrorContains(t, err, "with --force")
	out, err = run(t, "--store", f.store, "forget", "--tenant", backup.Releases, "--snapshot", f.r1.ArtifactSnapshot, "--force")
	require.NoError(t, err)
	require.Contains(t, out, "forgot 1 snapshots")

	out, err = f.release(t, "rollback", f.r1.ID)
	require.ErrorIs(t, err, release.ErrArtifactMissing, "rollback printed %q", out)
	require.ErrorContains(t, err, f.r1.ArtifactSnapshot, "the error does not name the missing artifact")
	require.NotContains(t, err.Error(), "does not match its recorded hash")
	require.Equal(t, []string{"id", "name", "email"}, f.columns(t), "a backward migration ran: the email column is gone")
	b, err := os.ReadFile(filepath.Join(f.deployDir, "VERSION"))
	require.NoError(t, err)
	require.Equal(t, "1.1.0", string(b))
	require.Contains(t, out, "pre-checks")
	require.NotContains(t, out, "backward migrations")
}

// Finding 6: deploy without --db of a release with migrations is refused
// (exit 1, naming --db and --skip-migrations) and deploys nothing; with
// --skip-migrations it deploys and says the database was not migrated.
func TestDeployWithoutDBIsRefused(t *testing.T) {
	f := newReleaseFixture(t)
	deploy := func(extra ...string) (string, error) {
		return run(t, append([]string{"--store", f.store, "release", "--deploy-dir", f.deployDir, "deploy", f.r1.ID}, extra...)...)
	}
	out, err := deploy()
	require.ErrorIs(t, err, release.ErrNoMigrator, "deploy without --db printed %q", out)
	require.ErrorContains(t, err, "--db")
	require.ErrorContains(t, err, "--skip-migrations")
	require.NotContains(t, err.Error(), "Config.Migrator", "the error names the Go field")
	require.NoDirExists(t, f.deployDir, "a refused deploy deployed files")
	list, err := run(t, "--store", f.store, "release", "list", "--json")
	require.NoError(t, err)
	var l releaseList
	require.NoError(t, json.Unmarshal([]byte(list), &l))
	require.Empty(t, l.Active, "a refused deploy made %s active", l.Active)

	out, err = deploy("--skip-migrations")
	require.NoError(t, err)
	require.Regexp(t, `forward migrations +skipped .*not migrated`, out)
	require.FileExists(t, filepath.Join(f.deployDir, "VERSION"))
	require.NoFileExists(t, f.db, "--skip-migrations touched the database")
	require.True(t, strings.HasPrefix(out, "deploy "), "deploy printed %q", out)
}

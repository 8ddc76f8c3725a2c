package release_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
)

func master() context.Context {
	return steward.WithPrincipal(context.Background(), steward.Principal{ID: "release-bot", Roles: []string{steward.RoleMaster}})
}

type env struct {
	store storage.Store
	db    *sql.DB
	dir   string
	m     *release.Manager
	e     *backup.Engine
	clock *fakeclock.Clock
	post  []release.Check
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "app.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	store := storage.NewMemory()
	clock := fakeclock.New(time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC))
	e, err := backup.New(store, &backup.Config{Clock: clock})
	require.NoError(t, err)
	ev := &env{store: store, db: db, dir: t.TempDir(), e: e, clock: clock}
	ev.m, err = release.NewManager(store, &release.Config{
		Engine: e, Migrator: &release.SQLMigrator{DB: db}, Deployer: release.DirDeployer(restore.New(e, nil), ev.dir), Clock: clock,
		PostChecks: []release.Check{func(ctx context.Context, r *release.Release) error {
			for _, c := range ev.post {
				if err := c(ctx, r); err != nil {
					return err
				}
			}
			return nil
		}},
	})
	require.NoError(t, err)
	return ev
}

func files(version string) fstest.MapFS {
	return fstest.MapFS{
		"static/app.js":  {Data: []byte("console.log('" + version + "')"), Mode: 0o644},
		"static/app.css": {Data: []byte("body{}"), Mode: 0o644},
		"VERSION":        {Data: []byte(version), Mode: 0o644},
	}
}

var specs = []release.Spec{
	{Channel: "prod", Version: "1.0.0", Name: "first",
		Forward: []release.Migration{
			{ID: "001_users", SQL: "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"},
			{ID: "002_seed", SQL: "INSERT INTO users (name) VALUES ('ana'), ('bruno')"},
		},
		Backward: []release.Migration{
			{ID: "001_users", SQL: "DROP TABLE users"},
			{ID: "002_seed", SQL: "DELETE FROM users WHERE name IN ('ana', 'bruno')"},
		},
		Components: []release.Component{{Name: "react", Version: "19.1.0", PURL: "pkg:npm/react@19.1.0", Licenses: []string{"MIT"}}}},
	{Channel: "prod", Version: "1.1.0",
		Forward:  []release.Migration{{ID: "003_email", SQL: "ALTER TABLE users ADD COLUMN email TEXT; UPDATE users SET email = name || '@example.test'"}},
		Backward: []release.Migration{{ID: "003_email", SQL: "ALTER TABLE users DROP COLUMN email"}}},
	{Channel: "prod", Version: "2.0.0",
		Forward:  []release.Migration{{ID: "004_rename", SQL: "ALTER TABLE users RENAME TO accounts"}},
		Backward: []release.Migration{{ID: "004_rename", SQL: "ALTER TABLE accounts RENAME TO users"}}},
}

func (ev *env) create(t *testing.T, i int) *release.Release {
	s := specs[i]
	s.Artifact = backup.FSSource(files(s.Version))
	r, err := ev.m.Create(master(), s)
	require.NoError(t, err)
	return r
}

// schema describes the user tables: name, columns (name and type, from
// PRAGMA table_info, so quoting in the stored SQL does not matter) and
// every row.
func (ev *env) schema(t *testing.T) string {
	rows, err := ev.db.Query(`SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'steward_%' ORDER BY name`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	rows.Close()
	var parts []string
	for _, n := range tables {
		cols, err := ev.db.Query(`SELECT name, type FROM pragma_table_info(?) ORDER BY cid`, n)
		require.NoError(t, err)
		desc := "table " + n + ":"
		for cols.Next() {
			var cn, ct string
			require.NoError(t, cols.Scan(&cn, &ct))
			desc += " " + cn + " " + ct + ";"
		}
		cols.Close()
		parts = append(parts, desc)
		data, err := ev.db.Query(`SELECT * FROM "` + n + `" ORDER BY 1`)
		require.NoError(t, err)
		names, _ := data.Columns()
		for data.Next() {
			vals := make([]any, len(names))
			ptrs := make([]any, len(names))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, data.Scan(ptrs...))
			parts = append(parts, fmt.Sprint(vals...))
		}
		data.Close()
	}
	return strings.Join(parts, "\n")
}

func deployedFiles(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		require.NoError(t, err)
		if info.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	}))
	return out
}

func want(version string) map[string]string {
	out := map[string]string{}
	for p, f := range files(version) {
		out[p] = string(f.Data)
	}
	return out
}

func TestDeployThreeAndRollBack(t *testing.T) {
	ev := newEnv(t)
	ctx := master()
	r1, r2, r3 := ev.create(t, 0), ev.create(t, 1), ev.create(t, 2)
	require.Contains(t, string(r1.SBOM), `"bomFormat":"CycloneDX"`)
	require.Contains(t, string(r1.SBOM), "pkg:npm/react@19.1.0")

	d, err := ev.m.Deploy(ctx, r1.ID, nil)
	require.NoError(t, err)
	require.Equal(t, release.StatusSucceeded, d.Status)
	state1 := ev.schema(t)
	require.Equal(t, want("1.0.0"), deployedFiles(t, ev.dir))

	_, err = ev.m.Deploy(ctx, r2.ID, nil)
	require.NoError(t, err)
	require.Contains(t, ev.schema(t), "ana@example.test")
	_, err = ev.m.Deploy(ctx, r3.ID, nil)
	require.NoError(t, err)
	require.Contains(t, ev.schema(t), "table accounts: id INTEGER; name TEXT; email TEXT;")
	require.Equal(t, want("2.0.0"), deployedFiles(t, ev.dir))
	active, err := ev.m.Active(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, "2.0.0", active.Version)

	rb, err := ev.m.Rollback(ctx, r1.ID, nil)
	require.NoError(t, err)
	require.Equal(t, release.StatusSucceeded, rb.Status)
	require.True(t, rb.WithinSLO)
	require.Equal(t, state1, ev.schema(t), "schema and data equal the 1.0.0 state")
	require.Equal(t, want("1.0.0"), deployedFiles(t, ev.dir), "files equal 1.0.0's artifact")
	active, err = ev.m.Active(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, r1.ID, active.ID)

	hist, err := ev.m.History(ctx, "prod")
	require.NoError(t, err)
	require.Len(t, hist, 3)
	deps, err := ev.m.Deployments(ctx, 0)
	require.NoError(t, err)
	require.Len(t, deps, 4)
	require.Equal(t, "rollback", deps[0].Kind)
	var steps []string
	for _, s := range deps[0].Steps {
		steps = append(steps, s.Name+":"+s.Status)
	}
	require.Contains(t, steps, "backward migrations:ok")
	require.Contains(t, steps, "deploy target files:ok")

	// Forward again after the rollback works too.
	_, err = ev.m.Deploy(ctx, r2.ID, nil)
	require.NoError(t, err)
	require.Contains(t, ev.schema(t), "bruno@example.test")
}

func TestFailingPostCheckRollsBackAutomatically(t *testing.T) {
	ev := newEnv(t)
	ctx := master()
	r1, r2 := ev.create(t, 0), ev.create(t, 1)
	_, err := ev.m.Deploy(ctx, r1.ID, nil)
	require.NoError(t, err)
	state1 := ev.schema(t)
	ev.post = []release.Check{func(ctx context.Context, r *release.Release) error {
		if r.Version == "1.1.0" {
			return errors.New("error rate 12%")
		}
		return nil
	}}
	d, err := ev.m.Deploy(ctx, r2.ID, nil)
	require.ErrorIs(t, err, release.ErrCheckFailed)
	require.Equal(t, release.StatusRolledBack, d.Status)
	require.Contains(t, d.Reason, "rolled back automatically")
	require.Equal(t, state1, ev.schema(t))
	require.Equal(t, want("1.0.0"), deployedFiles(t, ev.dir))
	active, _ := ev.m.Active(ctx, "prod")
	require.Equal(t, r1.ID, active.ID)
}

func TestFailingForwardMigrationChangesNothing(t *testing.T) {
	ev := newEnv(t)
	ctx := master()
	r1 := ev.create(t, 0)
	_, err := ev.m.Deploy(ctx, r1.ID, nil)
	require.NoError(t, err)
	state1 := ev.schema(t)
	bad := release.Spec{Channel: "prod", Version: "1.2.0", Artifact: backup.FSSource(files("1.2.0")),
		Forward: []release.Migration{
			{ID: "010_ok", SQL: "CREATE TABLE extra (x INTEGER)"},
			{ID: "011_bad", SQL: "ALTER TABLE nowhere ADD COLUMN y TEXT"},
		},
		Backward: []release.Migration{{ID: "010_ok", SQL: "DROP TABLE extra"}, {ID: "011_bad", SQL: "SELECT 1"}}}
	r, err := ev.m.Create(ctx, bad)
	require.NoError(t, err)
	d, err := ev.m.Deploy(ctx, r.ID, nil)
	require.ErrorIs(t, err, release.ErrMigrationFailed)
	var me *release.MigrationError
	require.True(t, errors.As(err, &me))
	require.Equal(t, "011_bad", me.ID)
	require.Equal(t, release.StatusFailed, d.Status)
	require.Equal(t, state1, ev.schema(t), "the database is as before the deploy")
	active, _ := ev.m.Active(ctx, "prod")
	require.Equal(t, r1.ID, active.ID, "the active release is unchanged")
	require.Equal(t, want("1.0.0"), deployedFiles(t, ev.dir))
}

func countObjects(t *testing.T, s storage.Store) int {
	n := 0
	for _, err := range s.List(context.Background(), "") {
		require.NoError(t, err)
		n++
	}
	return n
}

func TestBadInputWritesNothing(t *testing.T) {
	ev := newEnv(t)
	ctx := master()
	r1 := ev.create(t, 0)
	before := countObjects(t, ev.store)
	art := backup.FSSource(files("x"))
	cases := []struct {
		spec release.Spec
		err  error
	}{
		{release.Spec{Channel: "prod", Version: "2.5", Artifact: art}, release.ErrInvalidVersion},
		{release.Spec{Channel: "prod", Version: "v2.5.0-", Artifact: art}, release.ErrInvalidVersion},
		{release.Spec{Channel: "prod", Version: "1.0.0", Artifact: art}, release.ErrDuplicateVersion},
		{release.Spec{Channel: "prod", Version: "3.0.0", Artifact: art, Forward: []release.Migration{{ID: "x", SQL: "SELECT 1"}}}, release.ErrInvalidSpec},
		{release.Spec{Channel: "prod", Version: "3.0.0", Artifact: art, Forward: []release.Migration{{ID: "x", SQL: "SELECT 1"}, {ID: "x", SQL: "SELECT 2"}}}, release.ErrInvalidSpec},
		{release.Spec{Channel: "Prod!", Version: "3.0.0", Artifact: art}, release.ErrInvalidSpec},
		{release.Spec{Channel: "prod", Version: "3.0.0"}, release.ErrInvalidSpec},
	}
	for _, c := range cases {
		_, err := ev.m.Create(ctx, c.spec)
		require.ErrorIs(t, err, c.err, "%s %s", c.spec.Channel, c.spec.Version)
	}
	_, err := ev.m.Rollback(ctx, "prod-9.9.9", nil)
	require.ErrorIs(t, err, release.ErrInvalidTarget)
	_, err = ev.m.Deploy(ctx, "prod-9.9.9", nil)
	require.ErrorIs(t, err, release.ErrNotFound)
	_, err = ev.m.Rollback(ctx, r1.ID, nil)
	require.ErrorIs(t, err, release.ErrInvalidTarget, "never deployed")
	require.Equal(t, before, countObjects(t, ev.store), "nothing written")
}

func TestVersionMustBeNewer(t *testing.T) {
	ev := newEnv(t)
	ctx := master()
	r1, r2 := ev.create(t, 0), ev.create(t, 1)
	_, err := ev.m.Deploy(ctx, r1.ID, nil)
	require.NoError(t, err)
	_, err = ev.m.Deploy(ctx, r2.ID, nil)
	require.NoError(t, err)
	_, err = ev.m.Deploy(ctx, r1.ID, nil)
	require.ErrorIs(t, err, release.ErrVersionNotNewer)
	_, err = ev.m.Deploy(ctx, r2.ID, nil)
	require.ErrorIs(t, err, release.ErrVersionNotNewer, "redeploying the active version needs Force")
}

// slowDeployer blocks deploys until released, so two can overlap.
type slowDeployer struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *slowDeployer) Deploy(ctx context.Context, r *release.Release) error {
	s.once.Do(func() { close(s.started) })
	<-s.release
	return nil
}

func TestConcurrentDeploysOneWins(t *testing.T) {
	store := storage.NewMemory()
	e, _ := backup.New(store, nil)
	sd := &slowDeployer{started: make(chan struct{}), release: make(chan struct{})}
	m, err := release.NewManager(store, &release.Config{Engine: e, Deployer: sd})
	require.NoError(t, err)
	ctx := master()
	var ids []string
	for _, v := range []string{"1.0.0", "1.1.0"} {
		r, err := m.Create(ctx, release.Spec{Channel: "prod", Version: v, Artifact: backup.FSSource(files(v))})
		require.NoError(t, err)
		ids = append(ids, r.ID)
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _, errs[0] = m.Deploy(ctx, ids[0], nil) }()
	<-sd.started
	// The second deploy is refused at once while the first holds the
	// channel (it does not wait for it).
	_, errs[1] = m.Deploy(ctx, ids[1], nil)
	close(sd.release)
	wg.Wait()
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], release.ErrConflict)
	require.Contains(t, errs[1].Error(), "in progress")
	active, err := m.Active(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, ids[0], active.ID)

	// Truly simultaneous: many goroutines, different releases, exactly one wins.
	store2 := storage.NewMemory()
	e2, _ := backup.New(store2, nil)
	m2, _ := release.NewManager(store2, &release.Config{Engine: e2, Deployer: &slowDeployer{started: make(chan struct{}), release: closed()}})
	var rels []string
	for _, v := range []string{"1.0.0", "1.0.1", "1.0.2", "1.0.3"} {
		r, err := m2.Create(ctx, release.Spec{Channel: "prod", Version: v, Artifact: backup.FSSource(files(v))})
		require.NoError(t, err)
		rels = append(rels, r.ID)
	}
	results := make([]error, len(rels))
	var wg2 sync.WaitGroup
	for i, id := range rels {
		wg2.Add(1)
		go func() { defer wg2.Done(); _, results[i] = m2.Deploy(ctx, id, &release.DeployOptions{Force: true}) }()
	}
	wg2.Wait()
	wins := 0
	for _, err := range results {
		if err == nil {
			wins++
		} else {
			require.ErrorIs(t, err, release.ErrConflict)
		}
	}
	require.GreaterOrEqual(t, wins, 1)
	deps, _ := m2.Deployments(ctx, 0)
	sort.Slice(deps, func(i, j int) bool { return deps[i].StartedAt.Before(deps[j].StartedAt) })
	succeeded := 0
	for _, d := range deps {
		if d.Status == release.StatusSucceeded {
			succeeded++
		}
	}
	require.Equal(t, wins, succeeded, "every winner recorded, no loser became active")
}

func closed() chan struct{} { c := make(chan struct{}); close(c); return c }

func TestDeadDeployIsRecovered(t *testing.T) {
	store := storage.NewMemory()
	clock := fakeclock.New(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
	e, _ := backup.New(store, &backup.Config{Clock: clock})
	block := make(chan struct{})
	sd := &slowDeployer{started: make(chan struct{}), release: block}
	m, _ := release.NewManager(store, &release.Config{Engine: e, Deployer: sd, Clock: clock, Lease: 10 * time.Minute})
	ctx := master()
	r1, _ := m.Create(ctx, release.Spec{Channel: "prod", Version: "1.0.0", Artifact: backup.FSSource(files("1"))})
	r2, _ := m.Create(ctx, release.Spec{Channel: "prod", Version: "1.1.0", Artifact: backup.FSSource(files("2"))})
	dctx, cancel := context.WithCancel(ctx)
	go func() { _, _ = m.Deploy(dctx, r1.ID, nil) }() // "dies" holding the channel
	<-sd.started
	// Another process (a second Manager) meets the pending record.
	other, _ := release.NewManager(store, &release.Config{Engine: e, Clock: clock, Lease: 10 * time.Minute})
	_, err := other.Deploy(ctx, r2.ID, nil)
	require.ErrorIs(t, err, release.ErrConflict)
	ok, err := other.Recover(ctx, "prod")
	require.ErrorIs(t, err, release.ErrConflict, "the lease is still live")
	require.False(t, ok)
	clock.Advance(11 * time.Minute)
	ok, err = other.Recover(ctx, "prod")
	require.NoError(t, err)
	require.True(t, ok)
	_, err = other.Deploy(ctx, r2.ID, nil)
	require.NoError(t, err)
	cancel()
	close(block)
}

func TestSQLMigratorRefusesEditedMigration(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	defer db.Close()
	mg := &release.SQLMigrator{DB: db}
	ctx := context.Background()
	require.NoError(t, mg.Apply(ctx, []release.Migration{{ID: "1", SQL: "CREATE TABLE t (x INTEGER)"}}))
	require.NoError(t, mg.Apply(ctx, []release.Migration{{ID: "1", SQL: "CREATE TABLE t (x INTEGER)"}}), "applied once")
	err = mg.Apply(ctx, []release.Migration{{ID: "1", SQL: "CREATE TABLE t (x TEXT)"}})
	require.ErrorIs(t, err, release.ErrChecksumMismatch)
	require.ErrorIs(t, err, release.ErrMigrationFailed)
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0.0", "2.5", "v2.5.0-", "1.0.0-rc.1+build.5", "01.0.0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := release.ParseVersion(s)
		if err != nil {
			require.ErrorIs(t, err, release.ErrInvalidVersion)
			return
		}
		if v.Original() != s {
			t.Fatalf("parsed %q as %q", s, v.Original())
		}
	})
}

type maintenance struct {
	entered, exited int
}

func (m *maintenance) Enter(context.Context) error { m.entered++; return nil }
func (m *maintenance) Exit(context.Context) error  { m.exited++; return nil }

func TestRollbackMaintenanceAlwaysExitedAndSafetyBackups(t *testing.T) {
	store := storage.NewMemory()
	e, _ := backup.New(store, nil)
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "x.db"))
	require.NoError(t, err)
	defer db.Close()
	mt := &maintenance{}
	tenantData := backup.FSSource(fstest.MapFS{"users/1": {Data: []byte("u")}})
	m, err := release.NewManager(store, &release.Config{Engine: e, Migrator: &release.SQLMigrator{DB: db}, Maintenance: mt,
		SafetyBackup: release.SafetyBackupAll(e, func(context.Context) (map[string]backup.Source, error) {
			return map[string]backup.Source{"acme": tenantData, "globex": tenantData}, nil
		}, backup.FSSource(fstest.MapFS{"css/site.css": {Data: []byte("body{}")}}))})
	require.NoError(t, err)
	ctx := master()
	r1, err := m.Create(ctx, release.Spec{Channel: "prod", Version: "1.0.0", Artifact: backup.FSSource(files("1")),
		Forward: []release.Migration{{ID: "1", SQL: "CREATE TABLE a (x INTEGER)"}}, Backward: []release.Migration{{ID: "1", SQL: "DROP TABLE a"}}})
	require.NoError(t, err)
	// 1.1.0's backward migration is broken, so rolling back past it fails.
	r2, err := m.Create(ctx, release.Spec{Channel: "prod", Version: "1.1.0", Artifact: backup.FSSource(files("2")),
		Forward: []release.Migration{{ID: "2", SQL: "CREATE TABLE b (x INTEGER)"}}, Backward: []release.Migration{{ID: "2", SQL: "DROP TABLE nonexistent"}}})
	require.NoError(t, err)
	d, err := m.Deploy(ctx, r1.ID, nil)
	require.NoError(t, err)
	require.Len(t, d.SafetySnapshots, 3, "every tenant and the general scope")
	for _, tn := range []string{"acme", "globex", backup.General} {
		cat, err := e.Catalog(ctx, tn)
		require.NoError(t, err)
		require.Contains(t, cat[0].Tags, "pre-deploy")
	}
	_, err = m.Deploy(ctx, r2.ID, &release.DeployOptions{SkipSafetyBackup: true})
	require.NoError(t, err)

	d, err = m.Rollback(ctx, r1.ID, &release.RollbackOptions{Maintenance: true, SkipSafetyBackup: true})
	require.ErrorIs(t, err, release.ErrMigrationFailed)
	require.Equal(t, release.StatusFailed, d.Status)
	require.Equal(t, 1, mt.entered)
	require.Equal(t, 1, mt.exited, "maintenance is exited even when the rollback fails")
	active, _ := m.Active(ctx, "prod")
	require.Equal(t, r2.ID, active.ID, "a failed rollback leaves the active release")
	// The channel is free again for the next operation.
	_, err = m.Rollback(ctx, r1.ID, &release.RollbackOptions{Maintenance: true})
	require.ErrorIs(t, err, release.ErrMigrationFailed)
	require.Equal(t, 2, mt.exited)
}

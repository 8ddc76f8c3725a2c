package sqltenant_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/pgtest"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/sqltenant"
)

// pgTenantSchema is one tenant's tables, in a schema or a database of
// their own (%[1]s: the schema): no tenant column.
const pgTenantSchema = `
CREATE SCHEMA IF NOT EXISTS %[1]s;
CREATE TABLE %[1]s.users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text, settings jsonb, avatar bytea, updated_at timestamptz);
CREATE TABLE %[1]s.projects (id integer PRIMARY KEY, owner_id bigint NOT NULL REFERENCES %[1]s.users (id), title text NOT NULL);
CREATE TABLE %[1]s.tasks (project_id integer NOT NULL REFERENCES %[1]s.projects (id), seq integer NOT NULL, body text, tags text[],
	PRIMARY KEY (project_id, seq));
`

func pgTenantTables(t testing.TB, pool *pgxpool.Pool, schema string) {
	t.Helper()
	pgExec(t, pool, fmt.Sprintf(pgTenantSchema, pgx.Identifier{schema}.Sanitize()))
}

func pgTenantSeed(t testing.TB, pool *pgxpool.Pool, schema string, n int) {
	t.Helper()
	s := pgx.Identifier{schema}.Sanitize()
	pgExec(t, pool, `INSERT INTO `+s+`.users (name, settings, avatar, updated_at)
		SELECT 'user ' || i || E' ✓\n', jsonb_build_object('i', i), '\x00'::bytea || int4send(i), '2026-01-01 00:00:00+02'::timestamptz + i * interval '1 hour'
		FROM generate_series(1, $1::int) i`, n)
	pgExec(t, pool, `INSERT INTO `+s+`.projects SELECT i, i, 'project ' || i FROM generate_series(1, $1::int) i`, n)
	pgExec(t, pool, `INSERT INTO `+s+`.tasks SELECT i, q, NULL, ARRAY['x', NULL] FROM generate_series(1, $1::int) i, generate_series(1, 3) q`, n)
}

func pgSchemaDump(t testing.TB, pool *pgxpool.Pool, schema string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range []string{"users", "projects", "tasks"} {
		out[table] = pgDump(t, pool, schema, table, "true")
	}
	return out
}

// A schema per tenant: the backup of one schema restores into another
// (a renamed tenant, or a scratch copy), identity keys and all, and
// back into its own after local changes.
func TestPostgresSchemaPerTenant(t *testing.T) {
	pool := pgtest.DB(t)
	pgTenantTables(t, pool, "tenant_acme")
	pgTenantTables(t, pool, "tenant_globex")
	pgTenantTables(t, pool, "acme_restored")
	pgTenantSeed(t, pool, "tenant_acme", 10)
	pgTenantSeed(t, pool, "tenant_globex", 4)
	e, r, _ := newEngine(t)
	acme := pgDB(t, pool, &sqltenant.PostgresOptions{Schema: "tenant_acme"})
	snap := pgBackup(t, e, acme, "acme", nil)
	want, globex := pgSchemaDump(t, pool, "tenant_acme"), pgSchemaDump(t, pool, "tenant_globex")

	_, err := pgRestore(t, r, pgDB(t, pool, &sqltenant.PostgresOptions{Schema: "acme_restored"}), "acme", snap.ID, nil, nil)
	require.NoError(t, err)
	require.Equal(t, want, pgSchemaDump(t, pool, "acme_restored"))

	pgExec(t, pool, `DELETE FROM tenant_acme.tasks WHERE project_id > 5`)
	pgExec(t, pool, `UPDATE tenant_acme.users SET name = 'changed'`)
	_, err = pgRestore(t, r, acme, "acme", snap.ID, nil, nil)
	require.NoError(t, err)
	require.Equal(t, want, pgSchemaDump(t, pool, "tenant_acme"))
	require.Equal(t, globex, pgSchemaDump(t, pool, "tenant_globex"), "another schema is untouched")
	pgExec(t, pool, `INSERT INTO acme_restored.users (name) VALUES ('next')`) // GENERATED ALWAYS: from the advanced sequence
}

// A database per tenant: a backup of one database restores into another.
func TestPostgresDatabasePerTenant(t *testing.T) {
	src, dst := pgtest.DB(t), pgtest.DB(t)
	pgTenantTables(t, src, "public")
	pgTenantTables(t, dst, "public")
	pgTenantSeed(t, src, "public", 6)
	pgTenantSeed(t, dst, "public", 2)
	e, r, _ := newEngine(t)
	snap := pgBackup(t, e, pgDB(t, src, nil), "acme", nil)
	_, err := pgRestore(t, r, pgDB(t, dst, nil), "acme", snap.ID, nil, nil)
	require.NoError(t, err)
	require.Equal(t, pgSchemaDump(t, src, "public"), pgSchemaDump(t, dst, "public"))
}

// A restore whose load fails midway (a trigger refuses one of the
// backup's task rows, after users were updated and projects loaded)
// leaves every row as it was.
func TestPostgresRestoreFailingMidwayChangesNothing(t *testing.T) {
	pool, db := pgDatabase(t)
	pgSeed(t, pool, "acme", 20, 0)
	pgSeed(t, pool, "globex", 5, 1000)
	e, r, _ := newEngine(t)
	snap := pgBackup(t, e, db, "acme", appOptions())

	pgExec(t, pool, `UPDATE users SET name = 'changed' WHERE tenant_id = 'acme'`)
	pgExec(t, pool, `DELETE FROM order_items WHERE order_id = 3`)
	pgExec(t, pool, `DELETE FROM tasks WHERE tenant_id = 'acme' AND project_id = 17`) // to be inserted again
	pgExec(t, pool, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.project_id = 17 THEN RAISE EXCEPTION 'injected violation'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION refuse()`)
	acme, globex := pgTenantDump(t, pool, "acme"), pgTenantDump(t, pool, "globex")

	rep, err := pgRestore(t, r, db, "acme", snap.ID, appOptions(), nil)
	require.ErrorContains(t, err, "injected violation")
	require.ErrorContains(t, err, `"tasks"`, "the error names the table")
	require.Empty(t, rep.Outcomes)
	require.Equal(t, acme, pgTenantDump(t, pool, "acme"), "the tenant's rows are as before the restore")
	require.Equal(t, globex, pgTenantDump(t, pool, "globex"))

	pgExec(t, pool, `DROP TRIGGER refuse ON tasks`)
	_, err = pgRestore(t, r, db, "acme", snap.ID, appOptions(), nil)
	require.NoError(t, err)
	require.NotEqual(t, acme, pgTenantDump(t, pool, "acme"))
	require.Equal(t, globex, pgTenantDump(t, pool, "globex"))
}

// A row that breaks a deferred foreign key fails the restore with
// ErrForeignKey, naming the table, and changes nothing.
func TestPostgresRestoreForeignKeyViolation(t *testing.T) {
	pool, db := pgDatabase(t)
	pgSeed(t, pool, "acme", 3, 0)
	e, r, _ := newEngine(t)
	snap := pgBackup(t, e, db, "acme", appOptions())
	// Selective restore of tasks alone, after their projects are gone:
	// the deferred key catches it before the commit.
	pgExec(t, pool, `DELETE FROM tasks WHERE tenant_id = 'acme' AND project_id = 2`)
	pgExec(t, pool, `DELETE FROM projects WHERE tenant_id = 'acme' AND id = 2`)
	before := pgTenantDump(t, pool, "acme")
	_, err := pgRestore(t, r, db, "acme", snap.ID, appOptions(),
		&restore.Options{Mode: restore.Selective, Modules: []string{"tasks", sqltenant.SchemaModule}})
	require.ErrorIs(t, err, sqltenant.ErrForeignKey)
	require.ErrorContains(t, err, "tasks")
	require.Equal(t, before, pgTenantDump(t, pool, "acme"))
}

// A full restore of one tenant while another tenant's rows are being
// updated and inserted in the same tables: every one of those changes
// is there afterwards, and the restored tenant is as in the backup.
func TestPostgresRestoreKeepsConcurrentUpdates(t *testing.T) {
	pool, db := pgDatabase(t)
	pgSeed(t, pool, "acme", 300, 0)
	pgSeed(t, pool, "globex", 5, 10000)
	e, r, _ := newEngine(t)
	snap := pgBackup(t, e, db, "acme", appOptions())
	want := pgTenantDump(t, pool, "acme")
	pgExec(t, pool, `UPDATE users SET name = 'changed' WHERE tenant_id = 'acme'`)

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var updates int
	var werr error
	wg.Go(func() {
		for ctx.Err() == nil {
			n := updates + 1
			_, err := pool.Exec(context.Background(), `WITH u AS (UPDATE projects SET title = $1 WHERE tenant_id = 'globex' AND id = 1)
				INSERT INTO orders (id, tenant_id, total) VALUES (20000 + $2, 'globex', $2)`, fmt.Sprint("v", n), n)
			if err != nil {
				werr = err
				return
			}
			updates = n
		}
	})
	for range 3 {
		_, err := pgRestore(t, r, db, "acme", snap.ID, appOptions(), nil)
		require.NoError(t, err)
	}
	stop()
	wg.Wait()
	require.NoError(t, werr)
	require.Greater(t, updates, 0, "no update ran during the restores")
	require.Equal(t, want, pgTenantDump(t, pool, "acme"))
	var title string
	var orders int
	require.NoError(t, pool.QueryRow(master(), `SELECT title FROM projects WHERE tenant_id = 'globex' AND id = 1`).Scan(&title))
	require.NoError(t, pool.QueryRow(master(), `SELECT count(*) FROM orders WHERE tenant_id = 'globex' AND id > 20000`).Scan(&orders))
	require.Equal(t, fmt.Sprint("v", updates), title)
	require.Equal(t, updates, orders)
}

// movingSource begins the backup's snapshot (the first Walk), then lets
// move commit before any table is read.
type movingSource struct {
	*sqltenant.Source
	move func()
	once sync.Once
}

func (m *movingSource) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	err := m.Source.Walk(ctx, fn)
	m.once.Do(m.move)
	return err
}

// A transaction that moves rows between two tables, committed after the
// backup began: the backup sees neither move, also with parallel
// readers that join the snapshot only after the move committed.
func TestPostgresBackupSeesOneSnapshot(t *testing.T) {
	for _, parallel := range []int{1, 4} {
		t.Run(fmt.Sprint("parallel ", parallel), func(t *testing.T) {
			pool, _ := pgDatabase(t)
			pgSeed(t, pool, "acme", 5, 0)
			db := pgDB(t, pool, &sqltenant.PostgresOptions{Parallel: parallel})
			e, r, _ := newEngine(t)
			src, err := db.Source("acme", appOptions())
			require.NoError(t, err)
			defer src.Close()
			move := func() {
				pgExec(t, pool, `BEGIN;
					UPDATE order_items SET order_id = 1, line = line + 10 WHERE order_id = 2;
					DELETE FROM orders WHERE id = 2;
					UPDATE users SET name = 'moved' WHERE tenant_id = 'acme';
					COMMIT`)
			}
			snap, err := e.Backup(master(), "acme", &movingSource{Source: src, move: move}, &backup.Options{Type: backup.Full})
			require.NoError(t, err)

			dst, dstDB := pgDatabase(t)
			_, err = pgRestore(t, r, dstDB, "acme", snap.ID, appOptions(), nil)
			require.NoError(t, err)
			var orders, items, moved int
			require.NoError(t, dst.QueryRow(master(), `SELECT count(*) FROM orders`).Scan(&orders))
			require.NoError(t, dst.QueryRow(master(), `SELECT count(*) FROM order_items WHERE order_id = 2`).Scan(&items))
			require.NoError(t, dst.QueryRow(master(), `SELECT count(*) FROM users WHERE name = 'moved'`).Scan(&moved))
			require.Equal(t, []int{5, 2, 0}, []int{orders, items, moved}, "the backup holds the rows as they were when it began")
		})
	}
}

// DDL holding a table's lock makes a backup and a restore fail fast
// with ErrLockTimeout instead of waiting behind it.
func TestPostgresLockTimeout(t *testing.T) {
	pool, _ := pgDatabase(t)
	pgSeed(t, pool, "acme", 3, 0)
	db := pgDB(t, pool, &sqltenant.PostgresOptions{LockTimeout: 200 * time.Millisecond})
	e, r, _ := newEngine(t)
	snap := pgBackup(t, e, db, "acme", appOptions())

	ddl, err := pool.Begin(master())
	require.NoError(t, err)
	defer ddl.Rollback(context.Background())
	_, err = ddl.Exec(master(), `ALTER TABLE projects ADD COLUMN extra text`)
	require.NoError(t, err)

	start := time.Now()
	src, err := db.Source("acme", appOptions())
	require.NoError(t, err)
	defer src.Close()
	_, err = e.Backup(master(), "acme", src, &backup.Options{Type: backup.Full})
	require.ErrorIs(t, err, sqltenant.ErrLockTimeout)
	_, err = pgRestore(t, r, db, "acme", snap.ID, appOptions(), nil)
	require.ErrorIs(t, err, sqltenant.ErrLockTimeout)
	require.Less(t, time.Since(start), 5*time.Second, "both gave up after the lock timeout")
}

// Merge keep-newer compares timestamptz as instants: a local row edited
// later is kept, one edited earlier (in another zone) takes the backup's
// values, a deleted one comes back, a local addition stays.
func TestPostgresMergeKeepNewer(t *testing.T) {
	pool, db := pgDatabase(t)
	pgSeed(t, pool, "acme", 3, 0) // users 1..3 updated at 00:00:01..03Z
	pgSeed(t, pool, "globex", 2, 1000)
	e, r, _ := newEngine(t)
	snap := pgBackup(t, e, db, "acme", appOptions())

	pgExec(t, pool, `DELETE FROM tasks WHERE tenant_id = 'acme' AND project_id = 3`)
	pgExec(t, pool, `DELETE FROM projects WHERE tenant_id = 'acme' AND id = 3`)
	pgExec(t, pool, `DELETE FROM users WHERE tenant_id = 'acme' AND id = 3`)
	pgExec(t, pool, `UPDATE users SET name = 'newer local', updated_at = '2026-06-01 00:00:00+00' WHERE tenant_id = 'acme' AND id = 1`)
	pgExec(t, pool, `UPDATE users SET name = 'older local', updated_at = '2026-01-01 01:00:00+02' WHERE tenant_id = 'acme' AND id = 2`)
	pgExec(t, pool, `INSERT INTO users (tenant_id, id, name, updated_at) VALUES ('acme', 4, 'added locally', '2026-07-01 00:00:00+00')`)
	globex := pgTenantDump(t, pool, "globex")

	rep, err := pgRestore(t, r, db, "acme", snap.ID, appOptions(), &restore.Options{Mode: restore.Merge})
	require.NoError(t, err)
	rows, err := pool.Query(master(), `SELECT id::text, coalesce(name, 'NULL'), updated_at::text FROM users WHERE tenant_id = 'acme' ORDER BY id`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([3]string, error) {
		var r [3]string
		return r, row.Scan(&r[0], &r[1], &r[2])
	})
	require.NoError(t, err)
	require.Equal(t, [][3]string{
		{"1", "newer local", "2026-06-01 00:00:00+00"},
		{"2", "user 2 of acme — Zoë 🚀 日本\t\\N\n", "2026-01-01 00:00:02+00"},
		{"3", "user 3 of acme — Zoë 🚀 日本\t\\N\n", "2026-01-01 00:00:03+00"},
		{"4", "added locally", "2026-07-01 00:00:00+00"},
	}, got)
	o := outcomes(rep)
	require.Equal(t, restore.Outcome{Module: "users", Action: "merged", Inserted: 1, Updated: 1, Kept: 1}, o["users"])
	require.Equal(t, restore.Outcome{Module: "projects", Action: "merged", Inserted: 1, Kept: 2}, o["projects"])
	require.Equal(t, restore.Outcome{Module: "tasks", Action: "merged", Inserted: 2, Kept: 4}, o["tasks"], "no timestamp column: existing rows kept")
	require.Equal(t, globex, pgTenantDump(t, pool, "globex"))
}

// Overwrite and missing-only, on a row that differs locally.
func TestPostgresMergeRules(t *testing.T) {
	for _, tc := range []struct {
		rule             sqltenant.MergeRule
		name             string
		inserted, update int64
	}{
		{sqltenant.MergeMissingOnly, "local", 1, 0},
		{sqltenant.MergeOverwrite, "user 1 of acme — Zoë 🚀 日本\t\\N\n", 1, 1},
	} {
		t.Run(string(tc.rule), func(t *testing.T) {
			pool, db := pgDatabase(t)
			pgSeed(t, pool, "acme", 2, 0)
			e, r, _ := newEngine(t)
			snap := pgBackup(t, e, db, "acme", appOptions())
			pgExec(t, pool, `UPDATE users SET name = 'local', updated_at = '2030-01-01 00:00:00+00' WHERE tenant_id = 'acme' AND id = 1`)
			pgExec(t, pool, `DELETE FROM tasks WHERE tenant_id = 'acme' AND project_id = 2`)
			pgExec(t, pool, `DELETE FROM projects WHERE tenant_id = 'acme' AND id = 2`)
			pgExec(t, pool, `DELETE FROM users WHERE tenant_id = 'acme' AND id = 2`)
			o := appOptions()
			o.Merge = tc.rule
			rep, err := pgRestore(t, r, db, "acme", snap.ID, o, &restore.Options{Mode: restore.Merge})
			require.NoError(t, err)
			var name string
			require.NoError(t, pool.QueryRow(master(), `SELECT name FROM users WHERE tenant_id = 'acme' AND id = 1`).Scan(&name))
			require.Equal(t, tc.name, name)
			u := outcomes(rep)["users"]
			require.Equal(t, restore.Outcome{Module: "users", Action: "merged", Inserted: tc.inserted, Updated: tc.update, Kept: 1 - tc.update}, u)
		})
	}
}

// A target column narrower than the backup's is refused before any
// change, with the column and both types named.
func TestPostgresIncompatibleType(t *testing.T) {
	pool, db := pgDatabase(t)
	pgSeed(t, pool, "acme", 2, 0)
	e, r, _ := newEngine(t)
	snap := pgBackup(t, e, db, "acme", appOptions())
	pgExec(t, pool, `ALTER TABLE users ALTER COLUMN balance TYPE numeric(40,10)`)
	before := pgTenantDump(t, pool, "acme")
	_, err := pgRestore(t, r, db, "acme", snap.ID, appOptions(), nil)
	require.True(t, errors.Is(err, sqltenant.ErrIncompatibleType), "got %v", err)
	require.ErrorContains(t, err, "balance")
	require.ErrorContains(t, err, "numeric(40,10)")
	require.Equal(t, before, pgTenantDump(t, pool, "acme"))
}

// A selective restore that would delete rows of a table it does not
// restore through ON DELETE CASCADE is refused with ErrCascade naming
// that table; selecting the table too lets it through.
func TestPostgresSelectiveRestoreThatWouldCascade(t *testing.T) {
	pool := pgtest.DB(t)
	pgExec(t, pool, strings.Replace(pgSchema, "DEFERRABLE INITIALLY DEFERRED", "ON DELETE CASCADE", 1))
	db := pgDB(t, pool, nil)
	pgSeed(t, pool, "acme", 3, 0)
	e, r, _ := newEngine(t)
	snap := pgBackup(t, e, db, "acme", appOptions())
	before := pgTenantDump(t, pool, "acme")
	_, err := pgRestore(t, r, db, "acme", snap.ID, appOptions(), &restore.Options{Mode: restore.Selective, Modules: sqltenant.Select("projects")})
	require.ErrorIs(t, err, sqltenant.ErrCascade)
	require.ErrorContains(t, err, `"tasks"`)
	require.Equal(t, before, pgTenantDump(t, pool, "acme"))
	_, err = pgRestore(t, r, db, "acme", snap.ID, appOptions(), &restore.Options{Mode: restore.Selective, Modules: sqltenant.Select("projects", "tasks")})
	require.NoError(t, err)
	require.Equal(t, before, pgTenantDump(t, pool, "acme"))
}

// A full restore writes only what differs: rows changed since the
// backup are updated (values PostgreSQL holds equal but that read back
// otherwise among them), rows deleted since are inserted, rows added since
// are deleted (children first, after a project was pointed back at the
// user it had, so the user added since can go), and the rest are kept
// as they are. The tenant ends as in the backup, the other untouched.
func TestPostgresFullRestoreInPlace(t *testing.T) {
	pool, db := pgDatabase(t)
	pgSeed(t, pool, "acme", 20, 0)
	pgSpecial(t, pool, "acme")
	pgExec(t, pool, `UPDATE users SET score = '-0' WHERE tenant_id = 'acme' AND id = 1001`)
	pgExec(t, pool, `UPDATE users SET settings = '{"n": 1.0}' WHERE tenant_id = 'acme' AND id = 1002`)
	pgSeed(t, pool, "globex", 5, 1000)
	e, r, _ := newEngine(t)
	snap := pgBackup(t, e, db, "acme", appOptions())
	want, globex := pgTenantDump(t, pool, "acme"), pgTenantDump(t, pool, "globex")

	// Equal to PostgreSQL, not the same values: -0 and 0, 1.0 and 1.00.
	pgExec(t, pool, `UPDATE users SET score = 0 WHERE tenant_id = 'acme' AND id = 1001`)
	pgExec(t, pool, `UPDATE users SET settings = '{"n": 1.00}' WHERE tenant_id = 'acme' AND id = 1002`)
	pgExec(t, pool, `UPDATE users SET name = 'changed' WHERE tenant_id = 'acme' AND id <= 2`)
	pgExec(t, pool, `DELETE FROM tasks WHERE tenant_id = 'acme' AND project_id = 3`)
	pgExec(t, pool, `INSERT INTO users (tenant_id, id, name) VALUES ('acme', 21, 'new')`)
	pgExec(t, pool, `UPDATE projects SET owner_id = 21 WHERE tenant_id = 'acme' AND id = 5`)
	pgExec(t, pool, `INSERT INTO projects VALUES ('acme', 21, 21, 'new', now())`)
	pgExec(t, pool, `INSERT INTO tasks VALUES ('acme', 21, 1, 'new', false)`)

	rep, err := pgRestore(t, r, db, "acme", snap.ID, appOptions(), nil)
	require.NoError(t, err)
	require.Equal(t, want, pgTenantDump(t, pool, "acme"))
	require.Equal(t, globex, pgTenantDump(t, pool, "globex"))
	require.Equal(t, map[string]restore.Outcome{
		"users":       {Module: "users", Action: "replaced", Updated: 4, Kept: 18, Deleted: 1},
		"projects":    {Module: "projects", Action: "replaced", Updated: 1, Kept: 19, Deleted: 1},
		"tasks":       {Module: "tasks", Action: "replaced", Inserted: 2, Kept: 38, Deleted: 1},
		"orders":      {Module: "orders", Action: "replaced", Kept: 20},
		"order_items": {Module: "order_items", Action: "replaced", Kept: 40},
	}, outcomes(rep))
}

// A unique value the backup's row takes back, which a row added since
// holds, cannot be updated in place before that row is deleted: the
// restore then deletes the tenant's rows and loads them, as it always
// could, and ends as in the backup.
func TestPostgresFullRestoreUniqueValueMoved(t *testing.T) {
	pool, db := pgDatabase(t)
	pgExec(t, pool, `CREATE UNIQUE INDEX ON users (tenant_id, email)`)
	pgSeed(t, pool, "acme", 10, 0)
	pgSeed(t, pool, "globex", 5, 1000)
	e, r, _ := newEngine(t)
	snap := pgBackup(t, e, db, "acme", appOptions())
	want, globex := pgTenantDump(t, pool, "acme"), pgTenantDump(t, pool, "globex")

	pgExec(t, pool, `UPDATE users SET email = 'moved' WHERE tenant_id = 'acme' AND id = 3`)
	pgExec(t, pool, `INSERT INTO users (tenant_id, id, email) VALUES ('acme', 11, 'u3@acme.example')`)

	rep, err := pgRestore(t, r, db, "acme", snap.ID, appOptions(), nil)
	require.NoError(t, err)
	require.Equal(t, want, pgTenantDump(t, pool, "acme"))
	require.Equal(t, globex, pgTenantDump(t, pool, "globex"))
	require.Equal(t, restore.Outcome{Module: "users", Action: "replaced", Inserted: 10, Deleted: 11}, outcomes(rep)["users"])
}

// The metadata holds the value of each serial and identity column's
// sequence; a restore sets the target's sequence to the greatest of its
// own value, the stored one and the column's greatest value, and never
// moves it back.
func TestPostgresSequenceValues(t *testing.T) {
	src, srcDB := pgDatabase(t)
	pgSeed(t, src, "acme", 5, 0)
	pgExec(t, src, `SELECT setval(pg_get_serial_sequence('users', 'id'), 500), setval(pg_get_serial_sequence('orders', 'id'), 700)`)
	e, r, _ := newEngine(t)
	snap := pgBackup(t, e, srcDB, "acme", appOptions())
	s := snapshotSchema(t, e, "acme", snap.ID)
	seqs := map[string][]sqltenant.Sequence{}
	for _, tb := range s.Tables {
		seqs[tb.Name] = tb.Sequences
	}
	require.Equal(t, []sqltenant.Sequence{{Column: "id", Value: 500}}, seqs["users"])
	require.Equal(t, []sqltenant.Sequence{{Column: "id", Value: 700}}, seqs["orders"])
	require.Empty(t, seqs["projects"], "no serial or identity column")

	next := func(pool *pgxpool.Pool, table string) int64 {
		var n int64
		require.NoError(t, pool.QueryRow(master(), `SELECT nextval(pg_get_serial_sequence($1, 'id'))`, table).Scan(&n))
		return n
	}
	fresh, freshDB := pgDatabase(t) // sequences never used: taken to the backup's values
	_, err := pgRestore(t, r, freshDB, "acme", snap.ID, appOptions(), nil)
	require.NoError(t, err)
	require.Equal(t, int64(501), next(fresh, "users"))
	require.Equal(t, int64(701), next(fresh, "orders"))

	ahead, aheadDB := pgDatabase(t) // further on than the backup: left there
	pgExec(t, ahead, `SELECT setval(pg_get_serial_sequence('users', 'id'), 900)`)
	_, err = pgRestore(t, r, aheadDB, "acme", snap.ID, appOptions(), nil)
	require.NoError(t, err)
	require.Equal(t, int64(901), next(ahead, "users"))
	require.Equal(t, int64(701), next(ahead, "orders"))
}

// TestPostgresRestoreVerifiesRowsReadBack: a trigger on the target
// rewrites a value on its way in; the restore reads the tenant's rows
// back inside its transaction, sees they are not the backup's, and
// commits nothing. With SkipVerify the rewritten rows are committed.
func TestPostgresRestoreVerifiesRowsReadBack(t *testing.T) {
	pool, db := pgDatabase(t)
	pgSeed(t, pool, "acme", 10, 0)
	pgSeed(t, pool, "globex", 5, 1000)
	e, r, _ := newEngine(t)
	snap := pgBackup(t, e, db, "acme", appOptions())

	pgExec(t, pool, `UPDATE users SET name = 'changed' WHERE tenant_id = 'acme'`)
	pgExec(t, pool, `CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN NEW.name = upper(NEW.name); RETURN NEW; END $$;
		CREATE TRIGGER shout BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION shout()`)
	acme, globex := pgTenantDump(t, pool, "acme"), pgTenantDump(t, pool, "globex")

	_, err := pgRestore(t, r, db, "acme", snap.ID, appOptions(), nil)
	require.ErrorIs(t, err, sqltenant.ErrMismatch)
	require.ErrorContains(t, err, `"users"`)
	require.Equal(t, acme, pgTenantDump(t, pool, "acme"), "nothing committed")
	require.Equal(t, globex, pgTenantDump(t, pool, "globex"))

	o := appOptions()
	o.SkipVerify = true
	_, err = pgRestore(t, r, db, "acme", snap.ID, o, nil)
	require.NoError(t, err, "without the check the rewritten rows are committed")
	require.NotEqual(t, acme, pgTenantDump(t, pool, "acme"))
}

package sqltenant_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/internal/pgtest"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/sqltenant"
)

// pgBulkExtras adds to pgTenantSchema's tables in schema acme what a
// bulk load sets aside and must make again exactly: a secondary index,
// a unique index backing no constraint, a partial index, and a foreign
// key that is deferrable.
const pgBulkExtras = `
CREATE INDEX tasks_body ON acme.tasks (body) WHERE body IS NOT NULL;
CREATE UNIQUE INDEX users_name ON acme.users (name);
CREATE INDEX projects_title ON acme.projects (lower(title));
ALTER TABLE acme.projects ADD CONSTRAINT projects_self FOREIGN KEY (id) REFERENCES acme.projects (id)
	DEFERRABLE INITIALLY DEFERRED;
`

// pgDefinitions returns the definition of every constraint and index of
// schema's tables, by name, with whether each constraint is validated.
func pgDefinitions(t testing.TB, pool *pgxpool.Pool, schema string) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT 'constraint ' || conname, pg_get_constraintdef(k.oid) || CASE WHEN convalidated THEN '' ELSE ' (not validated)' END
		FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = $1
		UNION ALL
		SELECT 'index ' || c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`, schema)
	require.NoError(t, err)
	defs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var d [2]string
		return d, r.Scan(&d[0], &d[1])
	})
	require.NoError(t, err)
	out := map[string]string{}
	for _, d := range defs {
		out[d[0]] = d[1]
	}
	return out
}

// pgFileNodes returns the relfilenode of each of schema's three tables:
// TRUNCATE gives a table a new one, so a change shows a bulk load.
func pgFileNodes(t testing.TB, pool *pgxpool.Pool, schema string) map[string]uint32 {
	t.Helper()
	out := map[string]uint32{}
	for _, table := range []string{"users", "projects", "tasks"} {
		var n uint32
		require.NoError(t, pool.QueryRow(context.Background(),
			`SELECT relfilenode FROM pg_class WHERE oid = $1::regclass`, schema+"."+table).Scan(&n))
		out[table] = n
	}
	return out
}

// pgEmptySchema creates schema acme with pgTenantSchema's tables and
// pgBulkExtras, seeds it, backs it up, empties it, and returns the
// rows, the definitions and the snapshot's ID.
func pgEmptySchema(t *testing.T, pool *pgxpool.Pool) (rows map[string][]string, defs map[string]string, snap string, r *restore.Restorer, db *sqltenant.DB) {
	t.Helper()
	pgTenantTables(t, pool, "acme")
	pgExec(t, pool, pgBulkExtras)
	pgTenantSeed(t, pool, "acme", 50)
	e, r, _ := newEngine(t)
	db = pgDB(t, pool, &sqltenant.PostgresOptions{Schema: "acme"})
	snap = pgBackup(t, e, db, "acme", nil).ID
	rows, defs = pgSchemaDump(t, pool, "acme"), pgDefinitions(t, pool, "acme")
	require.Len(t, defs, 12, "3 primary keys and their indexes, 3 foreign keys, 3 more indexes")
	pgExec(t, pool, `DELETE FROM acme.tasks; DELETE FROM acme.projects; DELETE FROM acme.users`)
	return rows, defs, snap, r, db
}

// A full restore into a tenant schema's emptied tables loads them in
// bulk (its tables truncated, which gives them new files) and leaves
// every constraint and index as it was, validated, with the rows the
// backup holds.
func TestPostgresBulkRestoreIntoEmptySchema(t *testing.T) {
	pool := pgtest.DB(t)
	want, defs, snap, r, db := pgEmptySchema(t, pool)
	nodes := pgFileNodes(t, pool, "acme")

	rep, err := pgRestore(t, r, db, "acme", snap, nil, nil)
	require.NoError(t, err)
	require.Equal(t, restore.Outcome{Module: "tasks", Action: "replaced", Inserted: 150}, outcomes(rep)["tasks"])
	require.Equal(t, want, pgSchemaDump(t, pool, "acme"))
	require.Equal(t, defs, pgDefinitions(t, pool, "acme"))
	for table, n := range pgFileNodes(t, pool, "acme") {
		require.NotEqual(t, nodes[table], n, "table %s was loaded in bulk", table)
	}
	pgExec(t, pool, `INSERT INTO acme.users (name) VALUES ('next')`) // the identity's sequence was advanced
}

// A bulk load whose rows break a foreign key (tasks restored alone, their
// projects gone) fails with ErrForeignKey when the key is added back,
// and changes nothing: no row, no dropped key or index, no new file.
func TestPostgresBulkRestoreBrokenReferenceChangesNothing(t *testing.T) {
	pool := pgtest.DB(t)
	_, defs, snap, r, db := pgEmptySchema(t, pool)
	nodes := pgFileNodes(t, pool, "acme")

	_, err := pgRestore(t, r, db, "acme", snap, nil,
		&restore.Options{Mode: restore.Selective, Modules: []string{"tasks", sqltenant.SchemaModule}})
	require.ErrorIs(t, err, sqltenant.ErrForeignKey)
	require.ErrorContains(t, err, "tasks")
	require.Equal(t, map[string][]string{"users": {}, "projects": {}, "tasks": {}}, pgSchemaDump(t, pool, "acme"))
	require.Equal(t, defs, pgDefinitions(t, pool, "acme"))
	require.Equal(t, nodes, pgFileNodes(t, pool, "acme"))
}

// Tables that hold a row, a role that does not own the tables, a table
// with a trigger of the application's, and a key a view depends on make
// the restore load row by row, as before: the same rows, and no table
// truncated.
func TestPostgresBulkDeclined(t *testing.T) {
	t.Run("a table holds rows", func(t *testing.T) {
		pool := pgtest.DB(t)
		want, defs, snap, r, db := pgEmptySchema(t, pool)
		pgExec(t, pool, `INSERT INTO acme.users (name) VALUES ('left')`)
		nodes := pgFileNodes(t, pool, "acme")
		_, err := pgRestore(t, r, db, "acme", snap, nil, nil)
		require.NoError(t, err)
		require.Equal(t, want, pgSchemaDump(t, pool, "acme"))
		require.Equal(t, defs, pgDefinitions(t, pool, "acme"))
		require.Equal(t, nodes, pgFileNodes(t, pool, "acme"))
	})
	t.Run("the role does not own the tables", func(t *testing.T) {
		pool := pgtest.DB(t)
		want, defs, snap, r, _ := pgEmptySchema(t, pool)
		nodes := pgFileNodes(t, pool, "acme")
		db := pgDB(t, pgWriterRole(t, pool), &sqltenant.PostgresOptions{Schema: "acme"})
		_, err := pgRestore(t, r, db, "acme", snap, nil, nil)
		require.NoError(t, err)
		require.Equal(t, want, pgSchemaDump(t, pool, "acme"))
		require.Equal(t, defs, pgDefinitions(t, pool, "acme"))
		require.Equal(t, nodes, pgFileNodes(t, pool, "acme"))
	})
	t.Run("a table has a trigger", func(t *testing.T) {
		pool := pgtest.DB(t)
		want, _, snap, r, db := pgEmptySchema(t, pool)
		pgExec(t, pool, `CREATE FUNCTION acme.seen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
			CREATE TRIGGER seen AFTER TRUNCATE ON acme.tasks EXECUTE FUNCTION acme.seen()`)
		nodes := pgFileNodes(t, pool, "acme")
		_, err := pgRestore(t, r, db, "acme", snap, nil, nil)
		require.NoError(t, err)
		require.Equal(t, want, pgSchemaDump(t, pool, "acme"))
		require.Equal(t, nodes, pgFileNodes(t, pool, "acme"))
	})
	t.Run("a view depends on a primary key", func(t *testing.T) {
		pool := pgtest.DB(t)
		want, defs, snap, r, db := pgEmptySchema(t, pool)
		// Grouping by the key lets the view select name: it depends on
		// users_pkey, which therefore cannot be dropped.
		pgExec(t, pool, `CREATE VIEW acme.names AS SELECT id, name FROM acme.users GROUP BY id`)
		nodes := pgFileNodes(t, pool, "acme")
		_, err := pgRestore(t, r, db, "acme", snap, nil, nil)
		require.NoError(t, err)
		require.Equal(t, want, pgSchemaDump(t, pool, "acme"))
		require.Equal(t, defs, pgDefinitions(t, pool, "acme"))
		require.Equal(t, nodes, pgFileNodes(t, pool, "acme"))
	})
}

// pgWriterRole creates a role that may read and write schema acme's
// tables and sequences but owns none of them, and returns a pool of
// pool's database whose sessions act as it.
func pgWriterRole(t *testing.T, pool *pgxpool.Pool) *pgxpool.Pool {
	t.Helper()
	var canCreate bool
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&canCreate))
	if !canCreate {
		t.Skipf("the role of %s may not create roles (CREATEROLE), which this test needs", pgtest.EnvURL)
	}
	role := "steward_writer_" + strings.ToLower(rand.Text()[:10])
	pgExec(t, pool, `CREATE ROLE `+role+` NOLOGIN NOINHERIT; GRANT `+role+` TO current_user;
		GRANT USAGE ON SCHEMA acme TO `+role+`;
		GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA acme TO `+role+`;
		GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA acme TO `+role)
	t.Cleanup(func() {
		_, err := pool.Exec(context.Background(), `DROP OWNED BY `+role+`; DROP ROLE `+role)
		require.NoError(t, err)
	})
	cfg := pool.Config().Copy()
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `SET ROLE `+role)
		return err
	}
	writer, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(writer.Close)
	return writer
}

package sqltenant_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/sqltenant"
	"github.com/iluxsys/steward/storage"
)

func master() context.Context {
	return steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
}

// appSchema is a small multi-tenant application: shared tables with a
// tenant column, a foreign-key chain users <- projects <- tasks with
// composite keys, orders and their items (which reach the tenant
// through orders), a reference table, and the release migrator's table.
const appSchema = `
CREATE TABLE countries (code TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE users (
	tenant_id TEXT NOT NULL, id INTEGER NOT NULL, name TEXT, email TEXT, avatar BLOB,
	settings TEXT, balance TEXT, score REAL, big INTEGER, created_at TIMESTAMP, updated_at TEXT,
	country TEXT REFERENCES countries(code),
	label TEXT GENERATED ALWAYS AS (coalesce(name, '') || ' <' || coalesce(email, '') || '>') VIRTUAL,
	PRIMARY KEY (tenant_id, id));
CREATE TABLE projects (
	tenant_id TEXT NOT NULL, id INTEGER NOT NULL, owner_id INTEGER NOT NULL, title TEXT NOT NULL, updated_at TEXT,
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id));
CREATE TABLE tasks (
	tenant_id TEXT NOT NULL, project_id INTEGER NOT NULL, seq INTEGER NOT NULL, body TEXT, done INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, project_id, seq),
	FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id));
CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, placed_at DATETIME, total TEXT);
CREATE TABLE order_items (
	order_id INTEGER NOT NULL REFERENCES orders (id), line INTEGER NOT NULL, sku TEXT, qty INTEGER, price REAL,
	PRIMARY KEY (order_id, line));
CREATE TABLE steward_migrations (id TEXT PRIMARY KEY, release TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL);
INSERT INTO steward_migrations VALUES ('0001_init', '1.0.0', 'x', '2026-01-01T00:00:00Z');
INSERT INTO countries VALUES ('FR', 'France'), ('JP', 'Japan');
`

// appOptions are the layout of appSchema.
func appOptions() *sqltenant.Options {
	return &sqltenant.Options{
		TenantColumn: "tenant_id",
		Exclude:      []string{"countries"},
		Filters:      map[string]string{"order_items": "order_id IN (SELECT id FROM orders WHERE tenant_id = {tenant})"},
	}
}

// openDB opens a new SQLite file in dir with appSchema.
func openDB(t testing.TB, dir, name string) *sql.DB {
	t.Helper()
	db, err := sqltenant.OpenSQLite(filepath.Join(dir, name))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	exec(t, db, appSchema)
	return db
}

func exec(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	_, err := db.Exec(q, args...)
	require.NoError(t, err, q)
}

// seed inserts tenant's rows: n users, each with a project of two tasks,
// and an order of two items per user; ids offset by base so tenants do
// not share keys where keys are global (orders).
func seed(t testing.TB, db *sql.DB, tenant string, n, base int) {
	t.Helper()
	tx, err := db.Begin()
	require.NoError(t, err)
	for i := 1; i <= n; i++ {
		_, err := tx.Exec(`INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			tenant, i, fmt.Sprintf("user %d of %s — Zoë 🚀 日本", i, tenant), fmt.Sprintf("u%d@%s.example", i, tenant),
			[]byte{0, byte(i), 0xff}, `{"theme":"dark","n":[1,2.5,null],"s":"\"q\""}`, "12345678901234567890.123456789",
			0.1+0.2, int64(math.MaxInt64)-int64(i), "2026-03-04T05:06:07.123456789+05:30", fmt.Sprintf("2026-01-01T00:00:%02dZ", i%60), "FR")
		require.NoError(t, err)
		_, err = tx.Exec(`INSERT INTO projects VALUES (?, ?, ?, ?, ?)`, tenant, i, i, "project "+strconv.Itoa(i), "2026-01-01T00:00:00Z")
		require.NoError(t, err)
		for s := 1; s <= 2; s++ {
			_, err = tx.Exec(`INSERT INTO tasks VALUES (?, ?, ?, ?, ?)`, tenant, i, s, "task\nwith\ttabs", s%2)
			require.NoError(t, err)
		}
		_, err = tx.Exec(`INSERT INTO orders VALUES (?, ?, ?, ?)`, base+i, tenant, "2026-02-03 04:05:06", "99.99")
		require.NoError(t, err)
		for l := 1; l <= 2; l++ {
			_, err = tx.Exec(`INSERT INTO order_items VALUES (?, ?, ?, ?, ?)`, base+i, l, "SKU-"+strconv.Itoa(l), l, 1.0/3)
			require.NoError(t, err)
		}
	}
	require.NoError(t, tx.Commit())
}

// special adds the rows whose values are easy to lose: NULL next to ”,
// an empty blob next to a NULL one, extreme integers and floats.
func special(t testing.TB, db *sql.DB, tenant string) {
	t.Helper()
	exec(t, db, `INSERT INTO users (tenant_id, id, name, email, avatar, settings, score, big) VALUES (?, 1001, '', NULL, ?, NULL, ?, ?)`,
		tenant, []byte{}, math.SmallestNonzeroFloat64, int64(math.MinInt64))
	exec(t, db, `INSERT INTO users (tenant_id, id, name, email, avatar, score, big) VALUES (?, 1002, NULL, '', NULL, ?, 0)`,
		tenant, math.Copysign(0, -1))
}

// dump returns every row of table where the tenant's rows are selected by
// where, in key order, each value with its storage class, exactly
// (floats to the last bit, blobs in hex).
func dump(t testing.TB, db *sql.DB, table, where string, args ...any) []string {
	t.Helper()
	var cols []string
	info, err := db.Query(`SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	require.NoError(t, err)
	for info.Next() {
		var c string
		require.NoError(t, info.Scan(&c))
		cols = append(cols, `typeof("`+c+`"), +"`+c+`"`) // +c: the value as stored, never parsed as a time
	}
	require.NoError(t, info.Close())
	rows, err := db.Query(`SELECT `+strings.Join(cols, ", ")+` FROM "`+table+`" WHERE `+where+` ORDER BY 2, 4, 6`, args...)
	require.NoError(t, err)
	defer rows.Close()
	cols, err = rows.Columns()
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		raw := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		var b strings.Builder
		for _, x := range raw {
			switch v := x.(type) {
			case nil:
				b.WriteString("NULL|")
			case float64:
				fmt.Fprintf(&b, "real:%x|", math.Float64bits(v))
			case []byte:
				fmt.Fprintf(&b, "blob:%x|", v)
			default:
				fmt.Fprintf(&b, "%T:%v|", v, v)
			}
		}
		out = append(out, b.String())
	}
	require.NoError(t, rows.Err())
	return out
}

// tenantDump is every table of appSchema for tenant.
func tenantDump(t testing.TB, db *sql.DB, tenant string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tb := range []string{"users", "projects", "tasks", "orders"} {
		out[tb] = dump(t, db, tb, "tenant_id = ?", tenant)
	}
	out["order_items"] = dump(t, db, "order_items", "order_id IN (SELECT id FROM orders WHERE tenant_id = ?)", tenant)
	return out
}

// newEngine returns an engine and a restorer on a file store in a
// temporary directory.
func newEngine(t testing.TB) (*backup.Engine, *restore.Restorer, storage.Store) {
	t.Helper()
	store, err := storage.Open(master(), "file://"+filepath.ToSlash(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	e, err := backup.New(store, nil)
	require.NoError(t, err)
	return e, restore.New(e, nil), store
}

// backupTenant backs tenant of db up and returns the snapshot.
func backupTenant(t testing.TB, e *backup.Engine, db *sql.DB, tenant string, typ backup.Type) *backup.Snapshot {
	t.Helper()
	src, err := sqltenant.SQLite(db).Source(tenant, appOptions())
	require.NoError(t, err)
	defer src.Close()
	snap, err := e.Backup(master(), tenant, src, &backup.Options{Type: typ})
	if snap != nil {
		require.Empty(t, snap.Skipped)
	}
	require.NoError(t, err)
	return snap
}

// restoreInto restores snapshot id of tenant into db with opts.
func restoreInto(t testing.TB, r *restore.Restorer, db *sql.DB, tenant, id string, o *sqltenant.Options, ro *restore.Options) (*restore.Report, error) {
	t.Helper()
	if o == nil {
		o = appOptions()
	}
	dst, err := sqltenant.SQLite(db).Target(tenant, o)
	require.NoError(t, err)
	defer dst.Close()
	return r.Restore(master(), tenant, id, dst, ro)
}

func TestRoundTripSharedTables(t *testing.T) {
	dir := t.TempDir()
	src := openDB(t, dir, "src.db")
	seed(t, src, "acme", 20, 0)
	special(t, src, "acme")
	seed(t, src, "globex", 5, 1000)
	e, r, _ := newEngine(t)
	snap := backupTenant(t, e, src, "acme", backup.Full)
	require.Contains(t, snap.Checksums, sqltenant.SchemaModule)
	require.Contains(t, snap.Checksums, "order_items")
	require.NotContains(t, snap.Checksums, "countries", "reference tables are excluded")
	require.NotContains(t, snap.Checksums, "steward_migrations", "the migrator's table is not data")

	// Into a database where another tenant lives, and where acme's rows
	// differ: acme ends as in the backup, initech is untouched.
	dst := openDB(t, dir, "dst.db")
	seed(t, dst, "initech", 7, 2000)
	seed(t, dst, "acme", 3, 3000)
	before := tenantDump(t, dst, "initech")
	rep, err := restoreInto(t, r, dst, "acme", snap.ID, nil, &restore.Options{Mode: restore.Full})
	require.NoError(t, err)
	require.Equal(t, tenantDump(t, src, "acme"), tenantDump(t, dst, "acme"))
	require.Equal(t, before, tenantDump(t, dst, "initech"), "another tenant's rows are untouched")

	got := map[string]restore.Outcome{}
	for _, o := range rep.Outcomes {
		got[o.Module] = o
	}
	require.Equal(t, restore.Outcome{Module: "users", Action: "replaced", Inserted: 22, Deleted: 3}, got["users"])
	require.Equal(t, restore.Outcome{Module: "order_items", Action: "replaced", Inserted: 40, Deleted: 6}, got["order_items"])
	var order []string
	for _, o := range rep.Outcomes {
		order = append(order, o.Module)
	}
	require.Equal(t, []string{"orders", "order_items", "users", "projects", "tasks"}, order, "parents first, ties by name")
}

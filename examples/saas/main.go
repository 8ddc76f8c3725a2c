// Command saas is a small multi-tenant SQLite application backed up per
// tenant with steward. Three tenants share the tables of one database
// (a tenant_id column; invoice lines reach their tenant through their
// invoice; a plans table shared by all is left out). It backs every
// tenant up, deletes some of one tenant's rows, merge-restores that
// tenant — the missing rows come back, rows changed since are kept — and
// shows the other tenants untouched.
//
//	go run ./examples/saas
package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/sqltenant"
	"github.com/iluxsys/steward/storage"
)

const schema = `
CREATE TABLE plans (code TEXT PRIMARY KEY, price_cents INTEGER NOT NULL);
CREATE TABLE customers (
	tenant_id TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, plan TEXT REFERENCES plans (code),
	updated_at TEXT NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE TABLE invoices (
	id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, customer_id INTEGER NOT NULL, issued_at TEXT NOT NULL,
	updated_at TEXT NOT NULL, FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id));
CREATE TABLE invoice_lines (
	invoice_id INTEGER NOT NULL REFERENCES invoices (id), line INTEGER NOT NULL, item TEXT NOT NULL,
	amount TEXT NOT NULL, PRIMARY KEY (invoice_id, line));
INSERT INTO plans VALUES ('free', 0), ('pro', 2900);
`

var tenants = []string{"acme", "globex", "initech"}

// layout tells steward where each tenant's rows are.
var layout = &sqltenant.Options{
	TenantColumn: "tenant_id",
	Exclude:      []string{"plans"},
	Filters:      map[string]string{"invoice_lines": "invoice_id IN (SELECT id FROM invoices WHERE tenant_id = {tenant})"},
}

func main() {
	if err := run(); err != nil {
		log.Fatal("saas: ", err)
	}
}

func run() error {
	work, err := os.MkdirTemp("", "steward-saas-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "saas", Roles: []string{steward.RoleMaster}})

	db, err := sqltenant.OpenSQLite(filepath.Join(work, "app.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := populate(db); err != nil {
		return err
	}
	store, err := storage.Open(ctx, "file://"+filepath.ToSlash(filepath.Join(work, "store")))
	if err != nil {
		return err
	}
	defer store.Close()
	engine, err := backup.New(store, nil)
	if err != nil {
		return err
	}

	snaps := map[string]string{}
	for _, t := range tenants {
		if snaps[t], err = backupTenant(ctx, engine, db, t); err != nil {
			return err
		}
	}
	before := map[string]string{}
	for _, t := range tenants {
		before[t] = fingerprint(db, t)
	}

	// An accident: acme loses its newest invoices; meanwhile a customer
	// is renamed, a change newer than the backup.
	if err := exec(db,
		`DELETE FROM invoice_lines WHERE invoice_id IN (SELECT id FROM invoices WHERE tenant_id = 'acme' AND id > 7)`,
		`DELETE FROM invoices WHERE tenant_id = 'acme' AND id > 7`,
		`UPDATE customers SET name = 'Acme Corp (renamed)', updated_at = '2026-12-01T00:00:00Z' WHERE tenant_id = 'acme' AND id = 1`,
	); err != nil {
		return err
	}
	fmt.Printf("\nacme after the accident: %s\n", counts(db, "acme"))

	dst, err := sqltenant.SQLite(db).Target("acme", layout)
	if err != nil {
		return err
	}
	defer dst.Close()
	rep, err := restore.New(engine, nil).Restore(ctx, "acme", snaps["acme"], dst, &restore.Options{Mode: restore.Merge})
	if err != nil {
		return err
	}
	fmt.Println("\nmerge restore of acme (keep newer by updated_at), one transaction:")
	for _, o := range rep.Outcomes {
		fmt.Printf("  %-14s %3d inserted %3d updated %3d kept\n", o.Module, o.Inserted, o.Updated, o.Kept)
	}
	var name string
	if err := db.QueryRow(`SELECT name FROM customers WHERE tenant_id = 'acme' AND id = 1`).Scan(&name); err != nil {
		return err
	}
	fmt.Printf("\nacme now: %s; customer 1 is still %q\n", counts(db, "acme"), name)
	for _, t := range tenants[1:] {
		fmt.Printf("%s untouched: %v\n", t, fingerprint(db, t) == before[t])
	}
	return nil
}

// backupTenant backs one tenant's rows up and prints what it stored.
func backupTenant(ctx context.Context, engine *backup.Engine, db *sql.DB, tenant string) (string, error) {
	src, err := sqltenant.SQLite(db).Source(tenant, layout)
	if err != nil {
		return "", err
	}
	defer src.Close()
	snap, err := engine.Backup(ctx, tenant, src, &backup.Options{Type: backup.Full})
	if err != nil {
		return "", err
	}
	fmt.Printf("backed up %-8s snapshot %s: %s\n", tenant, snap.ID[:8], counts(db, tenant))
	return snap.ID, nil
}

// populate creates the schema and each tenant's rows: 3 customers,
// 4 invoices each (every third tenant fewer), 2 lines per invoice.
func populate(db *sql.DB) error {
	if err := exec(db, schema); err != nil {
		return err
	}
	id := 0
	for ti, t := range tenants {
		for c := 1; c <= 3; c++ {
			if _, err := db.Exec(`INSERT INTO customers VALUES (?, ?, ?, ?, '2026-01-01T00:00:00Z')`,
				t, c, fmt.Sprintf("%s customer %d", strings.ToUpper(t[:1])+t[1:], c), []string{"free", "pro"}[c%2]); err != nil {
				return err
			}
			for range 4 - ti {
				id++
				if _, err := db.Exec(`INSERT INTO invoices VALUES (?, ?, ?, '2026-02-01', '2026-02-01T00:00:00Z')`, id, t, c); err != nil {
					return err
				}
				for l := 1; l <= 2; l++ {
					if _, err := db.Exec(`INSERT INTO invoice_lines VALUES (?, ?, ?, ?)`, id, l, "seat × "+fmt.Sprint(l), "29.00"); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func exec(db *sql.DB, qs ...string) error {
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// tenantQueries select a tenant's rows of each table.
var tenantQueries = []struct{ table, query string }{
	{"customers", `SELECT * FROM customers WHERE tenant_id = ? ORDER BY id`},
	{"invoices", `SELECT * FROM invoices WHERE tenant_id = ? ORDER BY id`},
	{"invoice_lines", `SELECT * FROM invoice_lines WHERE invoice_id IN (SELECT id FROM invoices WHERE tenant_id = ?) ORDER BY 1, 2`},
}

// counts says how many rows the tenant has per table.
func counts(db *sql.DB, tenant string) string {
	var parts []string
	for _, q := range tenantQueries {
		var n int
		_ = db.QueryRow(`SELECT count(*) FROM (`+q.query+`)`, tenant).Scan(&n)
		parts = append(parts, fmt.Sprintf("%d %s", n, q.table))
	}
	return strings.Join(parts, ", ")
}

// fingerprint hashes every row of the tenant.
func fingerprint(db *sql.DB, tenant string) string {
	h := sha256.New()
	for _, q := range tenantQueries {
		rows, err := db.Query(q.query, tenant)
		if err != nil {
			return err.Error()
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			_ = rows.Scan(ptrs...)
			fmt.Fprintf(h, "%s %v\n", q.table, vals)
		}
		rows.Close()
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

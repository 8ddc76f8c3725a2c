package sqltenant_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/sqltenant"
	"github.com/iluxsys/steward/storage"
)

// Back up one tenant's rows of shared tables, lose some of them, and
// merge them back: the missing rows return, the others are kept.
func Example() {
	dir, _ := os.MkdirTemp("", "sqltenant-example")
	defer os.RemoveAll(dir)
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})

	db, err := sqltenant.OpenSQLite(filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE notes (tenant_id TEXT NOT NULL, id INTEGER NOT NULL, body TEXT, updated_at TEXT, PRIMARY KEY (tenant_id, id))`,
		`INSERT INTO notes VALUES ('acme', 1, 'hello', '2026-01-01T00:00:00Z'), ('acme', 2, 'world', '2026-01-01T00:00:00Z'), ('globex', 1, 'other', '2026-01-01T00:00:00Z')`,
	} {
		if _, err := db.Exec(q); err != nil {
			log.Fatal(err)
		}
	}

	store, _ := storage.Open(ctx, "file://"+filepath.ToSlash(filepath.Join(dir, "store")))
	defer store.Close()
	engine, _ := backup.New(store, nil)
	layout := &sqltenant.Options{TenantColumn: "tenant_id"}

	src, _ := sqltenant.SQLite(db).Source("acme", layout)
	snap, err := engine.Backup(ctx, "acme", src, &backup.Options{Type: backup.Full})
	src.Close()
	if err != nil {
		log.Fatal(err)
	}

	db.Exec(`DELETE FROM notes WHERE tenant_id = 'acme' AND id = 2`)

	dst, _ := sqltenant.SQLite(db).Target("acme", layout)
	defer dst.Close()
	rep, err := restore.New(engine, nil).Restore(ctx, "acme", snap.ID, dst, &restore.Options{Mode: restore.Merge})
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range rep.Outcomes {
		fmt.Printf("%s: %s, %d inserted, %d kept\n", o.Module, o.Action, o.Inserted, o.Kept)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM notes`).Scan(&n)
	fmt.Println("rows:", n)
	// Output:
	// notes: merged, 1 inserted, 1 kept
	// rows: 3
}

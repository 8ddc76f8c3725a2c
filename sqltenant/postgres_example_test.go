package sqltenant_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/sqltenant"
	"github.com/iluxsys/steward/storage"
)

// A tenant's rows in PostgreSQL tables shared by every tenant: backed up
// with COPY from one snapshot, restored in one transaction into the same
// tables of another schema (a scratch copy for a drill, say). Each
// tenant could as well have a schema of its own (PostgresOptions.Schema,
// no TenantColumn) or a database (a pool per database).
func ExamplePostgres() {
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
	pool, err := pgxpool.New(ctx, os.Getenv("APP_DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	shared, err := sqltenant.Postgres(pool, nil) // schema public
	if err != nil {
		log.Fatal(err)
	}
	layout := &sqltenant.Options{TenantColumn: "tenant_id", Exclude: []string{"countries"}}
	src, err := shared.Source("acme", layout)
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	store := storage.NewMemory()
	engine, err := backup.New(store, nil)
	if err != nil {
		log.Fatal(err)
	}
	snap, err := engine.Backup(ctx, "acme", src, &backup.Options{Type: backup.Full})
	if err != nil {
		log.Fatal(err)
	}

	scratch, err := sqltenant.Postgres(pool, &sqltenant.PostgresOptions{Schema: "acme_scratch"})
	if err != nil {
		log.Fatal(err)
	}
	dst, err := scratch.Target("acme", layout)
	if err != nil {
		log.Fatal(err)
	}
	defer dst.Close()
	rep, err := restore.New(engine, nil).Restore(ctx, "acme", snap.ID, dst, &restore.Options{Mode: restore.Full})
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range rep.Outcomes {
		fmt.Println(o.Module, o.Inserted)
	}
}

package release_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/storage"
)

func ExampleManager() {
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "ci", Roles: []string{steward.RoleMaster}})
	dir, _ := os.MkdirTemp("", "release-example-")
	defer os.RemoveAll(dir)
	db, _ := sql.Open("sqlite", filepath.Join(dir, "app.db"))
	defer db.Close()

	store := storage.NewMemory()
	engine, _ := backup.New(store, nil)
	// RecordKey is a secret the host holds (here a fixed one; use random
	// bytes from a vault): definitions and the log are then authenticated.
	m, _ := release.NewManager(store, &release.Config{Engine: engine, Migrator: &release.SQLMigrator{DB: db},
		RecordKey: []byte("example-release-record-key-32byt")})

	v1, _ := m.Create(ctx, release.Spec{Channel: "prod", Version: "1.0.0",
		Artifact: backup.FSSource(fstest.MapFS{"app.js": {Data: []byte("v1")}}),
		Forward:  []release.Migration{{ID: "001", SQL: "CREATE TABLE notes (body TEXT)"}},
		Backward: []release.Migration{{ID: "001", SQL: "DROP TABLE notes"}}})
	v2, _ := m.Create(ctx, release.Spec{Channel: "prod", Version: "1.1.0",
		Artifact: backup.FSSource(fstest.MapFS{"app.js": {Data: []byte("v2")}}),
		Forward:  []release.Migration{{ID: "002", SQL: "ALTER TABLE notes ADD COLUMN author TEXT"}},
		Backward: []release.Migration{{ID: "002", SQL: "ALTER TABLE notes DROP COLUMN author"}}})

	d, _ := m.Deploy(ctx, v1.ID, nil)
	fmt.Println(d.Status)
	_, _ = m.Deploy(ctx, v2.ID, nil)
	rb, _ := m.Rollback(ctx, v1.ID, nil)
	active, _ := m.Active(ctx, "prod")
	fmt.Println(rb.Kind, rb.Status, active.Version)
	_, err := m.Create(ctx, release.Spec{Channel: "prod", Version: "1.2"})
	fmt.Println(err != nil)
	// Output:
	// succeeded
	// rollback succeeded 1.0.0
	// true
}

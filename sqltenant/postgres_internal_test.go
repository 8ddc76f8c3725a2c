package sqltenant

import (
	"context"
	"testing"
	"time"

	"github.com/iluxsys/steward/internal/pgtest"
)

// A scan that finds the first connection busy opens another one, which
// imports the first's exported snapshot: it does not see a row committed
// after the snapshot began, though it began its own transaction later.
func TestPostgresParallelReaderImportsSnapshot(t *testing.T) {
	pool := pgtest.DB(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE items (id int PRIMARY KEY, tenant text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO items VALUES (1, 'acme'), (2, 'acme')`); err != nil {
		t.Fatal(err)
	}
	d := &pgDialect{pool: pool, schema: "public", lockTimeout: time.Second, parallel: 2}
	rt, err := d.read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx := rt.(*pgReadTx)
	defer tx.close()
	tables, err := tx.tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO items VALUES (3, 'acme')`); err != nil {
		t.Fatal(err)
	}
	busy, err := tx.acquire(ctx) // the first connection, held
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	spec := &scanSpec{Table: &tables[0], Columns: []string{"id", "tenant"}, Where: `"tenant" = $1`, Args: []any{"acme"}}
	err = tx.scan(ctx, spec, func(row []value) error {
		ids = append(ids, row[0].i)
		return nil
	})
	tx.release(busy)
	if err != nil {
		t.Fatal(err)
	}
	if len(tx.all) != 2 {
		t.Fatalf("%d connections: the scan did not open a second one", len(tx.all))
	}
	if len(ids) != 2 || ids[0] != 1 || ids[1] != 2 {
		t.Fatalf("the second connection read ids %v, want [1 2] (the snapshot's)", ids)
	}
}

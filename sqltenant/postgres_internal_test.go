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

// A scan (COPY) and a query of the same rows give the same values, kind
// for kind, also for a domain over an integer and for bytea: so sums a
// validation recomputes by query match the backup's.
func TestPostgresScanAndQueryAgree(t *testing.T) {
	pool := pgtest.DB(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE DOMAIN positive AS bigint CHECK (VALUE > 0);
		CREATE TABLE items (id int PRIMARY KEY, n positive, b bytea, s text, a int[]);
		INSERT INTO items VALUES (1, 5, '\x00ff', E'tab\there \\N', '{1,NULL}'), (2, NULL, '', NULL, '{}')`)
	if err != nil {
		t.Fatal(err)
	}
	d := &pgDialect{pool: pool, schema: "public", lockTimeout: time.Second, parallel: 1}
	rt, err := d.read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.close()
	tables, err := rt.tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spec := &scanSpec{Table: &tables[0], Columns: tables[0].columnNames()}
	var scanned, queried [][]value
	collect := func(into *[][]value) func([]value) error {
		return func(r []value) error {
			*into = append(*into, append([]value(nil), r...))
			return nil
		}
	}
	if err := rt.scan(ctx, spec, collect(&scanned)); err != nil {
		t.Fatal(err)
	}
	if err := rt.query(ctx, spec.selectSQL(func(c string) string { return c }), nil, collect(&queried)); err != nil {
		t.Fatal(err)
	}
	if len(scanned) != 2 || len(queried) != 2 {
		t.Fatalf("scanned %d rows, queried %d; want 2", len(scanned), len(queried))
	}
	if scanned[0][1].k != kindInt || scanned[0][2].k != kindBlob {
		t.Fatalf("row 1 scanned as %#v: want the domain an integer, bytea a blob", scanned[0])
	}
	for i := range scanned {
		for j := range scanned[i] {
			if !scanned[i][j].equal(queried[i][j]) {
				t.Errorf("row %d column %d: scanned %#v, queried %#v", i+1, j+1, scanned[i][j], queried[i][j])
			}
		}
	}
}

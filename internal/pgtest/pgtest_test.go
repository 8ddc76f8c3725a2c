package pgtest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/iluxsys/steward/internal/pgtest"
)

// Two databases made for two tests share nothing: a table created in one
// is absent from the other, and each is gone once its test has finished.
func TestDatabasesAreIsolatedAndDropped(t *testing.T) {
	server := pgtest.URL(t)
	var names []string
	for _, sub := range []string{"first", "second"} {
		t.Run(sub, func(t *testing.T) {
			pool := pgtest.DB(t)
			var tables int
			err := pool.QueryRow(t.Context(),
				`SELECT count(*) FROM pg_tables WHERE tablename = 'marker'`).Scan(&tables)
			if err != nil {
				t.Fatal(err)
			}
			if tables != 0 {
				t.Fatalf("a new database already holds the table another test created")
			}
			if _, err := pool.Exec(t.Context(), `CREATE TABLE marker (id int)`); err != nil {
				t.Fatal(err)
			}
			var name string
			if err := pool.QueryRow(t.Context(), `SELECT current_database()`).Scan(&name); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
		})
	}
	if len(names) != 2 || names[0] == names[1] {
		t.Fatalf("databases %q: want two different ones", names)
	}
	conn, err := pgx.Connect(t.Context(), server)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var left int
	err = conn.QueryRow(t.Context(),
		`SELECT count(*) FROM pg_database WHERE datname = ANY($1)`, names).Scan(&left)
	if err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d of the databases %q outlived their tests", left, names)
	}
}

// A database is dropped even when its test leaves a connection open.
func TestDropEndsOpenConnections(t *testing.T) {
	server := pgtest.URL(t)
	var name string
	t.Run("leaves a connection", func(t *testing.T) {
		db := pgtest.NewDatabase(t)
		name = db.Name
		conn, err := pgx.Connect(t.Context(), db.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn // deliberately not closed
	})
	conn, err := pgx.Connect(t.Context(), server)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var exists bool
	err = conn.QueryRow(t.Context(),
		`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s outlived its test", name)
	}
}

// Names are valid unquoted identifiers, recognisable and unique.
func TestNewDatabaseName(t *testing.T) {
	pgtest.URL(t)
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if a.Name == b.Name {
		t.Fatalf("two databases named %s", a.Name)
	}
	for _, n := range []string{a.Name, b.Name} {
		if len(n) > 63 || !strings.HasPrefix(n, "steward_testnewdatabasename_") {
			t.Errorf("name %q: want steward_<test>_<random>, at most 63 bytes", n)
		}
	}
	if !strings.Contains(a.URL, "/"+a.Name+"?") && !strings.HasSuffix(a.URL, "/"+a.Name) {
		t.Errorf("URL does not name the database %s", a.Name)
	}
}

// Without the variable, the helpers skip the test and say which variable.
func TestSkipsWithoutURL(t *testing.T) {
	var inner *testing.T
	t.Run("unset", func(t *testing.T) {
		inner = t
		t.Setenv(pgtest.EnvURL, "")
		pgtest.DB(t)
		t.Fatal("DB returned without a server")
	})
	if !inner.Skipped() {
		t.Fatal("the test was not skipped")
	}
}

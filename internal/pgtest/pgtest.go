// Package pgtest gives tests a PostgreSQL database of their own.
//
// The server comes from STEWARD_PG_URL (.ci/run starts one and sets it):
// a connection string whose role may create databases (and roles, for
// the tests that need a second one; they skip without). Without it, every
// helper skips the test with a message naming the variable, so the
// PostgreSQL tests run in CI and skip on a machine without a server.
//
// Each database is new, uniquely named after the test, and dropped in the
// test's cleanup, so tests are isolated from each other and may run in
// parallel.
package pgtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL names the environment variable holding the server's connection
// string, e.g. postgres://steward:secret@127.0.0.1:5432/steward?sslmode=disable.
const EnvURL = "STEWARD_PG_URL"

// cleanupTimeout bounds the DROP DATABASE run after a test.
const cleanupTimeout = 30 * time.Second

// URL returns the server's connection string, or skips t when EnvURL is
// unset or empty.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		t.Skipf("pgtest: %s is not set; set it to a PostgreSQL connection string (a role that may create databases) to run this test", EnvURL)
	}
	return u
}

// Database is a database created for one test.
type Database struct {
	Name string // the database's name
	URL  string // a connection string for it, as the caller's role
}

// NewDatabase creates an empty database for t and drops it (closing any
// connection still open to it) when t and its subtests have finished. It
// skips t when EnvURL is unset and fails t when the server refuses.
func NewDatabase(t testing.TB) Database {
	t.Helper()
	server := URL(t)
	name := databaseName(t.Name())
	admin, err := pgx.Connect(t.Context(), server)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", EnvURL, err)
	}
	defer admin.Close(context.Background())
	create := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(t.Context(), create); err != nil {
		t.Fatalf("pgtest: %s: %v", create, err)
	}
	t.Cleanup(func() { drop(t, server, name) })
	dbURL, err := withDatabase(server, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return Database{Name: name, URL: dbURL}
}

// DB creates an empty database for t (see NewDatabase) and returns a pool
// connected to it, closed before the database is dropped.
func DB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return Pool(t, NewDatabase(t).URL)
}

// Pool opens a pool on connURL and closes it in t's cleanup.
func Pool(t testing.TB, connURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), connURL)
	if err != nil {
		t.Fatalf("pgtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := pool.Ping(t.Context()); err != nil {
		t.Fatalf("pgtest: ping: %v", err)
	}
	return pool
}

// drop removes the database, ending connections a test left open. An
// autovacuum worker in it makes DROP ... WITH (FORCE) fail for a role
// without pg_signal_backend (PostgreSQL 15 checks the worker as another
// role's process) or with "being accessed by other users"; the worker
// ends soon, so drop retries until cleanupTimeout.
func drop(t testing.TB, server, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Errorf("pgtest: drop %s: connect: %v", name, err)
		return
	}
	defer admin.Close(context.Background())
	stmt := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"
	for {
		_, err := admin.Exec(ctx, stmt)
		if err == nil {
			return
		}
		if !transientDropError(err) || ctx.Err() != nil {
			t.Errorf("pgtest: %s: %v", stmt, err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(dropRetryDelay):
		}
	}
}

const dropRetryDelay = 200 * time.Millisecond

// transientDropError tells the errors another process's brief presence
// in the database causes: insufficient_privilege (terminating an
// autovacuum worker) and object_in_use.
func transientDropError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42501" || pe.Code == "55006")
}

// databaseName makes a name unique to this call, recognisable by the test's
// name, and within PostgreSQL's 63-byte identifier limit.
func databaseName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
		if b.Len() >= 32 {
			break
		}
	}
	return fmt.Sprintf("steward_%s_%s", strings.TrimSuffix(b.String(), "_"), strings.ToLower(rand.Text()[:12]))
}

// withDatabase returns server's connection string naming database name.
func withDatabase(server, name string) (string, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("%s must be a postgres:// URL", EnvURL)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

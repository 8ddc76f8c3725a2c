package sqltenant

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresOptions say which part of a PostgreSQL database a DB is. A nil
// *PostgresOptions means the defaults.
type PostgresOptions struct {
	// Schema is the schema whose tables the DB reads and restores
	// (default "public"). With Options.TenantColumn the schema's tables
	// are shared by every tenant; without it the schema is the tenant's:
	// a schema per tenant (a DB per schema; restoring a backup through a
	// DB of another schema restores it under a new name), or a database
	// per tenant (a pool per database).
	Schema string
	// LockTimeout bounds how long a backup or restore waits for a table
	// lock (default 5 s): concurrent DDL holding one makes it fail with
	// an error matching ErrLockTimeout instead of waiting behind it.
	LockTimeout time.Duration
	// Parallel is how many connections a backup reads tables with at
	// once (default 1). Each one past the first imports the first's
	// exported snapshot, so every table is still read from one
	// consistent snapshot, as pg_dump -j does.
	Parallel int
}

// ErrLockTimeout: a backup or restore waited longer than
// PostgresOptions.LockTimeout for a lock, usually one concurrent DDL
// (ALTER TABLE, DROP, TRUNCATE, VACUUM FULL) holds. Nothing was changed;
// retry once the DDL is done.
var ErrLockTimeout = errors.New("sqltenant: postgres: timed out waiting for a lock (concurrent DDL?)")

const defaultLockTimeout = 5 * time.Second

// Postgres returns the DB of the tables of one schema of the PostgreSQL
// database pool connects to. A backup reads in one REPEATABLE READ READ
// ONLY transaction (tables locked ACCESS SHARE up front, as pg_dump does)
// and streams each table with COPY TO; a restore writes in one READ
// COMMITTED transaction, loading with COPY FROM, foreign keys enforced,
// and sets each loaded table's sequences to the greatest of their value,
// the value the backup recorded and the table's greatest key. Merges, and loads into tables under
// row-level security, go through temporary staging tables.
//
// No superuser right is used. A backup needs SELECT on the tables; a
// restore SELECT, INSERT, UPDATE and DELETE on them, SELECT and UPDATE
// on their sequences, and TEMP on the database. Under row-level security
// a role that sees only the tenant's rows backs up and restores just
// those. A DB is safe for concurrent use; the pool must allow Parallel
// connections for a backup and one for a restore.
func Postgres(pool *pgxpool.Pool, opts *PostgresOptions) (*DB, error) {
	if pool == nil {
		return nil, errors.New("sqltenant: postgres: nil pool")
	}
	d := &pgDialect{pool: pool, schema: "public", lockTimeout: defaultLockTimeout, parallel: 1}
	if opts != nil {
		if opts.Schema != "" {
			d.schema = opts.Schema
		}
		if opts.LockTimeout > 0 {
			d.lockTimeout = opts.LockTimeout
		}
		if opts.Parallel > 1 {
			d.parallel = opts.Parallel
		}
	}
	if err := checkName("schema", d.schema); err != nil {
		return nil, err
	}
	return &DB{d: d}, nil
}

type pgDialect struct {
	pool        *pgxpool.Pool
	schema      string
	lockTimeout time.Duration
	parallel    int
}

func (*pgDialect) name() string       { return "postgres" }
func (*pgDialect) param(n int) string { return numbered("$", n) }

// sessionSettings make every value's text deterministic and exact, and
// every name resolve in the DB's schema (after pg_catalog, so that
// nothing in the schema shadows a built-in function). They are SET LOCAL: they end
// with the transaction, so the pool's connections are left as they were.
func (d *pgDialect) sessionSettings() []string {
	return []string{
		"SET LOCAL search_path = pg_catalog, " + pgIdent(d.schema) + ", pg_temp",
		"SET LOCAL lock_timeout = " + strconv.FormatInt(d.lockTimeout.Milliseconds(), 10),
		"SET LOCAL standard_conforming_strings = on",
		"SET LOCAL DateStyle = 'ISO, YMD'",
		"SET LOCAL IntervalStyle = 'postgres'",
		"SET LOCAL TimeZone = 'UTC'",
		"SET LOCAL extra_float_digits = 3",
		"SET LOCAL bytea_output = 'hex'",
	}
}

// begin starts a transaction on c in mode and applies sessionSettings.
func (d *pgDialect) begin(ctx context.Context, c *pgx.Conn, mode string) error {
	if _, err := c.Exec(ctx, "BEGIN "+mode); err != nil {
		return err
	}
	for _, s := range d.sessionSettings() {
		if _, err := c.Exec(ctx, s); err != nil {
			_, _ = c.Exec(context.Background(), "ROLLBACK")
			return err
		}
	}
	return nil
}

// pgIdent quotes a (qualified) name as pgx does: each part in double
// quotes, a double quote doubled, NUL bytes dropped. The SQL this
// dialect builds quotes every name with it; the shared code's
// quoteIdent writes the same for the names checkName accepts.
func pgIdent(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// pgError translates a PostgreSQL error: a lock timeout matches
// ErrLockTimeout, a foreign-key violation ErrForeignKey (with the
// server's message naming the table and key); others are wrapped as
// they are. what says what was being done.
func pgError(what string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "55P03": // lock_not_available
			return fmt.Errorf("%w: %s: %s", ErrLockTimeout, what, pe.Message)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: %s: table %q: %s (%s)", ErrForeignKey, what, pe.TableName, pe.Message, pe.Detail)
		}
	}
	return fmt.Errorf("sqltenant: postgres: %s: %w", what, err)
}

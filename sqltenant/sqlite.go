package sqltenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// SQLite returns the DB of a SQLite database opened with database/sql
// (driver "sqlite", modernc.org/sqlite; see OpenSQLite). A backup reads
// in one deferred transaction on one connection; a restore writes in
// one BEGIN IMMEDIATE transaction with foreign keys enforced (deferred to
// the commit, then checked). Values come back exactly as stored: the
// driver's conversion of DATE/DATETIME/TIMESTAMP text to time.Time is
// bypassed.
//
// A backup's read transaction lasts until its last table is read. In
// SQLite's default rollback-journal mode that makes the application's
// writers wait (their busy timeout) meanwhile; in WAL mode
// (PRAGMA journal_mode = WAL) they go on, and the backup still sees the
// database as it was when it began.
func SQLite(db *sql.DB) *DB { return &DB{d: sqliteDialect{db: db}} }

// OpenSQLite opens the SQLite file at path (created if missing) with a
// busy timeout of 10 s and foreign keys enforced, as a host's own
// connections should be.
func OpenSQLite(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, fmt.Errorf("sqltenant: open %q: %w", path, err)
	}
	return db, nil
}

type sqliteDialect struct{ db *sql.DB }

func (sqliteDialect) name() string       { return "sqlite" }
func (sqliteDialect) param(n int) string { return numbered("?", n) }

// affinity returns the SQLite type affinity of a declared type (the
// rules of https://sqlite.org/datatype3.html, section 3.1).
func affinity(declared string) string {
	t := strings.ToUpper(declared)
	switch {
	case strings.Contains(t, "INT"):
		return "INTEGER"
	case strings.Contains(t, "CHAR"), strings.Contains(t, "CLOB"), strings.Contains(t, "TEXT"):
		return "TEXT"
	case t == "" || strings.Contains(t, "BLOB"):
		return "BLOB"
	case strings.Contains(t, "REAL"), strings.Contains(t, "FLOA"), strings.Contains(t, "DOUB"):
		return "REAL"
	}
	return "NUMERIC"
}

// compatible: the same affinity keeps every value as it was; a column
// without affinity (BLOB) keeps anything; NUMERIC and REAL keep integers.
// Other changes would convert values on insert.
func (sqliteDialect) compatible(from, to string) string {
	f, t := affinity(from), affinity(to)
	switch {
	case f == t, t == "BLOB":
		return ""
	case f == "INTEGER" && (t == "NUMERIC" || t == "REAL"):
		return ""
	}
	return fmt.Sprintf("a %s column (%s affinity) would convert %s values (%s affinity)", to, t, from, f)
}

func (d sqliteDialect) read(ctx context.Context) (readTx, error) {
	c, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqltenant: sqlite: %w", err)
	}
	// BEGIN DEFERRED takes its snapshot at the first read: read now.
	if _, err := c.ExecContext(ctx, "BEGIN"); err != nil {
		c.Close()
		return nil, fmt.Errorf("sqltenant: sqlite: begin read: %w", err)
	}
	var n int
	if err := c.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		c.Close()
		return nil, fmt.Errorf("sqltenant: sqlite: begin read: %w", err)
	}
	return &sqliteTx{c: c}, nil
}

func (d sqliteDialect) write(ctx context.Context) (writeTx, error) {
	c, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqltenant: sqlite: %w", err)
	}
	tx := &sqliteTx{c: c, write: true}
	if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&tx.fkBefore); err != nil {
		c.Close()
		return nil, fmt.Errorf("sqltenant: sqlite: %w", err)
	}
	for _, q := range []string{"PRAGMA foreign_keys = ON", "BEGIN IMMEDIATE", "PRAGMA defer_foreign_keys = ON"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			tx.rollback()
			return nil, fmt.Errorf("sqltenant: sqlite: %s: %w", q, err)
		}
	}
	return tx, nil
}

// sqliteTx is a transaction on one connection, begun and ended by hand
// (database/sql's Tx cannot BEGIN IMMEDIATE or set pragmas outside it).
type sqliteTx struct {
	c        *sql.Conn
	write    bool
	fkBefore int // PRAGMA foreign_keys before a write began
	done     bool
}

func (t *sqliteTx) engineVersion(ctx context.Context) (string, error) {
	var v string
	err := t.c.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v)
	return v, err
}

func (t *sqliteTx) query(ctx context.Context, q string, args []any, fn func([]value) error) error {
	rows, err := t.c.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	row := make([]value, len(cols))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, x := range raw {
			row[i] = fromDriver(x)
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// fromDriver converts what database/sql scanned into *any to a value.
// SQLite yields nil, int64, float64, string and []byte (copied by Scan);
// time.Time and bool only if a column escaped the +column bypass.
func fromDriver(x any) value {
	switch v := x.(type) {
	case nil:
		return null()
	case int64:
		return integer(v)
	case float64:
		return float(v)
	case string:
		return text(v)
	case []byte:
		return value{k: kindBlob, b: nonNilShared(v)}
	case bool:
		if v {
			return integer(1)
		}
		return integer(0)
	case time.Time:
		return text(v.Format(time.RFC3339Nano))
	}
	return text(fmt.Sprint(x))
}

func (t *sqliteTx) scan(ctx context.Context, s *scanSpec, fn func([]value) error) error {
	// "+col" is the column's value as stored, without its declared type,
	// so the driver does not turn DATETIME text into a time.Time.
	q := s.selectSQL(func(c string) string { return "+" + c })
	return t.query(ctx, q, s.Args, fn)
}

func (t *sqliteTx) exec(ctx context.Context, q string, args []any) (int64, error) {
	res, err := t.c.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *sqliteTx) close() error { return t.rollback() }

func (t *sqliteTx) commit(ctx context.Context) error {
	if t.done {
		return errors.New("sqltenant: sqlite: transaction already ended")
	}
	if _, err := t.c.ExecContext(ctx, "COMMIT"); err != nil {
		return errors.Join(fmt.Errorf("sqltenant: sqlite: commit: %w", err), t.rollback())
	}
	t.end()
	return nil
}

func (t *sqliteTx) rollback() error {
	if t.done {
		return nil
	}
	_, err := t.c.ExecContext(context.Background(), "ROLLBACK")
	if err != nil && strings.Contains(err.Error(), "no transaction is active") {
		err = nil // BEGIN failed, or SQLite rolled back itself
	}
	t.end()
	return err
}

// end restores the connection's foreign_keys setting and returns it to
// the pool.
func (t *sqliteTx) end() {
	t.done = true
	if t.write && t.fkBefore == 0 {
		_, _ = t.c.ExecContext(context.Background(), "PRAGMA foreign_keys = OFF")
	}
	t.c.Close()
}

func (t *sqliteTx) checkForeignKeys(ctx context.Context, tables []string) error {
	for _, name := range tables {
		var bad error
		err := t.query(ctx, "SELECT \"table\", rowid, parent FROM pragma_foreign_key_check(?1)", []any{name}, func(r []value) error {
			bad = fmt.Errorf("%w: a row of table %q (rowid %v) references a missing row of %q", ErrForeignKey, r[0].s, r[1], r[2].s)
			return io.EOF
		})
		if bad != nil {
			return bad
		}
		if err != nil {
			return fmt.Errorf("sqltenant: sqlite: check foreign keys of %q: %w", name, err)
		}
	}
	return nil
}

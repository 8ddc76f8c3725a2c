package sqltenant

import (
	"context"
	"strconv"
	"strings"
)

// dialect is the engine-specific part of the package: how one SQL engine
// (SQLite through database/sql, PostgreSQL through pgx) lists its tables,
// reads a tenant's rows inside one consistent snapshot, and applies a
// restore inside one transaction. Everything else — layouts and tenant
// filters, the row encoding (value, encoder, decoder), the metadata
// module (Schema), table order, schema-compatibility checks, merge
// decisions' reports — is shared and written once, in front of it.
//
// A dialect is made by an exported constructor returning *DB (SQLite,
// and later Postgres) and is safe for concurrent use: each Source and
// Target opens its own readTx or writeTx.
//
// SQL the shared code builds quotes every identifier with quoteIdent
// (standard SQL double quotes, valid on both engines) after checkName
// accepted it, and binds every tenant value as a parameter written
// with param; a dialect does the same in the SQL it builds itself.
type dialect interface {
	// name is the engine's name as the metadata module records it:
	// "sqlite" or "postgres".
	name() string
	// param returns the n-th (1-based) bind parameter of a statement:
	// "?1" on SQLite, "$1" on PostgreSQL. The same n may appear more
	// than once in one statement and binds the same argument.
	param(n int) string
	// compatible returns "" when a column backed up with declared type
	// from (as tables reported it on the source) can be restored into a
	// column of declared type to (as tables reports it on the target),
	// else a short reason ("INTEGER cannot hold TEXT"). Types are the
	// engine's own names; both come from the same engine.
	compatible(from, to string) string
	// read begins a read-only transaction that sees one consistent
	// snapshot of the whole database (SQLite: a deferred transaction
	// started by a first read; PostgreSQL: REPEATABLE READ READ ONLY
	// with a lock timeout). Every call of the readTx sees that snapshot.
	read(ctx context.Context) (readTx, error)
	// write begins the one transaction a restore makes all its changes
	// in, with foreign keys enforced (checked no later than commit).
	write(ctx context.Context) (writeTx, error)
}

// catalog is what a read and a write transaction both answer.
type catalog interface {
	// engineVersion returns the engine's version ("3.49.1", "16.4").
	engineVersion(ctx context.Context) (string, error)
	// tables returns every user table the transaction sees (SQLite: of
	// the main database, without sqlite_* tables; PostgreSQL: of the
	// DB's schema), sorted by name, each with its Columns (in
	// declaration order, Type as the engine declares it), PrimaryKey (in
	// key order; nil when there is none) and ForeignKeys. Rows, SHA256
	// and the other backup-time fields are left zero.
	tables(ctx context.Context) ([]Table, error)
	// query runs q (a SELECT the shared code built, with args bound to
	// param(1), param(2), ...) and calls fn with each row in the order
	// the engine returns them; fn's slice is reused between calls.
	// It returns fn's first error.
	query(ctx context.Context, q string, args []any, fn func(row []value) error) error
}

// readTx is one consistent snapshot a backup reads.
type readTx interface {
	catalog
	// scan calls fn with every row s selects, in primary-key order,
	// each value as the engine stores it (see value for what each kind
	// holds). fn's slice is reused between calls. scan may be called
	// from several goroutines at once (a backup reads tables in
	// parallel); an engine that cannot run queries of one transaction
	// in parallel serializes them, and one that can share its snapshot
	// with other connections (PostgreSQL's exported snapshots) may.
	scan(ctx context.Context, s *scanSpec, fn func(row []value) error) error
	// close ends the snapshot. It is called once, after every scan
	// returned.
	close() error
}

// writeTx is the transaction a restore runs in.
type writeTx interface {
	catalog
	// exec runs q (a DELETE the shared code built, with args bound to
	// param(1), ...) and returns the rows it affected.
	exec(ctx context.Context, q string, args []any) (int64, error)
	// load writes the rows of l.next into l.Table as l.Mode says and
	// returns what it did. On error the transaction is rolled back by
	// the caller.
	load(ctx context.Context, l *loadSpec) (loadCounts, error)
	// checkForeignKeys fails with an error matching ErrForeignKey,
	// naming the table, when a row of one of tables references a row
	// that does not exist. It is called once, before commit, with the
	// tables restored and those whose foreign keys reference them.
	checkForeignKeys(ctx context.Context, tables []string) error
	// commit commits; rollback discards everything. After either, the
	// writeTx is not used again; rollback after commit does nothing.
	commit(ctx context.Context) error
	rollback() error
}

// scanSpec selects the rows of one table a backup stores.
type scanSpec struct {
	// Table is the table as the snapshot's catalog reported it.
	Table *Table
	// Columns are the columns to read, in the order rows are stored:
	// the table's columns in declaration order.
	Columns []string
	// Where is a predicate the tenant's rows match ("" for every row:
	// a database per tenant), its parameters written with param(n) and
	// bound to Args in order.
	Where string
	Args  []any
}

// selectSQL returns the SELECT of s ordered by the primary key, each
// column written by col (a dialect may wrap a column in an expression,
// as SQLite does to get the value exactly as stored).
func (s *scanSpec) selectSQL(col func(quoted string) string) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, c := range s.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(col(quoteIdent(c)))
	}
	b.WriteString(" FROM ")
	b.WriteString(quoteIdent(s.Table.Name))
	if s.Where != "" {
		b.WriteString(" WHERE ")
		b.WriteString(s.Where)
	}
	b.WriteString(" ORDER BY ")
	for i, c := range s.Table.PrimaryKey {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c))
	}
	return b.String()
}

// loadMode is how load treats a row whose primary key the table holds.
type loadMode int

const (
	// loadInsert inserts every row: the tenant's rows were deleted
	// first (a full or selective restore). A duplicate key is an error.
	loadInsert loadMode = iota
	// loadMissingOnly inserts rows whose key is missing and keeps the
	// others as they are (counted kept).
	loadMissingOnly
	// loadOverwrite inserts missing rows and updates existing ones to
	// the backup's values (counted updated).
	loadOverwrite
	// loadKeepNewer inserts missing rows and updates an existing one
	// only when the backup's Timestamp column is strictly newer than the
	// stored one (see newer); otherwise it is kept. A row whose either
	// timestamp is NULL is kept.
	loadKeepNewer
	// loadReplace makes the tenant's rows the backup's without deleting
	// them first (a replacer's full or selective restore): rows whose
	// key is missing are inserted, rows that differ in any value are
	// updated, identical rows are kept untouched; the rows whose key the
	// backup lacks are left for replacer.prune.
	loadReplace
)

// replacer is a writeTx that replaces a table's rows in place
// (PostgreSQL): loading with loadReplace writes only the rows that
// differ, so that the rows a restore leaves as they were cost no
// delete, no insert, no index entry and no foreign-key check. A
// replacing restore loads every table parents first, then prunes them
// children first.
type replacer interface {
	// prune deletes the tenant's rows of table, loaded with loadReplace,
	// whose key the backup's rows lack, and returns how many.
	prune(ctx context.Context, table string) (int64, error)
	// mark remembers the transaction's state before a replacement in
	// place.
	mark(ctx context.Context) error
	// undo returns to the state mark remembered, undoing everything
	// since, when err is a conflict that replacing in place meets and
	// deleting first does not: a unique value the backup's row takes
	// that a row of the tenant to be pruned still holds. It reports
	// whether it did; the caller then deletes and loads instead.
	undo(ctx context.Context, err error) (bool, error)
}

// bulkLoader is a writeTx that loads tables holding no rows at all as
// pg_restore does (PostgreSQL, a schema or a database of the tenant's
// own): their foreign keys and secondary indexes set aside inside the
// transaction, the rows copied straight in, then the indexes built and
// each foreign key checked in one pass, instead of an index entry and a
// foreign-key probe for every row.
type bulkLoader interface {
	// bulkBegin prepares tables for a bulk load and reports whether it
	// did. It does not, changing nothing, when any of them holds a row,
	// the role does not own one of them or of the tables whose foreign
	// keys reference them, or they are of a kind it leaves alone.
	bulkBegin(ctx context.Context, tables []string) (bool, error)
	// bulkEnd builds the indexes and adds back the foreign keys bulkBegin
	// set aside, failing with ErrForeignKey when a row references one
	// that does not exist.
	bulkEnd(ctx context.Context) error
}

// loadSpec is one table's rows to load.
type loadSpec struct {
	// Table is the table as the backup's metadata describes it.
	Table *Table
	// Columns are the backup's columns, in the order of each row's
	// values; the target may have more (nullable or defaulted).
	Columns []string
	Mode    loadMode
	// Where and Args select the tenant's rows (as in scanSpec; "" for
	// every row). A merge looks up and updates an existing row only
	// among them: a row with the key that belongs to another tenant is
	// never read or changed (inserting over it fails on the key).
	Where string
	Args  []any
	// Timestamp is the column loadKeepNewer compares; "" otherwise.
	Timestamp string
	// Current is the target's table as its catalog describes it (its
	// columns' types, which a load may compare values by).
	Current *Table
	// next returns the next row (its slice reused between calls), or
	// io.EOF after the last.
	next func() ([]value, error)
}

// loadCounts is what load did with a table's rows: every row counted
// once. Inserted must be exact: after each load the caller checks that
// the tenant holds the rows it held before plus Inserted (ErrMismatch
// otherwise), and a replacing restore reads the table back (rowScanner,
// verify.go) when the writeTx can scan.
type loadCounts struct {
	Inserted, Updated, Kept int64
	// Before is the tenant's row count before the load, set by a
	// tenantCounter's loads (see there).
	Before int64
}

// tenantCounter is a writeTx whose loads in some modes check what the
// caller would count: that every row they insert or update belongs to
// the tenant (ErrMismatch otherwise), and how many rows the tenant held
// before (loadCounts.Before), so that the caller counts the tenant's
// rows neither before nor after (PostgreSQL's staged loads learn both
// from the join that classifies the staged rows).
type tenantCounter interface {
	countsTenant(mode loadMode) bool
}

// quoteIdent quotes an identifier for SQL (both engines): in double
// quotes, a double quote doubled. Names reach it only after checkName.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// numbered returns param as "<prefix><n>", the form both engines use.
func numbered(prefix string, n int) string { return prefix + strconv.Itoa(n) }

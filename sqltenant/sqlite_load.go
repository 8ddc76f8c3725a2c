package sqltenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// sqliteLoad is one table's load: its prepared statements and the
// positions of the key and other columns in a row.
type sqliteLoad struct {
	l              *loadSpec
	insert, lookup *sql.Stmt
	update         *sql.Stmt // nil when every column is in the key
	key, rest      []int     // row indexes
	ts             int       // row index of l.Timestamp, or -1
	args           []any
	t              *sqliteTx // the transaction's connection
	keys           bool      // keysTable exists
	pending        [][]value // rows waiting for a batched insert
	full           *sql.Stmt // the insert of a full batch, once prepared
}

func (t *sqliteTx) load(ctx context.Context, l *loadSpec) (loadCounts, error) {
	ld, err := t.prepareLoad(ctx, l)
	if err != nil {
		return loadCounts{}, fmt.Errorf("sqltenant: sqlite: prepare the load of %q: %w", l.Table.Name, err)
	}
	defer ld.close()
	var n loadCounts
	batched := l.Mode == loadInsert || l.Mode == loadMissingOnly
	for {
		row, err := l.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, err
		}
		where := "row"
		if batched {
			where, err = "rows from", ld.batch(ctx, row, &n)
		} else {
			err = ld.row(ctx, row, &n)
		}
		if err != nil {
			return n, fmt.Errorf("sqltenant: load table %q, %s %d: %w", l.Table.Name, where, n.Inserted+n.Updated+n.Kept+1, err)
		}
	}
	if err := ld.flush(ctx, &n); err != nil {
		return n, fmt.Errorf("sqltenant: load table %q, rows from %d: %w", l.Table.Name, n.Inserted+n.Updated+n.Kept+1, err)
	}
	return n, nil
}

func (t *sqliteTx) prepareLoad(ctx context.Context, l *loadSpec) (*sqliteLoad, error) {
	ld := &sqliteLoad{l: l, t: t, ts: slices.Index(l.Columns, l.Timestamp)}
	if l.Timestamp == "" {
		ld.ts = -1
	}
	for i, c := range l.Columns {
		if slices.Contains(l.Table.PrimaryKey, c) {
			ld.key = append(ld.key, i)
		} else {
			ld.rest = append(ld.rest, i)
		}
	}
	if len(ld.key) != len(l.Table.PrimaryKey) {
		return nil, fmt.Errorf("%w: the backup's rows lack part of the primary key", ErrNoPrimaryKey)
	}
	stmts := sqliteLoadSQL(l)
	var err error
	if ld.insert, err = t.c.PrepareContext(ctx, stmts.insert); err != nil {
		return nil, err
	}
	if l.Mode == loadOverwrite || l.Mode == loadKeepNewer {
		if err := ld.prepareMerge(ctx, stmts.keys, stmts.fill, stmts.lookup, stmts.update); err != nil {
			ld.close()
			return nil, err
		}
	}
	ld.args = make([]any, 0, len(l.Args)+len(l.Columns))
	return ld, nil
}

// keysTable holds, during a merge's load of one table, the keys of the
// tenant's rows and their timestamps: looking a row up there costs an
// index probe, where the tenant filter (a join, for some tables) would
// be evaluated again for every row. A temporary table is on disk (or in
// SQLite's bounded page cache), not in this process's memory.
const keysTable = "temp.steward_keys"

// sqliteLoadSQL builds the statements of a load: insert (the columns
// ?1..?n in row order); for a merge, keys (create and fill keysTable
// from the tenant's rows, filter arguments bound), lookup (a key's
// timestamp there: ?1..?k the key) and update (?1..?k the key, then the
// other columns' new values in row order).
func sqliteLoadSQL(l *loadSpec) struct{ insert, keys, fill, lookup, update string } {
	var s struct{ insert, keys, fill, lookup, update string }
	cols := make([]string, len(l.Columns))
	params := make([]string, len(l.Columns))
	for i, c := range l.Columns {
		cols[i], params[i] = quoteIdent(c), numbered("?", i+1)
	}
	table := quoteIdent(l.Table.Name)
	pk := make([]string, len(l.Table.PrimaryKey))
	ks, match, keyMatch := make([]string, len(pk)), make([]string, len(pk)), make([]string, len(pk))
	for i, c := range l.Table.PrimaryKey {
		pk[i], ks[i] = quoteIdent(c), numbered("k", i+1)
		match[i] = pk[i] + " = " + numbered("?", i+1)
		keyMatch[i] = ks[i] + " = " + numbered("?", i+1)
	}
	s.insert = "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(params, ", ") + ")"
	if l.Mode == loadMissingOnly {
		s.insert += " ON CONFLICT (" + strings.Join(pk, ", ") + ") DO NOTHING"
	}
	ts := "NULL"
	if l.Timestamp != "" {
		ts = "+" + quoteIdent(l.Timestamp)
	}
	s.keys = "CREATE TEMP TABLE steward_keys (" + strings.Join(ks, ", ") + ", ts, PRIMARY KEY (" + strings.Join(ks, ", ") + ")) WITHOUT ROWID"
	s.fill = "INSERT INTO " + keysTable + " SELECT " + strings.Join(pk, ", ") + ", " + ts + " FROM " + table
	if l.Where != "" {
		s.fill += " WHERE " + l.Where
	}
	s.lookup = "SELECT ts FROM " + keysTable + " WHERE " + strings.Join(keyMatch, " AND ")
	var set []string
	for _, c := range l.Columns {
		if !slices.Contains(l.Table.PrimaryKey, c) {
			set = append(set, quoteIdent(c)+" = "+numbered("?", len(pk)+len(set)+1))
		}
	}
	s.update = "UPDATE " + table + " SET " + strings.Join(set, ", ") + " WHERE " + strings.Join(match, " AND ")
	return s
}

// prepareMerge fills keysTable with the tenant's keys and prepares the
// lookup and the update.
func (ld *sqliteLoad) prepareMerge(ctx context.Context, keys, fill, lookup, update string) error {
	if _, err := ld.t.c.ExecContext(ctx, keys); err != nil {
		return err
	}
	ld.keys = true
	if _, err := ld.t.c.ExecContext(ctx, fill, ld.l.Args...); err != nil {
		return err
	}
	var err error
	if ld.lookup, err = ld.t.c.PrepareContext(ctx, lookup); err != nil {
		return err
	}
	if len(ld.rest) > 0 {
		ld.update, err = ld.t.c.PrepareContext(ctx, update)
	}
	return err
}

func (ld *sqliteLoad) close() {
	for _, s := range []*sql.Stmt{ld.insert, ld.lookup, ld.update, ld.full} {
		if s != nil {
			s.Close()
		}
	}
	if ld.keys {
		_, _ = ld.t.c.ExecContext(context.Background(), "DROP TABLE "+keysTable)
	}
}

// row loads one row and counts what it did.
func (ld *sqliteLoad) row(ctx context.Context, row []value, n *loadCounts) error {
	stored, found, err := ld.find(ctx, row)
	switch {
	case err != nil:
		return err
	case !found:
		n.Inserted++
		return ld.insertRow(ctx, row)
	case ld.update == nil, ld.l.Mode == loadKeepNewer && (ld.ts < 0 || !newer(row[ld.ts], stored)):
		n.Kept++
		return nil
	}
	n.Updated++
	_, err = ld.update.ExecContext(ctx, ld.updateArgs(row)...)
	return err
}

func (ld *sqliteLoad) insertRow(ctx context.Context, row []value) error {
	_, err := ld.insert.ExecContext(ctx, ld.values(row)...)
	return err
}

// values returns row as statement arguments, in row order.
func (ld *sqliteLoad) values(row []value) []any {
	ld.args = ld.args[:0]
	for _, v := range row {
		ld.args = append(ld.args, v.arg())
	}
	return ld.args
}

// find looks the row's key up among the tenant's rows (keysTable) and
// returns the stored timestamp (NULL without one) and whether it is
// there.
func (ld *sqliteLoad) find(ctx context.Context, row []value) (value, bool, error) {
	ld.args = ld.args[:0]
	for _, i := range ld.key {
		ld.args = append(ld.args, row[i].arg())
	}
	rows, err := ld.lookup.QueryContext(ctx, ld.args...)
	if err != nil {
		return value{}, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return value{}, false, rows.Err()
	}
	var x any
	if err := rows.Scan(&x); err != nil {
		return value{}, false, err
	}
	return fromDriver(x), true, rows.Err()
}

func (ld *sqliteLoad) updateArgs(row []value) []any {
	ld.args = ld.args[:0]
	for _, i := range ld.key {
		ld.args = append(ld.args, row[i].arg())
	}
	for _, i := range ld.rest {
		ld.args = append(ld.args, row[i].arg())
	}
	return ld.args
}

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
	l         *loadSpec
	update    *sql.Stmt // a merge's; nil when every column is in the key
	key, rest []int     // row indexes
	ts        int       // row index of l.Timestamp, or -1
	args      []any
	t         *sqliteTx // the transaction's connection
	keys      bool      // keysTable exists
	pending   [][]value // rows waiting for a batch
	full      *sql.Stmt // the insert of a full batch, once prepared
}

// load reads l's rows in batches (see batch): inserted, or for a merge
// looked up together and inserted, updated or kept.
func (t *sqliteTx) load(ctx context.Context, l *loadSpec) (loadCounts, error) {
	ld, err := t.prepareLoad(ctx, l)
	if err != nil {
		return loadCounts{}, fmt.Errorf("sqltenant: sqlite: prepare the load of %q: %w", l.Table.Name, err)
	}
	defer ld.close()
	var n loadCounts
	for {
		row, err := l.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, err
		}
		if err := ld.batch(ctx, row, &n); err != nil {
			return n, fmt.Errorf("sqltenant: load table %q, rows from %d: %w", l.Table.Name, n.Inserted+n.Updated+n.Kept+1, err)
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
	if l.Mode == loadOverwrite || l.Mode == loadKeepNewer {
		stmts := sqliteMergeSQL(l)
		if err := ld.prepareMerge(ctx, stmts.keys, stmts.fill, stmts.update); err != nil {
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

// sqliteMergeSQL builds the statements of a merge: keys and fill
// (create keysTable and fill it from the tenant's rows, the filter's
// arguments bound) and update (?1..?k the key, then the other columns'
// new values in row order).
func sqliteMergeSQL(l *loadSpec) struct{ keys, fill, update string } {
	var s struct{ keys, fill, update string }
	table := quoteIdent(l.Table.Name)
	pk := make([]string, len(l.Table.PrimaryKey))
	ks, match := make([]string, len(pk)), make([]string, len(pk))
	for i, c := range l.Table.PrimaryKey {
		pk[i], ks[i] = quoteIdent(c), numbered("k", i+1)
		match[i] = pk[i] + " = " + numbered("?", i+1)
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
// update.
func (ld *sqliteLoad) prepareMerge(ctx context.Context, keys, fill, update string) error {
	if _, err := ld.t.c.ExecContext(ctx, keys); err != nil {
		return err
	}
	ld.keys = true
	if _, err := ld.t.c.ExecContext(ctx, fill, ld.l.Args...); err != nil {
		return err
	}
	if len(ld.rest) == 0 {
		return nil
	}
	var err error
	ld.update, err = ld.t.c.PrepareContext(ctx, update)
	return err
}

func (ld *sqliteLoad) close() {
	for _, s := range []*sql.Stmt{ld.update, ld.full} {
		if s != nil {
			s.Close()
		}
	}
	if ld.keys {
		_, _ = ld.t.c.ExecContext(context.Background(), "DROP TABLE "+keysTable)
	}
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

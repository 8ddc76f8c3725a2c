package sqltenant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// This file holds a replacing restore's part of a PostgreSQL load (see
// replacer): the backup's rows staged, classified against the tenant's
// in one join, and only what differs written.

// classify counts, in one full join of the staged rows with the
// tenant's, the staged rows whose key the tenant lacks (m.missing),
// those whose row the load updates (m.changed: newer for keep-newer,
// different for replace, every one for overwrite), and the tenant's
// rows whose key is not staged (m.extra), so that the UPDATE, the
// INSERT and a replace's prune run only when they have rows to change:
// a merge or restore over rows as they are costs this one join.
func (t *pgWriteTx) classify(ctx context.Context, m *pgMerge) error {
	k := pgIdent(m.l.Table.PrimaryKey[0])
	sk := "s." + m.stageCols[slices.Index(m.l.Columns, m.l.Table.PrimaryKey[0])]
	rows := m.table
	if m.l.Where != "" {
		rows = "(SELECT * FROM " + m.table + " WHERE " + m.l.Where + ")"
	}
	q := "SELECT count(*) FILTER (WHERE t." + k + " IS NULL), count(*) FILTER (WHERE " + sk + " IS NULL), " +
		"count(*) FILTER (WHERE t." + k + " IS NOT NULL AND " + sk + " IS NOT NULL" + sqlAnd(m.changes("t")) + ") " +
		"FROM " + m.stage + " AS s FULL JOIN " + rows + " AS t ON " + m.keyEquals("t")
	return t.c.QueryRow(ctx, q, m.l.Args...).Scan(&m.missing, &m.extra, &m.changed)
}

// countsTenant: every load but loadInsert's straight COPY is staged,
// classified (the tenant's rows before are the staged rows matched plus
// the tenant's rows not staged) and checked by checkTenant.
func (t *pgWriteTx) countsTenant(mode loadMode) bool { return mode != loadInsert }

// checkTenant fails with ErrMismatch, before anything is written, when
// a staged row does not belong to the tenant: the tenant's predicate
// (written against the table's columns) is evaluated over the staged
// rows under the table's name and column names. A row of the backup
// that names another tenant would otherwise be inserted into that
// tenant, or update nothing of this one.
func (t *pgWriteTx) checkTenant(ctx context.Context, m *pgMerge) error {
	if m.l.Where == "" {
		return nil
	}
	cols := make([]string, len(m.l.Columns))
	for i, c := range m.l.Columns {
		cols[i] = "s." + m.stageCols[i] + " AS " + pgIdent(c)
	}
	q := "SELECT count(*) FROM (SELECT " + strings.Join(cols, ", ") + " FROM " + m.stage + " AS s) AS " +
		pgIdent(m.l.Table.Name) + " WHERE (" + m.l.Where + ") IS NOT TRUE"
	var n int64
	if err := t.c.QueryRow(ctx, q, m.l.Args...).Scan(&n); err != nil {
		return pgError(fmt.Sprintf("check the tenant of table %q's rows", m.l.Table.Name), err)
	}
	if n > 0 {
		return fmt.Errorf("%w: table %q: %d of the backup's rows do not belong to the tenant: they name another tenant, or rows they reference now do", ErrMismatch, m.l.Table.Name, n)
	}
	return nil
}

// sqlAnd returns " AND cond", or "" for no cond.
func sqlAnd(cond string) string {
	if cond == "" {
		return ""
	}
	return " AND " + cond
}

// keyEquals is the condition that the row of table (a name or an
// alias) has the staged row's key.
func (m *pgMerge) keyEquals(table string) string {
	match := make([]string, len(m.l.Table.PrimaryKey))
	for i, k := range m.l.Table.PrimaryKey {
		match[i] = table + "." + pgIdent(k) + " = s." + m.stageCols[slices.Index(m.l.Columns, k)]
	}
	return strings.Join(match, " AND ")
}

// pgSameByEquality are the types (as format_type names them) whose
// equality holds only between values of the same output text: integers,
// booleans, dates, timestamps (one instant, one text in the session's
// zone), bytea, uuid, and text compared in the "C" collation (bytes).
// numeric (1.0 = 1.00), floats (0 = -0), json, jsonb, arrays and types
// unknown here are compared by their text.
var pgSameByEquality = map[string]bool{
	"smallint": true, "integer": true, "bigint": true, "boolean": true, "date": true,
	"timestamp with time zone": true, "timestamp without time zone": true, "bytea": true, "uuid": true,
}

// same is the condition that the row of table (a name or an alias)
// holds the staged row's values exactly, column by column.
func (m *pgMerge) same(table string) string {
	conds := make([]string, len(m.l.Columns))
	for i, c := range m.l.Columns {
		a, b := table+"."+pgIdent(c), "s."+m.stageCols[i]
		typ := ""
		if col := m.l.Current.column(c); col != nil {
			typ = col.Type
		}
		switch {
		case pgSameByEquality[typ]:
		case typ == "text" || strings.HasPrefix(typ, "character varying"):
			a, b = a+` COLLATE "C"`, b+` COLLATE "C"`
		default:
			a, b = a+"::text", b+"::text"
		}
		conds[i] = a + " IS NOT DISTINCT FROM " + b
	}
	return strings.Join(conds, " AND ")
}

// pgMark is the savepoint a replacement in place starts from.
const pgMark = "steward_in_place"

func (t *pgWriteTx) mark(ctx context.Context) error {
	_, err := t.c.Exec(ctx, "SAVEPOINT "+pgMark)
	return pgError("set a savepoint", err)
}

// undo rolls back to the savepoint on a unique violation (23505).
func (t *pgWriteTx) undo(ctx context.Context, err error) (bool, error) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return false, nil
	}
	if _, err := t.c.Exec(ctx, "ROLLBACK TO SAVEPOINT "+pgMark); err != nil {
		return false, pgError("roll back to the savepoint", err)
	}
	clear(t.pending) // their staging tables were rolled back too
	return true, nil
}

// prune deletes the tenant's rows of table whose key is not among the
// rows its loadReplace load staged (when classify found any), then
// drops the staging table.
func (t *pgWriteTx) prune(ctx context.Context, table string) (int64, error) {
	m := t.pending[table]
	if m == nil {
		return 0, fmt.Errorf("sqltenant: postgres: table %q was not loaded to be replaced", table)
	}
	delete(t.pending, table)
	what := fmt.Sprintf("delete the rows of table %q the backup lacks", table)
	var n int64
	if m.extra > 0 {
		where := "WHERE NOT EXISTS (SELECT 1 FROM " + m.stage + " AS s WHERE " + m.keyMatch + ")"
		if m.l.Where != "" {
			where += " AND (" + m.l.Where + ")"
		}
		tag, err := t.c.Exec(ctx, "DELETE FROM "+m.table+" "+where, m.l.Args...)
		if err != nil {
			return 0, pgError(what, err)
		}
		n = tag.RowsAffected()
	}
	_, err := t.c.Exec(ctx, "DROP TABLE "+m.stage)
	return n, pgError(what, err)
}

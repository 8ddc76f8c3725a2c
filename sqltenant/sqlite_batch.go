package sqltenant

import (
	"context"
	"database/sql"
	"strings"
)

// batchRows is how many rows one INSERT of a full restore or a
// missing-only merge carries: each statement costs a prepare in the
// driver, so rows go in groups (within SQLite's 32,766 parameters).
func (ld *sqliteLoad) batchRows() int {
	return max(1, min(128, 32000/max(1, len(ld.l.Columns))))
}

// batch queues row for a batched insert or merge, flushing a full batch.
func (ld *sqliteLoad) batch(ctx context.Context, row []value, n *loadCounts) error {
	ld.pending = append(ld.pending, append([]value(nil), row...))
	if len(ld.pending) < ld.batchRows() {
		return nil
	}
	return ld.flush(ctx, n)
}

// flush inserts the queued rows in one statement and counts them:
// inserted, or kept when a missing-only merge found the key taken.
func (ld *sqliteLoad) flush(ctx context.Context, n *loadCounts) error {
	rows := ld.pending
	ld.pending = ld.pending[:0]
	if ld.l.Mode == loadOverwrite || ld.l.Mode == loadKeepNewer {
		return ld.merge(ctx, rows, n)
	}
	return ld.insertRows(ctx, rows, n)
}

// insertRows inserts rows (at most batchRows) in one statement and
// counts them.
func (ld *sqliteLoad) insertRows(ctx context.Context, rows [][]value, n *loadCounts) error {
	if len(rows) == 0 {
		return nil
	}
	args := make([]any, 0, len(rows)*len(ld.l.Columns))
	for _, r := range rows {
		for _, v := range r {
			args = append(args, v.arg())
		}
	}
	var res sql.Result
	var err error
	if len(rows) == ld.batchRows() {
		if ld.full == nil {
			if ld.full, err = ld.t.c.PrepareContext(ctx, ld.batchSQL(len(rows))); err != nil {
				return err
			}
		}
		res, err = ld.full.ExecContext(ctx, args...)
	} else {
		res, err = ld.t.c.ExecContext(ctx, ld.batchSQL(len(rows)), args...)
	}
	if err != nil {
		return err
	}
	k, err := res.RowsAffected()
	if err != nil {
		return err
	}
	n.Inserted += k
	n.Kept += int64(len(rows)) - k
	return nil
}

// batchSQL is the insert statement of count rows.
func (ld *sqliteLoad) batchSQL(count int) string {
	cols := make([]string, len(ld.l.Columns))
	for i, c := range ld.l.Columns {
		cols[i] = quoteIdent(c)
	}
	var b strings.Builder
	b.WriteString("INSERT INTO " + quoteIdent(ld.l.Table.Name) + " (" + strings.Join(cols, ", ") + ") VALUES ")
	// Anonymous parameters: the driver looks each named one up in a
	// list as long as the statement's parameters (quadratic per batch).
	one := "(?" + strings.Repeat(", ?", len(cols)-1) + ")"
	for r := range count {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	if ld.l.Mode == loadMissingOnly {
		pk := make([]string, len(ld.l.Table.PrimaryKey))
		for i, c := range ld.l.Table.PrimaryKey {
			pk[i] = quoteIdent(c)
		}
		b.WriteString(" ON CONFLICT (" + strings.Join(pk, ", ") + ") DO NOTHING")
	}
	return b.String()
}

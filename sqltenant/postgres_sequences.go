package sqltenant

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// pgSequencesFrom selects the sequences owned by (serial) or backing
// (identity) integer columns of the named tables of a schema: s the
// sequence, sn its schema, t the table, a the column.
const pgSequencesFrom = `
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
  AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
  AND d.deptype IN ('a', 'i') AND tn.nspname = $1 AND t.relname = ANY($2)
  AND a.atttypid IN ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype, 'pg_catalog.int8'::pg_catalog.regtype)`

// pgSequencesSQL lists those sequences, qualified, with their column.
const pgSequencesSQL = `SELECT sn.nspname, s.relname, t.relname, a.attname` + pgSequencesFrom + `
ORDER BY 1, 2`

// pgSequenceValuesSQL lists each table and column with the last value
// its sequence handed out: NULL when it never did or when the role may
// not read it.
const pgSequenceValuesSQL = `SELECT t.relname, a.attname,
	CASE WHEN pg_catalog.has_sequence_privilege(s.oid, 'SELECT,USAGE') THEN pg_catalog.pg_sequence_last_value(s.oid) END` +
	pgSequencesFrom + `
ORDER BY 1, 2`

// sequenceValues records in tables the values of their sequences.
func (p pgCatalog) sequenceValues(ctx context.Context, c *pgx.Conn, tables []Table) error {
	names := make([]string, len(tables))
	byName := map[string]*Table{}
	for i := range tables {
		names[i], byName[tables[i].Name] = tables[i].Name, &tables[i]
	}
	rows, err := c.Query(ctx, pgSequenceValuesSQL, p.d.schema, names)
	if err != nil {
		return pgError("read sequences", err)
	}
	var table, column string
	var v *int64
	_, err = pgx.ForEachRow(rows, []any{&table, &column, &v}, func() error {
		if t := byName[table]; t != nil && v != nil {
			t.Sequences = append(t.Sequences, Sequence{Column: column, Value: *v})
		}
		return nil
	})
	return pgError("read sequences", err)
}

// advanceSequences sets each sequence of a loaded table to the greatest
// of the last value it handed out, the backup's value of it, and its
// column's greatest value, so that rows inserted after the restore get
// keys neither the restored rows nor the source's hold. (setval is not
// undone by a rollback; it only ever moves a sequence forward.)
func (t *pgWriteTx) advanceSequences(ctx context.Context) error {
	if len(t.loaded) == 0 {
		return nil
	}
	rows, err := t.c.Query(ctx, pgSequencesSQL, t.d.schema, t.loaded)
	if err != nil {
		return pgError("list sequences", err)
	}
	var seqs [][4]string
	var s [4]string
	_, err = pgx.ForEachRow(rows, []any{&s[0], &s[1], &s[2], &s[3]}, func() error {
		seqs = append(seqs, s)
		return nil
	})
	if err != nil {
		return pgError("list sequences", err)
	}
	for _, s := range seqs {
		seq := pgx.Identifier{s[0], s[1]}.Sanitize()
		floor := t.floors[[2]string{s[2], s[3]}] // 0 when none was stored
		q := "SELECT pg_catalog.setval(" + pgQuoteString(seq) + "::pg_catalog.regclass, m) FROM (SELECT GREATEST(pg_catalog.max(" +
			pgIdent(s[3]) + ")::int8, $1::int8) AS m FROM " + t.d.qualified(s[2]) + ") x " +
			"WHERE m > (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM " + seq + ")"
		if _, err := t.c.Exec(ctx, q, floor); err != nil {
			return pgError(fmt.Sprintf("advance sequence %s", seq), err)
		}
	}
	return nil
}

package sqltenant

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// pgCatalog answers the catalog questions on one connection inside the
// transaction of a pgReadTx or pgWriteTx.
type pgCatalog struct {
	d *pgDialect
}

func (pgCatalog) version(ctx context.Context, c *pgx.Conn) (string, error) {
	var v string
	if err := c.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "", pgError("read the server version", err)
	}
	if i := strings.IndexByte(v, ' '); i > 0 {
		v = v[:i] // "15.18 (Debian 15.18-0+deb12u1)"
	}
	return v, nil
}

// pgTablesSQL lists the ordinary and partitioned tables of a schema
// (partitions are read through their parent), sorted bytewise by name.
const pgTablesSQL = `SELECT c.oid, c.relname, has_table_privilege(c.oid, 'SELECT')
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname COLLATE "C"`

// pgColumnsSQL lists the stored columns of tables (generated columns
// are computed, never stored or inserted).
const pgColumnsSQL = `SELECT a.attrelid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
	a.attnotnull, a.atthasdef OR a.attidentity <> ''
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attrelid, a.attnum`

// pgKeysSQL lists primary and foreign keys with their columns in key
// order and the referenced table's schema and name.
const pgKeysSQL = `SELECT k.conrelid, k.contype,
	ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
		JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i),
	coalesce(rn.nspname, ''), coalesce(r.relname, ''),
	ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
		JOIN pg_catalog.pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i),
	k.confdeltype
FROM pg_catalog.pg_constraint k
LEFT JOIN pg_catalog.pg_class r ON r.oid = k.confrelid
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
WHERE k.conrelid = ANY($1) AND k.contype IN ('p', 'f') AND k.conparentid = 0
ORDER BY k.conrelid, k.contype DESC, k.conname COLLATE "C"`

// pgOnDelete names the referential actions of pg_constraint.confdeltype.
var pgOnDelete = map[string]string{"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

// tables lists the schema's tables with their columns and keys. It
// also returns their OIDs and which ones the role may read.
func (p pgCatalog) tables(ctx context.Context, c *pgx.Conn) ([]Table, []pgTableRef, error) {
	var refs []pgTableRef
	rows, err := c.Query(ctx, pgTablesSQL, p.d.schema)
	if err != nil {
		return nil, nil, pgError("list tables", err)
	}
	var r pgTableRef
	_, err = pgx.ForEachRow(rows, []any{&r.oid, &r.name, &r.readable}, func() error {
		refs = append(refs, r)
		return nil
	})
	if err != nil {
		return nil, nil, pgError("list tables", err)
	}
	out := make([]Table, len(refs))
	byOID := map[uint32]*Table{}
	oids := make([]uint32, len(refs))
	for i, r := range refs {
		out[i].Name = r.name
		byOID[r.oid], oids[i] = &out[i], r.oid
	}
	if err := p.columns(ctx, c, oids, byOID); err != nil {
		return nil, nil, err
	}
	if err := p.keys(ctx, c, oids, byOID); err != nil {
		return nil, nil, err
	}
	return out, refs, nil
}

// pgTableRef is a table's OID, name and whether the role may SELECT it.
type pgTableRef struct {
	oid      uint32
	name     string
	readable bool
}

func (pgCatalog) columns(ctx context.Context, c *pgx.Conn, oids []uint32, byOID map[uint32]*Table) error {
	rows, err := c.Query(ctx, pgColumnsSQL, oids)
	if err != nil {
		return pgError("list columns", err)
	}
	var oid uint32
	var col Column
	_, err = pgx.ForEachRow(rows, []any{&oid, &col.Name, &col.Type, &col.NotNull, &col.HasDefault}, func() error {
		t := byOID[oid]
		t.Columns = append(t.Columns, col)
		return nil
	})
	return pgError("list columns", err)
}

func (p pgCatalog) keys(ctx context.Context, c *pgx.Conn, oids []uint32, byOID map[uint32]*Table) error {
	rows, err := c.Query(ctx, pgKeysSQL, oids)
	if err != nil {
		return pgError("list keys", err)
	}
	var (
		oid                 uint32
		typ, refNS, refName string
		cols, refCols       []string
		onDelete            string
	)
	_, err = pgx.ForEachRow(rows, []any{&oid, &typ, &cols, &refNS, &refName, &refCols, &onDelete}, func() error {
		t := byOID[oid]
		if typ == "p" {
			t.PrimaryKey = append([]string(nil), cols...)
			return nil
		}
		ref := refName
		if refNS != p.d.schema {
			ref = refNS + "." + refName // outside the schema: not a table of the DB
		}
		t.ForeignKeys = append(t.ForeignKeys, ForeignKey{
			Columns: append([]string(nil), cols...), RefTable: ref,
			RefColumns: append([]string(nil), refCols...), OnDelete: pgOnDelete[onDelete],
		})
		return nil
	})
	return pgError("list keys", err)
}

// lockTables takes ACCESS SHARE locks on the readable tables, waiting at
// most the lock timeout: from then on DDL on them waits for the backup
// instead of changing a table between the catalog read and its rows.
func lockTables(ctx context.Context, c *pgx.Conn, refs []pgTableRef) error {
	var names []string
	for _, r := range refs {
		if r.readable {
			names = append(names, pgIdent(r.name))
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	q := "LOCK TABLE " + strings.Join(names, ", ") + " IN ACCESS SHARE MODE"
	_, err := c.Exec(ctx, q)
	return pgError(fmt.Sprintf("lock %d tables", len(names)), err)
}

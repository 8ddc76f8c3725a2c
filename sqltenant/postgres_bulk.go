package sqltenant

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
)

// This file holds the PostgreSQL bulkLoader: a full restore into tables
// of a schema or database of the tenant's own that hold no rows (a
// disaster recovery into emptied or freshly migrated tables) loads them
// as pg_restore does, inside the restore's one transaction: the foreign
// keys that touch them and their secondary indexes are dropped, the
// tables truncated (no dead rows of earlier deletes left to probe), the
// rows copied straight in, the indexes built, and each foreign key added
// back, which checks every row in one join. Everything is transactional
// DDL: a failure anywhere rolls all of it back with the rows. The tables
// are locked ACCESS EXCLUSIVE until the commit, so readers of the
// tenant's (empty) tables wait for the restore.

// pgBulkMark is the savepoint bulkBegin returns to when it declines.
const pgBulkMark = "steward_bulk"

// pgSetAside is a foreign key or an index bulkBegin dropped: the
// statements that drop it and that make it again.
type pgSetAside struct{ drop, make string }

// bulkBegin implements bulkLoader. Everything it does runs under a
// savepoint it returns to when it declines: the tables hold a row, one
// may not be loaded so (pgBulkRefusal), another transaction holds a
// lock on one past the lock timeout, or a key or index may not be
// dropped (a view's dependency on a primary key, say).
func (t *pgWriteTx) bulkBegin(ctx context.Context, tables []string) (bool, error) {
	names := make([]string, len(tables))
	for i, tb := range tables {
		names[i] = t.d.qualified(tb)
	}
	if _, err := t.c.Exec(ctx, "SAVEPOINT "+pgBulkMark); err != nil {
		return false, pgError("set a savepoint", err)
	}
	aside, ok, err := t.bulkPrepare(ctx, names)
	if err == nil && ok {
		_, err = t.c.Exec(ctx, "RELEASE SAVEPOINT "+pgBulkMark)
		t.aside = aside
		return true, pgError("release the savepoint", err)
	}
	if _, rerr := t.c.Exec(ctx, "ROLLBACK TO SAVEPOINT "+pgBulkMark+"; RELEASE SAVEPOINT "+pgBulkMark); rerr != nil {
		return false, errors.Join(err, pgError("roll back to the savepoint", rerr))
	}
	return false, nil
}

// bulkPrepare locks tables (qualified and quoted), finds them empty,
// drops what pgBulkAside lists and truncates them, returning what it
// dropped; false when it declines.
func (t *pgWriteTx) bulkPrepare(ctx context.Context, names []string) ([]pgSetAside, bool, error) {
	var refused bool
	if err := t.c.QueryRow(ctx, pgBulkRefusal, names).Scan(&refused); err != nil || refused {
		return nil, false, err
	}
	if _, err := t.c.Exec(ctx, "LOCK TABLE "+strings.Join(names, ", ")+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		return nil, false, err
	}
	exists := make([]string, len(names))
	for i, n := range names {
		exists[i] = "EXISTS (SELECT 1 FROM " + n + ")"
	}
	var full bool
	if err := t.c.QueryRow(ctx, "SELECT "+strings.Join(exists, " OR ")).Scan(&full); err != nil || full {
		return nil, false, err
	}
	rows, err := t.c.Query(ctx, pgBulkAside, names)
	if err != nil {
		return nil, false, err
	}
	aside, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pgSetAside, error) {
		var a pgSetAside
		return a, r.Scan(&a.drop, &a.make)
	})
	if err != nil {
		return nil, false, err
	}
	for _, a := range aside {
		if _, err := t.c.Exec(ctx, a.drop); err != nil {
			return nil, false, err
		}
	}
	if _, err := t.c.Exec(ctx, "TRUNCATE "+strings.Join(names, ", ")); err != nil {
		return nil, false, err
	}
	return aside, true, nil
}

// bulkEnd implements bulkLoader: in the reverse of the order they were
// dropped, the indexes, then the primary keys and unique constraints,
// then the foreign keys, which check every row against them.
func (t *pgWriteTx) bulkEnd(ctx context.Context) error {
	for i := len(t.aside) - 1; i >= 0; i-- {
		if _, err := t.c.Exec(ctx, t.aside[i].make); err != nil {
			return pgError("add back "+t.aside[i].make, err)
		}
	}
	t.aside = nil
	return nil
}

// pgBulkRefusal tells whether tables ($1, names a regclass reads) may
// not be bulk loaded: one is not a plain table, is under row-level
// security for the role, has a trigger of the application's (TRUNCATE
// and the dropped keys would bypass what it does), or is not the role's
// own; a foreign key that references or belongs to one, or a primary
// key or unique constraint of one, is of a table that is not the role's
// own or not plain, is inherited, or is commented (dropping it would
// lose the comment); or an index of one is commented, clustered on, the
// replica identity, or in a tablespace of its own (which the definition
// it is made again from omits).
const pgBulkRefusal = `WITH t AS (SELECT c.oid, c.relkind, c.relowner FROM pg_catalog.pg_class c
	WHERE c.oid = ANY ($1::pg_catalog.regclass[]))
SELECT EXISTS (SELECT 1 FROM t WHERE t.relkind <> 'r' OR NOT pg_catalog.pg_has_role(t.relowner, 'USAGE')
		OR pg_catalog.row_security_active(t.oid)
		OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g WHERE g.tgrelid = t.oid AND NOT g.tgisinternal))
	OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class r ON r.oid = k.conrelid
		WHERE (k.contype = 'f' AND (k.conrelid IN (SELECT oid FROM t) OR k.confrelid IN (SELECT oid FROM t))
			OR k.contype IN ('p', 'u') AND k.conrelid IN (SELECT oid FROM t))
		AND (NOT pg_catalog.pg_has_role(r.relowner, 'USAGE') OR r.relkind <> 'r' OR k.conparentid <> 0
			OR NOT k.conislocal OR k.coninhcount > 0
			OR pg_catalog.obj_description(k.oid, 'pg_constraint') IS NOT NULL))
	OR EXISTS (SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
		WHERE i.indrelid IN (SELECT oid FROM t) AND (i.indisclustered OR i.indisreplident OR ic.reltablespace <> 0
			OR pg_catalog.obj_description(i.indexrelid, 'pg_class') IS NOT NULL))`

// pgBulkAside lists, for tables ($1), the statements that drop and make
// again each foreign key that references or belongs to one of them,
// then their primary keys and unique constraints (whose indexes are
// built again with them), then each of their indexes that backs no
// constraint.
const pgBulkAside = `WITH t AS (SELECT c.oid FROM pg_catalog.pg_class c WHERE c.oid = ANY ($1::pg_catalog.regclass[]))
SELECT d, m FROM (
	SELECT 0 AS kind, k.oid AS id,
		pg_catalog.format('ALTER TABLE %I.%I DROP CONSTRAINT %I', n.nspname, r.relname, k.conname) AS d,
		pg_catalog.format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', n.nspname, r.relname, k.conname,
			pg_catalog.pg_get_constraintdef(k.oid)) AS m
	FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class r ON r.oid = k.conrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
	WHERE k.contype = 'f' AND (k.conrelid IN (SELECT oid FROM t) OR k.confrelid IN (SELECT oid FROM t))
	UNION ALL
	SELECT 1, k.oid, pg_catalog.format('ALTER TABLE %I.%I DROP CONSTRAINT %I', n.nspname, r.relname, k.conname),
		pg_catalog.format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', n.nspname, r.relname, k.conname,
			pg_catalog.pg_get_constraintdef(k.oid))
	FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class r ON r.oid = k.conrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
	WHERE k.contype IN ('p', 'u') AND k.conrelid IN (SELECT oid FROM t)
	UNION ALL
	SELECT 2, i.indexrelid, pg_catalog.format('DROP INDEX %I.%I', n.nspname, ic.relname),
		pg_catalog.pg_get_indexdef(i.indexrelid)
	FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace
	WHERE i.indrelid IN (SELECT oid FROM t)
		AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid)
) AS aside ORDER BY kind, id`

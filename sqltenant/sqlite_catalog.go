package sqltenant

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

func (t *sqliteTx) tables(ctx context.Context) ([]Table, error) {
	var out []Table
	err := t.query(ctx, `SELECT name, coalesce(sql, '') FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`, nil,
		func(r []value) error {
			if !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(r[1].s)), "CREATE VIRTUAL") {
				out = append(out, Table{Name: r[0].s})
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("sqltenant: sqlite: list tables: %w", err)
	}
	for i := range out {
		if err := t.describe(ctx, &out[i]); err != nil {
			return nil, fmt.Errorf("sqltenant: sqlite: describe table %q: %w", out[i].Name, err)
		}
	}
	resolveImplicitRefs(out)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// describe fills tb's columns, primary key and foreign keys.
func (t *sqliteTx) describe(ctx context.Context, tb *Table) error {
	type pkCol struct {
		pos  int64
		name string
	}
	var pk []pkCol
	err := t.query(ctx, `SELECT name, type, "notnull", dflt_value IS NOT NULL, pk, hidden FROM pragma_table_xinfo(?1) ORDER BY cid`, []any{tb.Name},
		func(r []value) error {
			if r[5].i != 0 {
				return nil // generated or hidden: computed, never stored or inserted
			}
			tb.Columns = append(tb.Columns, Column{Name: r[0].s, Type: r[1].s, NotNull: r[2].i != 0, HasDefault: r[3].i != 0})
			if r[4].i > 0 {
				pk = append(pk, pkCol{r[4].i, r[0].s})
			}
			return nil
		})
	if err != nil {
		return err
	}
	sort.Slice(pk, func(i, j int) bool { return pk[i].pos < pk[j].pos })
	for _, c := range pk {
		tb.PrimaryKey = append(tb.PrimaryKey, c.name)
	}
	if len(pk) == 1 {
		if c := tb.column(pk[0].name); c != nil && strings.EqualFold(c.Type, "INTEGER") {
			c.HasDefault = true // the rowid: SQLite assigns one
		}
	}
	return t.foreignKeys(ctx, tb)
}

func (t *sqliteTx) foreignKeys(ctx context.Context, tb *Table) error {
	last := int64(-1)
	return t.query(ctx, `SELECT id, "table", "from", coalesce("to", ''), on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq`, []any{tb.Name},
		func(r []value) error {
			if r[0].i != last {
				last = r[0].i
				tb.ForeignKeys = append(tb.ForeignKeys, ForeignKey{RefTable: r[1].s, OnDelete: r[4].s})
			}
			fk := &tb.ForeignKeys[len(tb.ForeignKeys)-1]
			fk.Columns = append(fk.Columns, r[2].s)
			fk.RefColumns = append(fk.RefColumns, r[3].s)
			return nil
		})
}

// resolveImplicitRefs fills the referenced columns a foreign key leaves
// out ("REFERENCES users"): the referenced table's primary key.
func resolveImplicitRefs(tables []Table) {
	byName := map[string]*Table{}
	for i := range tables {
		byName[tables[i].Name] = &tables[i]
	}
	for i := range tables {
		for j := range tables[i].ForeignKeys {
			fk := &tables[i].ForeignKeys[j]
			if ref := byName[fk.RefTable]; ref != nil && len(fk.RefColumns) > 0 && fk.RefColumns[0] == "" {
				fk.RefColumns = append([]string(nil), ref.PrimaryKey...)
			}
		}
	}
}

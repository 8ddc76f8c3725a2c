package sqltenant

import (
	"context"
	"fmt"
	"slices"
)

// tenantTable is one table of the tenant with how its rows are selected.
type tenantTable struct {
	Table
	where string
	args  []any
}

// tenantTables returns the tables of c that hold the tenant's rows under
// o, parents first, each checked (names, primary key, tenant column or
// filter) and with its filter and timestamp column set; and the
// migration state, when the migrations table exists.
func tenantTables(ctx context.Context, d dialect, c catalog, o *Options, tenant string) ([]tenantTable, *Migrations, error) {
	all, err := c.tables(ctx)
	if err != nil {
		return nil, nil, err
	}
	var keep []Table
	var mig *Migrations
	for _, t := range all {
		if t.Name == o.migrationsTable() {
			if mig, err = readMigrations(ctx, c, t.Name); err != nil {
				return nil, nil, err
			}
		}
		if o.excluded(t.Name) {
			continue
		}
		if err := checkTable(&t); err != nil {
			return nil, nil, err
		}
		t.Timestamp = o.timestamp(&t)
		if t.Timestamp != "" && t.column(t.Timestamp) == nil {
			return nil, nil, fmt.Errorf("%w: table %q has no timestamp column %q (Options.Timestamps)", ErrMissingColumn, t.Name, t.Timestamp)
		}
		t.Filter = o.Filters[t.Name]
		keep = append(keep, t)
	}
	ordered, err := parentsFirst(keep)
	if err != nil {
		return nil, nil, err
	}
	out := make([]tenantTable, len(ordered))
	for i, t := range ordered {
		out[i].Table = t
		if out[i].where, out[i].args, err = o.where(d, &out[i].Table, tenant); err != nil {
			return nil, nil, err
		}
	}
	return out, mig, nil
}

// checkTable refuses a table whose names steward does not handle or that
// has no primary key.
func checkTable(t *Table) error {
	if err := checkName("table", t.Name); err != nil {
		return err
	}
	for _, c := range t.Columns {
		if err := checkName("column of table "+t.Name, c.Name); err != nil {
			return err
		}
	}
	if len(t.PrimaryKey) == 0 {
		return fmt.Errorf("%w: table %q: add one, or exclude the table (Options.Exclude)", ErrNoPrimaryKey, t.Name)
	}
	return nil
}

// readMigrations reads the applied migration IDs of the release
// migrator's table.
func readMigrations(ctx context.Context, c catalog, table string) (*Migrations, error) {
	if err := checkName("migrations table", table); err != nil {
		return nil, err
	}
	m := &Migrations{Table: table, Applied: []string{}}
	err := c.query(ctx, "SELECT id FROM "+quoteIdent(table)+" ORDER BY id", nil, func(r []value) error {
		m.Applied = append(m.Applied, r[0].String())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqltenant: read the migrations table %q: %w", table, err)
	}
	slices.Sort(m.Applied)
	if n := len(m.Applied); n > 0 {
		m.Version = m.Applied[n-1]
	}
	return m, nil
}

package sqltenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Options returns the Options that describe the layout s was backed up
// with: its tenant column, its tables' filters and timestamp columns.
// Tables the backup left out are not known to it: a target holding
// others needs them in Exclude.
func (s *Schema) Options() *Options {
	o := &Options{Filters: map[string]string{}, Timestamps: map[string]string{}}
	o.TenantColumn, _ = strings.CutPrefix(s.Layout, "tenant-column:")
	if s.Layout == "database" {
		o.TenantColumn = ""
	}
	if s.Migrations != nil {
		o.MigrationsTable = s.Migrations.Table
	}
	for _, t := range s.Tables {
		if t.Filter != "" {
			o.Filters[t.Name] = t.Filter
		}
		if t.Timestamp != "" {
			o.Timestamps[t.Name] = t.Timestamp
		}
	}
	return o
}

// ScratchSQLite creates a new SQLite file at path with the tables of s, a
// SQLite backup's metadata — columns with their declared types and NOT
// NULL, primary keys and foreign keys between them; no other
// constraints, indexes or defaults — and the migrations s records, and returns it opened: a
// scratch database a drill restores the backup into (with s.Options()),
// proving its rows load with their keys and references checked and read
// back exactly. It refuses a path that exists and a backup of another
// engine.
func ScratchSQLite(ctx context.Context, path string, s *Schema) (*sql.DB, error) {
	if s.Engine != "sqlite" {
		return nil, fmt.Errorf("sqltenant: a scratch SQLite database cannot hold a %s backup's tables", s.Engine)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("sqltenant: scratch database %q: it exists already (or cannot be checked: %v)", path, err)
	}
	stmts, err := scratchDDL(s)
	if err != nil {
		return nil, err
	}
	db, err := OpenSQLite(path)
	if err != nil {
		return nil, err
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqltenant: scratch database %q: %w", path, err)
		}
	}
	return db, nil
}

type statement struct {
	sql  string
	args []any
}

// scratchDDL returns the statements that create s's tables and record
// its migrations, every name checked.
func scratchDDL(s *Schema) ([]statement, error) {
	var out []statement
	for _, t := range s.Tables {
		if err := checkTable(&t); err != nil {
			return nil, err
		}
		var defs []string
		for _, c := range t.Columns {
			def := quoteIdent(c.Name) + " " + declaredType(c.Type)
			if c.NotNull {
				def += " NOT NULL"
			}
			defs = append(defs, def)
		}
		defs = append(defs, "PRIMARY KEY ("+quoteList(t.PrimaryKey)+")")
		for _, fk := range t.ForeignKeys {
			if schemaTable(s, fk.RefTable) == nil {
				continue // a reference table the backup left out
			}
			for _, c := range append(slices.Clone(fk.Columns), fk.RefColumns...) {
				if err := checkName("foreign key column of "+t.Name, c); err != nil {
					return nil, err
				}
			}
			defs = append(defs, "FOREIGN KEY ("+quoteList(fk.Columns)+") REFERENCES "+quoteIdent(fk.RefTable)+" ("+quoteList(fk.RefColumns)+")")
		}
		out = append(out, statement{sql: "CREATE TABLE " + quoteIdent(t.Name) + " (" + strings.Join(defs, ", ") + ")"})
	}
	if m := s.Migrations; m != nil {
		if err := checkName("migrations table", m.Table); err != nil {
			return nil, err
		}
		out = append(out, statement{sql: "CREATE TABLE " + quoteIdent(m.Table) + " (id TEXT PRIMARY KEY, release TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"})
		for _, id := range m.Applied {
			out = append(out, statement{sql: "INSERT INTO " + quoteIdent(m.Table) + " VALUES (?1, '', '', '')", args: []any{id}})
		}
	}
	return out, nil
}

// declaredType keeps a declared SQLite type that is plain words, digits,
// spaces, parentheses and commas ("VARCHAR(20)", "NUMERIC(12, 4)"), so
// that the column has the same affinity; anything else gets none.
func declaredType(t string) string {
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" (),_", r)) {
			return ""
		}
	}
	return t
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteIdent(n)
	}
	return strings.Join(q, ", ")
}

package sqltenant

import (
	"fmt"
	"strings"
)

// DB is a database holding tenants' rows: what a Source reads a tenant
// from and a Target restores one into. Make one per engine (SQLite); it
// is safe for concurrent use, and each Source and Target opens its own
// transaction.
type DB struct {
	d dialect
}

// Options say where a tenant's rows are. The zero value (and a nil
// *Options) means a database per tenant: every table of the database
// is the tenant's.
type Options struct {
	// TenantColumn names the column holding the tenant ID in shared
	// tables ("tenant_id"). Every table the catalog lists must then have
	// it, or a Filter, or be excluded. Empty: a database per tenant.
	TenantColumn string
	// Filters gives, per table, the predicate selecting the tenant's
	// rows of a table that reaches the tenant through a join, as SQL the
	// host writes, with {tenant} where the tenant ID goes (bound as a
	// parameter, never spliced in):
	//
	//	"order_id IN (SELECT id FROM orders WHERE tenant_id = {tenant})"
	//
	// The predicate also selects the rows a restore deletes.
	Filters map[string]string
	// Exclude names tables left out: reference tables shared by every
	// tenant, tables of the host's own.
	Exclude []string
	// Timestamps names, per table, the column a keep-newer merge
	// compares and whose greatest value the metadata records. A table
	// not named uses "updated_at" when it has that column.
	Timestamps map[string]string
	// MigrationsTable is the release migrator's table whose applied
	// migrations the metadata records and a restore checks (default
	// "steward_migrations", release.SQLMigrator's default). It is never
	// backed up as data.
	MigrationsTable string
	// Merge is the rule of a restore.Merge restore into a Target
	// (default MergeKeepNewer).
	Merge MergeRule
	// SpoolDir is where a Target keeps what a restore wrote until it
	// commits (default os.TempDir()).
	SpoolDir string
	// SkipVerify leaves out a full or selective restore's last check:
	// by default each table loaded is read back inside the transaction
	// and must encode to the backup's row count and SHA-256, or nothing
	// is committed (ErrMismatch). The check reads the tenant's rows once
	// more.
	SkipVerify bool
}

// tenantToken is what a filter writes where the tenant ID goes.
const tenantToken = "{tenant}"

// layout returns the metadata's name of o's layout.
func (o *Options) layout() string {
	if o.TenantColumn == "" {
		return "database"
	}
	return "tenant-column:" + o.TenantColumn
}

func (o *Options) migrationsTable() string {
	if o.MigrationsTable == "" {
		return "steward_migrations"
	}
	return o.MigrationsTable
}

// check validates o before any I/O.
func (o *Options) check() error {
	if o.TenantColumn != "" {
		if err := checkName("tenant column", o.TenantColumn); err != nil {
			return err
		}
	}
	for t, f := range o.Filters {
		if err := checkName("filtered table", t); err != nil {
			return err
		}
		if !strings.Contains(f, tenantToken) {
			return fmt.Errorf("sqltenant: filter of table %q does not mention %s: it would select every tenant's rows", t, tenantToken)
		}
	}
	for t, c := range o.Timestamps {
		if err := checkName("table", t); err != nil {
			return err
		}
		if err := checkName("timestamp column of "+t, c); err != nil {
			return err
		}
	}
	return checkName("migrations table", o.migrationsTable())
}

func (o *Options) excluded(table string) bool {
	for _, e := range o.Exclude {
		if e == table {
			return true
		}
	}
	return table == o.migrationsTable()
}

// where returns the predicate selecting tenant's rows of t, with its
// arguments: the tenant column's equality, t's filter, or "" (a database
// per tenant). The tenant is always a bound parameter.
func (o *Options) where(d dialect, t *Table, tenant string) (string, []any, error) {
	if f, ok := o.Filters[t.Name]; ok {
		return strings.ReplaceAll(f, tenantToken, d.param(1)), []any{tenant}, nil
	}
	if o.TenantColumn == "" {
		return "", nil, nil
	}
	if t.column(o.TenantColumn) == nil {
		return "", nil, fmt.Errorf("%w: table %q has no column %q: add it to Options.Exclude (a reference table) or Options.Filters", ErrUnscopedTable, t.Name, o.TenantColumn)
	}
	return quoteIdent(o.TenantColumn) + " = " + d.param(1), []any{tenant}, nil
}

// timestamp returns t's timestamp column, or "".
func (o *Options) timestamp(t *Table) string {
	if c, ok := o.Timestamps[t.Name]; ok {
		return c
	}
	if t.column("updated_at") != nil {
		return "updated_at"
	}
	return ""
}

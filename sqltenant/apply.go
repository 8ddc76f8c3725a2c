package sqltenant

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/iluxsys/steward/restore"
)

// Commit applies what the restore wrote in one transaction and reports,
// per table, the rows inserted, updated, kept and deleted. It fails,
// changing nothing, when the metadata file was not written (ErrNoSchema),
// the target's schema cannot take the backup (ErrMissingTable,
// ErrMissingColumn, ErrIncompatibleType, ErrKeyChanged,
// ErrRequiredColumn, ErrNewerMigrations; all of them joined, see
// Compatible), a selective restore would cascade into other tables
// (ErrCascade), a row breaks a constraint or a foreign key
// (ErrForeignKey), or the rows loaded are not the metadata's
// (ErrMismatch). The spooled files are removed either way.
func (t *Target) Commit(ctx context.Context) ([]restore.Outcome, error) {
	if err := t.endRead(); err != nil {
		return nil, err
	}
	defer t.discard()
	t.mu.Lock()
	c := &commit{t: t, mode: t.mode, spools: t.spools, removed: t.removed}
	t.mu.Unlock()
	s, err := c.schema()
	if err != nil {
		return nil, err
	}
	tx, err := t.db.d.write(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.run(ctx, tx, s)
	if err != nil {
		return nil, errors.Join(err, tx.rollback())
	}
	if err := tx.commit(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

// commit is one Commit's work.
type commit struct {
	t       *Target
	mode    restore.Mode
	spools  map[string]*spool
	removed map[string]bool
	current map[string]*tenantTable // the target's tenant tables
	order   []*tenantTable          // the same, parents first
}

// schema reads the spooled metadata file and checks it is one this
// package and the target's engine read.
func (c *commit) schema() (*Schema, error) {
	sp := c.spools[SchemaPath]
	if sp == nil {
		return nil, fmt.Errorf("%w: a selective restore must name the module %q (see Select)", ErrNoSchema, SchemaModule)
	}
	f, err := os.Open(sp.name)
	if err != nil {
		return nil, fmt.Errorf("sqltenant: read the spooled metadata: %w", err)
	}
	defer f.Close()
	s, err := ReadSchema(f)
	if err != nil {
		return nil, err
	}
	switch {
	case s.Format > FormatVersion:
		return nil, fmt.Errorf("sqltenant: the backup's format %d is newer than this version's (%d): upgrade steward", s.Format, FormatVersion)
	case s.Engine != c.t.db.d.name():
		return nil, fmt.Errorf("sqltenant: the backup is of a %s database, the target is %s", s.Engine, c.t.db.d.name())
	case s.Layout != c.t.o.layout():
		return nil, fmt.Errorf("sqltenant: the backup's layout is %q, the target's %q", s.Layout, c.t.o.layout())
	case c.t.o.TenantColumn != "" && s.Tenant != c.t.tenant:
		return nil, fmt.Errorf("sqltenant: the backup holds tenant %q's rows, not %q's: rows in shared tables keep their tenant", s.Tenant, c.t.tenant)
	}
	for p := range c.spools {
		if name, _ := module(p); name != "" && schemaTable(s, name) == nil {
			return nil, fmt.Errorf("sqltenant: %q is not a table of the backup's metadata", p)
		}
	}
	return s, nil
}

// schemaTable returns s's table named name, or nil.
func schemaTable(s *Schema, name string) *Table {
	for i := range s.Tables {
		if s.Tables[i].Name == name {
			return &s.Tables[i]
		}
	}
	return nil
}

// run checks and applies the restore inside tx.
func (c *commit) run(ctx context.Context, tx writeTx, s *Schema) ([]restore.Outcome, error) {
	d := c.t.db.d
	tables, mig, err := tenantTables(ctx, d, tx, &c.t.o, c.t.tenant)
	if err != nil {
		return nil, err
	}
	c.current = map[string]*tenantTable{}
	for i := range tables {
		c.order = append(c.order, &tables[i])
		c.current[tables[i].Name] = &tables[i]
	}
	var restoring []*Table
	for i := range s.Tables {
		if c.spools[s.Tables[i].Name+"/"+RowsFile] != nil {
			restoring = append(restoring, &s.Tables[i])
		}
	}
	if err := checkCompat(d, s, restoring, c.current, mig); err != nil {
		return nil, err
	}
	if c.mode == restore.Merge {
		return c.merge(ctx, tx, restoring)
	}
	return c.replace(ctx, tx, restoring)
}

// replace deletes the tenant's rows of the restored and removed tables,
// children first, then loads the backup's, parents first.
func (c *commit) replace(ctx context.Context, tx writeTx, restoring []*Table) ([]restore.Outcome, error) {
	if err := c.checkCascade(restoring); err != nil {
		return nil, err
	}
	if bl, ok := tx.(bulkLoader); ok && wholeTables(restoring, c.current) {
		bulk, err := bl.bulkBegin(ctx, tableNames(restoring))
		if err != nil {
			return nil, err
		}
		if bulk {
			return c.deleteAndLoad(ctx, tx, restoring, bl.bulkEnd)
		}
	}
	if rp, ok := tx.(replacer); ok && c.inPlace(restoring) {
		if err := rp.mark(ctx); err != nil {
			return nil, err
		}
		out, err := c.replaceInPlace(ctx, tx, rp, restoring)
		if err == nil {
			return out, nil
		}
		if undone, uerr := rp.undo(ctx, err); !undone {
			return nil, errors.Join(err, uerr)
		}
	}
	return c.deleteAndLoad(ctx, tx, restoring, nil)
}

// deleteAndLoad deletes the tenant's rows of the restored and removed
// tables, children first, loads the backup's, parents first, runs
// finish (when not nil), then reads each table back and checks the
// foreign keys.
func (c *commit) deleteAndLoad(ctx context.Context, tx writeTx, restoring []*Table, finish func(context.Context) error) ([]restore.Outcome, error) {
	outs := map[string]*restore.Outcome{}
	var touched []string
	for _, tt := range slices.Backward(c.order) {
		if !c.removed[tt.Name] && !slices.ContainsFunc(restoring, func(b *Table) bool { return b.Name == tt.Name }) {
			continue
		}
		n, err := tx.exec(ctx, deleteSQL(tt), tt.args)
		if err != nil {
			return nil, fmt.Errorf("sqltenant: delete the tenant's rows of %q: %w", tt.Name, err)
		}
		outs[tt.Name] = &restore.Outcome{Module: tt.Name, Action: "cleared", Deleted: n}
		touched = append(touched, tt.Name)
	}
	for _, bt := range restoring {
		n, err := c.loadTable(ctx, tx, bt, loadInsert, 0)
		if err != nil {
			return nil, err
		}
		o := outs[bt.Name]
		o.Action, o.Inserted = "replaced", n.Inserted
	}
	if finish != nil {
		if err := finish(ctx); err != nil {
			return nil, err
		}
	}
	for _, bt := range restoring {
		if c.t.o.SkipVerify {
			break
		}
		if err := verifyTable(ctx, tx, bt, c.current[bt.Name]); err != nil {
			return nil, err
		}
	}
	if err := tx.checkForeignKeys(ctx, c.referencing(touched)); err != nil {
		return nil, err
	}
	return outcomes(c.order, outs), nil
}

// wholeTables tells whether every restored table is the tenant's whole
// table (a schema or a database of its own: no tenant filter).
func wholeTables(restoring []*Table, current map[string]*tenantTable) bool {
	for _, bt := range restoring {
		if tt := current[bt.Name]; tt == nil || tt.where != "" {
			return false
		}
	}
	return len(restoring) > 0
}

// tableNames returns the names of tables.
func tableNames(tables []*Table) []string {
	out := make([]string, len(tables))
	for i, t := range tables {
		out[i] = t.Name
	}
	return out
}

// inPlace tells whether every restored table can be replaced in place:
// the target's table has the backup's columns and no others. Extra
// columns (nullable or defaulted) get their defaults back only from a
// delete and an insert, as a restore into them always gave.
func (c *commit) inPlace(restoring []*Table) bool {
	for _, bt := range restoring {
		tt := c.current[bt.Name]
		if tt == nil || len(tt.Columns) != len(bt.Columns) {
			return false
		}
		for _, col := range bt.Columns {
			if tt.column(col.Name) == nil {
				return false
			}
		}
	}
	return true
}

// replaceInPlace replaces the tenant's rows of the restored tables as
// replace does, writing only what differs: each table loaded parents
// first (rows whose key is missing inserted, rows that differ updated,
// identical ones kept), then the rows whose key the backup lacks (and
// the rows of the removed tables) deleted children first. The tenant
// ends with exactly the backup's rows, which are then read back and
// checked as replace checks them (a count alone with SkipVerify).
func (c *commit) replaceInPlace(ctx context.Context, tx writeTx, rp replacer, restoring []*Table) ([]restore.Outcome, error) {
	outs := map[string]*restore.Outcome{}
	var touched []string
	for _, bt := range restoring {
		n, err := c.loadOver(ctx, tx, bt, loadReplace)
		if err != nil {
			return nil, err
		}
		outs[bt.Name] = &restore.Outcome{Module: bt.Name, Action: "replaced", Inserted: n.Inserted, Updated: n.Updated, Kept: n.Kept}
	}
	for _, tt := range slices.Backward(c.order) {
		o, err := c.prune(ctx, tx, rp, tt, outs[tt.Name])
		if err != nil {
			return nil, err
		}
		if o != nil {
			outs[tt.Name] = o
			touched = append(touched, tt.Name)
		}
	}
	for _, bt := range restoring {
		if err := c.checkReplaced(ctx, tx, bt); err != nil {
			return nil, err
		}
	}
	if err := tx.checkForeignKeys(ctx, c.referencing(touched)); err != nil {
		return nil, err
	}
	return outcomes(c.order, outs), nil
}

// prune deletes the tenant's rows of tt a replacing restore does not
// keep: those the backup lacks when tt was loaded (o is its outcome),
// every one when the restore removes tt. It returns tt's outcome, nil
// when the restore leaves tt alone.
func (c *commit) prune(ctx context.Context, tx writeTx, rp replacer, tt *tenantTable, o *restore.Outcome) (*restore.Outcome, error) {
	var n int64
	var err error
	switch {
	case o != nil:
		n, err = rp.prune(ctx, tt.Name)
	case c.removed[tt.Name]:
		o = &restore.Outcome{Module: tt.Name, Action: "cleared"}
		n, err = tx.exec(ctx, deleteSQL(tt), tt.args)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqltenant: delete the tenant's rows of %q: %w", tt.Name, err)
	}
	o.Deleted = n
	return o, nil
}

// checkReplaced fails with ErrMismatch unless the tenant's rows of bt
// are the backup's: read back and compared (verifyTable) when the
// engine can, else (and with SkipVerify) counted. A row of the backup
// that landed outside the tenant is missing from the count.
func (c *commit) checkReplaced(ctx context.Context, tx writeTx, bt *Table) error {
	tt := c.current[bt.Name]
	if _, ok := tx.(rowScanner); ok && !c.t.o.SkipVerify {
		return verifyTable(ctx, tx, bt, tt)
	}
	if tc, ok := tx.(tenantCounter); ok && tc.countsTenant(loadReplace) {
		return nil // the load held every row in the tenant and pruned the others
	}
	n, err := c.count(ctx, tx, tt)
	if err != nil {
		return err
	}
	if n != bt.Rows {
		return fmt.Errorf("%w: table %q: the tenant holds %d rows after the restore, the backup %d", ErrMismatch, bt.Name, n, bt.Rows)
	}
	return nil
}

// merge loads the backup's rows of the restored tables, parents first,
// by the Target's merge rule.
func (c *commit) merge(ctx context.Context, tx writeTx, restoring []*Table) ([]restore.Outcome, error) {
	outs := map[string]*restore.Outcome{}
	var touched []string
	for _, bt := range restoring {
		mode := loadKeepNewer
		switch c.t.o.Merge {
		case MergeMissingOnly:
			mode = loadMissingOnly
		case MergeOverwrite:
			mode = loadOverwrite
		}
		n, err := c.loadOver(ctx, tx, bt, mode)
		if err != nil {
			return nil, err
		}
		outs[bt.Name] = &restore.Outcome{Module: bt.Name, Action: "merged", Inserted: n.Inserted, Updated: n.Updated, Kept: n.Kept}
		touched = append(touched, bt.Name)
	}
	if err := tx.checkForeignKeys(ctx, c.referencing(touched)); err != nil {
		return nil, err
	}
	return outcomes(c.order, outs), nil
}

// outcomes lists outs in the target's table order.
func outcomes(order []*tenantTable, outs map[string]*restore.Outcome) []restore.Outcome {
	var list []restore.Outcome
	for _, t := range order {
		if o := outs[t.Name]; o != nil {
			list = append(list, *o)
		}
	}
	return list
}

func deleteSQL(t *tenantTable) string {
	q := "DELETE FROM " + quoteIdent(t.Name)
	if t.where != "" {
		q += " WHERE " + t.where
	}
	return q
}

// count returns the tenant's rows in t.
func (c *commit) count(ctx context.Context, tx writeTx, t *tenantTable) (int64, error) {
	q := "SELECT count(*) FROM " + quoteIdent(t.Name)
	if t.where != "" {
		q += " WHERE " + t.where
	}
	var n int64
	err := tx.query(ctx, q, t.args, func(r []value) error { n = r[0].i; return nil })
	if err != nil {
		return 0, fmt.Errorf("sqltenant: count the tenant's rows of %q: %w", t.Name, err)
	}
	return n, nil
}

// referencing returns names and the tenant tables whose foreign keys
// reference one of them: the tables whose references a change to names
// may break.
func (c *commit) referencing(names []string) []string {
	out := slices.Clone(names)
	for _, t := range c.order {
		for _, fk := range t.ForeignKeys {
			if slices.Contains(names, fk.RefTable) && !slices.Contains(out, t.Name) {
				out = append(out, t.Name)
			}
		}
	}
	return out
}

// checkCascade refuses a restore that deletes rows of a table another
// tenant table, not restored, references with an ON DELETE action: the
// engine would delete or change that table's rows too.
func (c *commit) checkCascade(restoring []*Table) error {
	deleted := func(name string) bool {
		return c.removed[name] || slices.ContainsFunc(restoring, func(b *Table) bool { return b.Name == name })
	}
	var errs []error
	for _, t := range c.order {
		if deleted(t.Name) {
			continue
		}
		for _, fk := range t.ForeignKeys {
			switch fk.OnDelete {
			case "CASCADE", "SET NULL", "SET DEFAULT":
				if deleted(fk.RefTable) {
					errs = append(errs, fmt.Errorf("%w: deleting the rows of %q would %s rows of %q (ON DELETE %s): restore %q too", ErrCascade, fk.RefTable, onDeleteVerb(fk.OnDelete), t.Name, fk.OnDelete, t.Name))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func onDeleteVerb(action string) string {
	if action == "CASCADE" {
		return "delete"
	}
	return "change"
}

// loadOver loads bt's spooled rows over the tenant's rows of the table
// (counted first) with mode.
func (c *commit) loadOver(ctx context.Context, tx writeTx, bt *Table, mode loadMode) (loadCounts, error) {
	if tc, ok := tx.(tenantCounter); ok && tc.countsTenant(mode) {
		return c.loadTable(ctx, tx, bt, mode, -1)
	}
	before, err := c.count(ctx, tx, c.current[bt.Name])
	if err != nil {
		return loadCounts{}, err
	}
	return c.loadTable(ctx, tx, bt, mode, before)
}

// loadTable loads bt's spooled rows with mode, then checks them against
// the metadata (count and SHA-256 of the file) and that the tenant now
// holds before plus the rows inserted: no row landed outside the tenant
// (before < 0: the load checked that itself, see tenantCounter).
func (c *commit) loadTable(ctx context.Context, tx writeTx, bt *Table, mode loadMode, before int64) (loadCounts, error) {
	sp := c.spools[bt.Name+"/"+RowsFile]
	if sp.sum != bt.SHA256 {
		return loadCounts{}, fmt.Errorf("%w: table %q: the rows file's SHA-256 is %s, the metadata's %s", ErrMismatch, bt.Name, sp.sum, bt.SHA256)
	}
	f, err := os.Open(sp.name)
	if err != nil {
		return loadCounts{}, fmt.Errorf("sqltenant: read the spooled rows of %q: %w", bt.Name, err)
	}
	defer f.Close()
	dec, err := newDecoder(f)
	if err != nil {
		return loadCounts{}, fmt.Errorf("sqltenant: table %q: %w", bt.Name, err)
	}
	if !slices.Equal(dec.columns, bt.columnNames()) {
		return loadCounts{}, fmt.Errorf("%w: table %q: the rows file's columns %q are not the metadata's %q", ErrMismatch, bt.Name, dec.columns, bt.columnNames())
	}
	tt := c.current[bt.Name]
	l := &loadSpec{Table: bt, Columns: dec.columns, Mode: mode, Where: tt.where, Args: tt.args, Current: &tt.Table, next: dec.next}
	if mode == loadKeepNewer {
		l.Timestamp = c.t.o.timestamp(bt)
	}
	n, err := tx.load(ctx, l)
	if err != nil {
		return n, err
	}
	if dec.rows != bt.Rows {
		return n, fmt.Errorf("%w: table %q: %d rows loaded, the metadata says %d", ErrMismatch, bt.Name, dec.rows, bt.Rows)
	}
	if before < 0 { // the load checked the tenant's rows itself
		return n, nil
	}
	after, err := c.count(ctx, tx, tt)
	if err != nil {
		return n, err
	}
	if after != before+n.Inserted {
		return n, fmt.Errorf("%w: table %q: the tenant holds %d rows after inserting %d to %d: %d rows belong to another tenant", ErrMismatch, bt.Name, after, n.Inserted, before, before+n.Inserted-after)
	}
	return n, nil
}

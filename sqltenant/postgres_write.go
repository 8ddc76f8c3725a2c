package sqltenant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// pgWriteTx is a restore's transaction: READ COMMITTED, so rows of
// other tenants that other transactions change meanwhile are neither
// read nor locked by it, only the tenant's rows it deletes and writes.
// Foreign keys stay enforced: immediate ones at each statement,
// deferred ones in checkForeignKeys.
type pgWriteTx struct {
	d      *pgDialect
	c      *pgxpool.Conn
	loaded []string // tables loaded, whose sequences commit advances
	// floors are the backup's sequence values, by table and column,
	// which commit advances the sequences to at least.
	floors map[[2]string]int64
	stages int // staging tables made, for unique names
	// pending are the staging tables of loadReplace loads, by table,
	// kept for prune.
	pending map[string]*pgMerge
	// aside are the foreign keys and indexes bulkBegin dropped, which
	// bulkEnd makes again.
	aside []pgSetAside
	done  bool
}

// scan reads rows inside the restore's transaction, its own writes
// included, so that a restore reads back what it loaded before it commits
// (verifyTable).
func (t *pgWriteTx) scan(ctx context.Context, s *scanSpec, fn func([]value) error) error {
	return copyScan(ctx, t.c.Conn(), s, fn)
}

func (d *pgDialect) write(ctx context.Context) (writeTx, error) {
	c, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, pgError("connect", err)
	}
	if err := d.begin(ctx, c.Conn(), "ISOLATION LEVEL READ COMMITTED"); err != nil {
		c.Release()
		return nil, pgError("begin the restore's transaction", err)
	}
	return &pgWriteTx{d: d, c: c}, nil
}

func (t *pgWriteTx) engineVersion(ctx context.Context) (string, error) {
	return pgCatalog{t.d}.version(ctx, t.c.Conn())
}

func (t *pgWriteTx) tables(ctx context.Context) ([]Table, error) {
	tables, _, err := pgCatalog{t.d}.tables(ctx, t.c.Conn())
	return tables, err
}

func (t *pgWriteTx) query(ctx context.Context, q string, args []any, fn func([]value) error) error {
	return pgQuery(ctx, t.c.Conn(), q, args, fn)
}

func (t *pgWriteTx) exec(ctx context.Context, q string, args []any) (int64, error) {
	tag, err := t.c.Exec(ctx, q, args...)
	if err != nil {
		return 0, pgError("exec", err)
	}
	return tag.RowsAffected(), nil
}

// load streams the rows with COPY FROM STDIN: straight into the table
// for loadInsert, else through a staging table (see staged). A table
// under row-level security for the role (which COPY FROM refuses) is
// loaded through a staging table too, so the policies check each row.
func (t *pgWriteTx) load(ctx context.Context, l *loadSpec) (loadCounts, error) {
	t.loaded = append(t.loaded, l.Table.Name)
	if len(l.Table.Sequences) > 0 {
		if t.floors == nil {
			t.floors = map[[2]string]int64{}
		}
		for _, sq := range l.Table.Sequences {
			t.floors[[2]string{l.Table.Name, sq.Column}] = sq.Value
		}
	}
	if l.Mode == loadInsert {
		rls, err := t.rowSecurity(ctx, l.Table.Name)
		if err != nil {
			return loadCounts{}, err
		}
		if !rls {
			n, err := t.copyIn(ctx, l, t.d.qualified(l.Table.Name), pgIdents(l.Columns))
			return loadCounts{Inserted: n}, err
		}
	}
	return t.staged(ctx, l)
}

// rowSecurity tells whether row-level security applies to the role's
// access to table.
func (t *pgWriteTx) rowSecurity(ctx context.Context, table string) (bool, error) {
	var on bool
	err := t.c.QueryRow(ctx, "SELECT pg_catalog.row_security_active($1::pg_catalog.regclass)", t.d.qualified(table)).Scan(&on)
	return on, pgError(fmt.Sprintf("read the row security of %q", table), err)
}

// copyIn copies l's rows into table's columns and returns how many.
func (t *pgWriteTx) copyIn(ctx context.Context, l *loadSpec, table string, columns []string) (int64, error) {
	enc := newCopyEncoder(l.next)
	q := "COPY " + table + " (" + strings.Join(columns, ", ") + ") FROM STDIN"
	tag, err := t.c.Conn().PgConn().CopyFrom(ctx, enc, q)
	if enc.err != nil {
		return 0, enc.err // the backup's rows could not be read
	}
	if err != nil {
		return 0, pgError(fmt.Sprintf("load table %q", l.Table.Name), err)
	}
	return tag.RowsAffected(), nil
}

// staged loads l through a staging table whose columns are named "~1",
// "~2", ... (no table column can be: checkName refuses '~'), so that
// l.Where, written against the table's columns, reads only the table's:
// the rows are copied into it, then a loadInsert inserts them all; a
// merge runs one UPDATE of the tenant's rows with a matching key (as the
// mode says) and one INSERT of the rows whose key the tenant lacks.
func (t *pgWriteTx) staged(ctx context.Context, l *loadSpec) (loadCounts, error) {
	m, err := newPgMerge(t, l)
	if err != nil {
		return loadCounts{}, err
	}
	what := fmt.Sprintf("load table %q", l.Table.Name)
	if _, err := t.c.Exec(ctx, m.createStage()); err != nil {
		return loadCounts{}, pgError(what, err)
	}
	total, err := t.copyIn(ctx, l, m.stage, m.stageCols)
	if err != nil {
		return loadCounts{}, err
	}
	var n loadCounts
	if l.Mode == loadInsert {
		tag, err := t.c.Exec(ctx, m.insertAll())
		if err != nil {
			return loadCounts{}, pgError(what, err)
		}
		n.Inserted = tag.RowsAffected()
	} else if n, err = t.mergeStaged(ctx, m, total); err != nil {
		return loadCounts{}, pgError(what, err)
	}
	if l.Mode == loadReplace {
		if t.pending == nil {
			t.pending = map[string]*pgMerge{}
		}
		t.pending[l.Table.Name] = m
		return n, nil
	}
	_, err = t.c.Exec(ctx, "DROP TABLE "+m.stage)
	return n, pgError(what, err)
}

// mergeStaged updates, then inserts, from the staged rows, after
// classifying them (see classify): a statement that would change
// nothing is not run.
func (t *pgWriteTx) mergeStaged(ctx context.Context, m *pgMerge, total int64) (loadCounts, error) {
	if _, err := t.c.Exec(ctx, "ANALYZE "+m.stage); err != nil {
		return loadCounts{}, err
	}
	if err := t.classify(ctx, m); err != nil {
		return loadCounts{}, err
	}
	if err := t.checkTenant(ctx, m); err != nil {
		return loadCounts{}, err
	}
	n := loadCounts{Before: total - m.missing + m.extra}
	if q := m.update(); q != "" && m.changed > 0 {
		tag, err := t.c.Exec(ctx, q, m.l.Args...)
		if err != nil {
			return loadCounts{}, err
		}
		n.Updated = tag.RowsAffected()
	}
	if m.missing > 0 {
		ins, err := t.insertMissing(ctx, m, total)
		if err != nil {
			return loadCounts{}, err
		}
		n.Inserted = ins
	}
	n.Kept = total - n.Inserted - n.Updated
	return n, nil
}

// insertMissing inserts the staged rows whose key the tenant lacks:
// every one, with no look-up, when classify found that none matched.
// The look-up runs without nested loops: planned while the table is
// (nearly) empty, a nested anti-join would scan the table once per
// staged row, and the table grows with each row inserted, which made
// loading 16,000 rows into an emptied table take 8 s.
func (t *pgWriteTx) insertMissing(ctx context.Context, m *pgMerge, total int64) (int64, error) {
	if m.missing == total {
		tag, err := t.c.Exec(ctx, m.insertAll())
		return tag.RowsAffected(), err
	}
	if _, err := t.c.Exec(ctx, "SET LOCAL enable_nestloop = off"); err != nil {
		return 0, err
	}
	tag, err := t.c.Exec(ctx, m.insert(), m.l.Args...)
	if err != nil {
		return 0, err
	}
	_, err = t.c.Exec(ctx, "RESET enable_nestloop")
	return tag.RowsAffected(), err
}

// pgMerge builds the statements of one staged load.
type pgMerge struct {
	l         *loadSpec
	table     string   // the table, qualified and quoted
	stage     string   // the staging table, qualified and quoted
	stageCols []string // "~1", "~2", ... quoted, in l.Columns' order
	keyMatch  string   // the table's key equals the stage row's
	// missing, changed and extra count, for a replace, the staged rows
	// whose key the tenant lacks, those whose values differ from the
	// tenant's row, and the tenant's rows whose key no staged row has.
	missing, changed, extra int64
	ts                      string // the stage's timestamp column, or ""
}

func newPgMerge(t *pgWriteTx, l *loadSpec) (*pgMerge, error) {
	t.stages++
	m := &pgMerge{l: l, table: t.d.qualified(l.Table.Name),
		stage: "pg_temp." + pgIdent("steward_stage_"+strconv.Itoa(t.stages))}
	pos := map[string]string{}
	for i, c := range l.Columns {
		m.stageCols = append(m.stageCols, pgIdent("~"+strconv.Itoa(i+1)))
		pos[c] = "s." + m.stageCols[i]
	}
	var match []string
	for _, k := range l.Table.PrimaryKey {
		s, ok := pos[k]
		if !ok {
			return nil, fmt.Errorf("%w: table %q: the backup's rows lack key column %q", ErrNoPrimaryKey, l.Table.Name, k)
		}
		match = append(match, m.table+"."+pgIdent(k)+" = "+s)
	}
	if len(match) == 0 {
		return nil, fmt.Errorf("%w: table %q", ErrNoPrimaryKey, l.Table.Name)
	}
	m.keyMatch = strings.Join(match, " AND ")
	if l.Mode == loadKeepNewer && l.Timestamp != "" {
		m.ts = pos[l.Timestamp]
	}
	return m, nil
}

// createStage makes the staging table with the types of the table's
// columns, dropped at commit at the latest.
func (m *pgMerge) createStage() string {
	cols := make([]string, len(m.l.Columns))
	for i, c := range m.l.Columns {
		cols[i] = pgIdent(c) + " AS " + m.stageCols[i]
	}
	return "CREATE TEMP TABLE " + m.stage + " ON COMMIT DROP AS SELECT " + strings.Join(cols, ", ") +
		" FROM " + m.table + " WITH NO DATA"
}

// tenantFilter is l.Where applied to the table's row, or "".
func (m *pgMerge) tenantFilter() string {
	if m.l.Where == "" {
		return ""
	}
	return " AND (" + m.l.Where + ")"
}

// update returns the UPDATE of the tenant's rows whose key the stage
// holds: every one (overwrite), those the stage's row is strictly newer
// than (keep-newer; a NULL on either side keeps the row), those whose
// any value differs from the stage's (replace), or "" when nothing is
// to be updated (missing-only, keep-newer without a timestamp, or a
// table whose every column is in the key).
func (m *pgMerge) update() string {
	if m.l.Mode == loadMissingOnly || (m.l.Mode == loadKeepNewer && m.ts == "") {
		return ""
	}
	var set []string
	for i, c := range m.l.Columns {
		if !slices.Contains(m.l.Table.PrimaryKey, c) {
			set = append(set, pgIdent(c)+" = s."+m.stageCols[i])
		}
	}
	if len(set) == 0 {
		return ""
	}
	q := "UPDATE " + m.table + " SET " + strings.Join(set, ", ") + " FROM " + m.stage + " AS s WHERE " + m.keyMatch + m.tenantFilter()
	if c := m.changes(m.table); c != "" {
		q += " AND " + c
	}
	return q
}

// changes is the condition on the row of table (a name or an alias)
// with the staged row's key for update to change it, "" for every one
// (overwrite): the staged row is newer (keep-newer), or differs
// (replace).
func (m *pgMerge) changes(table string) string {
	switch {
	case m.ts != "":
		return m.ts + " > " + table + "." + pgIdent(m.l.Timestamp)
	case m.l.Mode == loadReplace:
		return "NOT (" + m.same(table) + ")"
	}
	return ""
}

// insertAll returns the INSERT of every staged row.
func (m *pgMerge) insertAll() string {
	return "INSERT INTO " + m.table + " (" + strings.Join(pgIdents(m.l.Columns), ", ") + ") OVERRIDING SYSTEM VALUE SELECT " +
		strings.Join(m.stageSelect(), ", ") + " FROM " + m.stage + " AS s"
}

// stageSelect returns the staged columns, in l.Columns' order.
func (m *pgMerge) stageSelect() []string {
	sel := make([]string, len(m.stageCols))
	for i, c := range m.stageCols {
		sel[i] = "s." + c
	}
	return sel
}

// insert returns the INSERT of the stage's rows whose key is not among
// the tenant's rows. A key another tenant holds fails on the key, as a
// row of one tenant is never changed by another's restore.
func (m *pgMerge) insert() string {
	return "INSERT INTO " + m.table + " (" + strings.Join(pgIdents(m.l.Columns), ", ") + ") OVERRIDING SYSTEM VALUE SELECT " +
		strings.Join(m.stageSelect(), ", ") + " FROM " + m.stage + " AS s WHERE NOT EXISTS (SELECT 1 FROM " + m.table +
		" WHERE " + m.keyMatch + m.tenantFilter() + ")"
}

// pgIdents quotes each of names.
func pgIdents(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = pgIdent(n)
	}
	return out
}

// qualified returns a table of the DB's schema, quoted and qualified.
func (d *pgDialect) qualified(table string) string {
	return pgIdent(d.schema, table)
}

// checkForeignKeys checks the deferred foreign keys now (immediate ones
// were checked by each statement): a violation fails with ErrForeignKey
// naming the table, and the caller rolls back.
func (t *pgWriteTx) checkForeignKeys(ctx context.Context, _ []string) error {
	_, err := t.c.Exec(ctx, "SET CONSTRAINTS ALL IMMEDIATE")
	return pgError("check foreign keys", err)
}

func (t *pgWriteTx) commit(ctx context.Context) error {
	if t.done {
		return errors.New("sqltenant: postgres: transaction already ended")
	}
	if err := t.advanceSequences(ctx); err != nil {
		return errors.Join(err, t.rollback())
	}
	if _, err := t.c.Exec(ctx, "COMMIT"); err != nil {
		return errors.Join(pgError("commit", err), t.rollback())
	}
	t.done = true
	t.c.Release()
	return nil
}

func (t *pgWriteTx) rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	defer t.c.Release() // a connection left in a transaction is closed, not reused
	if t.c.Conn().IsClosed() {
		return nil
	}
	_, err := t.c.Exec(context.Background(), "ROLLBACK")
	return pgError("roll back", err)
}

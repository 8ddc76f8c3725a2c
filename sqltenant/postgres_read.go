package sqltenant

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgReadTx is a backup's snapshot: a REPEATABLE READ READ ONLY
// transaction on a first connection, whose snapshot it exports, and up
// to Parallel-1 more connections that import it when scans overlap.
// Every connection is in use by one call at a time.
type pgReadTx struct {
	d        *pgDialect
	snapshot string
	idle     chan *pgxpool.Conn // connections in the snapshot, not in use

	mu    sync.Mutex
	all   []*pgxpool.Conn // every connection opened, the first first
	ended bool
}

func (d *pgDialect) read(ctx context.Context) (readTx, error) {
	c, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, pgError("connect", err)
	}
	if err := d.begin(ctx, c.Conn(), "ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		c.Release()
		return nil, pgError("begin the backup's transaction", err)
	}
	t := &pgReadTx{d: d, idle: make(chan *pgxpool.Conn, d.parallel), all: []*pgxpool.Conn{c}}
	if err := c.QueryRow(ctx, "SELECT pg_catalog.pg_export_snapshot()").Scan(&t.snapshot); err != nil {
		t.close()
		return nil, pgError("export the backup's snapshot", err)
	}
	t.idle <- c
	return t, nil
}

// acquire returns a connection in the snapshot: an idle one, a new one
// while fewer than Parallel are open, else the next one released.
func (t *pgReadTx) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	select {
	case c := <-t.idle:
		return c, nil
	default:
	}
	if c, err := t.open(ctx); c != nil || err != nil {
		return c, err
	}
	select {
	case c := <-t.idle:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (t *pgReadTx) release(c *pgxpool.Conn) { t.idle <- c }

// open opens one more connection importing the snapshot, or returns
// nil, nil when Parallel are open already.
func (t *pgReadTx) open(ctx context.Context) (*pgxpool.Conn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return nil, errors.New("sqltenant: postgres: the backup's transaction has ended")
	}
	if len(t.all) >= t.d.parallel {
		return nil, nil
	}
	c, err := t.d.pool.Acquire(ctx)
	if err != nil {
		return nil, pgError("connect a parallel reader", err)
	}
	if err := t.d.begin(ctx, c.Conn(), "ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		c.Release()
		return nil, pgError("begin a parallel reader", err)
	}
	if _, err := c.Exec(ctx, "SET TRANSACTION SNAPSHOT "+pgQuoteString(t.snapshot)); err != nil {
		_, _ = c.Exec(context.Background(), "ROLLBACK")
		c.Release()
		return nil, pgError("import the backup's snapshot", err)
	}
	t.all = append(t.all, c)
	return c, nil
}

// pgQuoteString quotes a string known to hold no NUL (a snapshot ID).
func pgQuoteString(s string) string {
	q, _ := pgQuoteLiteral(s)
	return q
}

// with runs fn on a connection of the snapshot.
func (t *pgReadTx) with(ctx context.Context, fn func(c *pgx.Conn) error) error {
	c, err := t.acquire(ctx)
	if err != nil {
		return err
	}
	defer t.release(c)
	return fn(c.Conn())
}

func (t *pgReadTx) engineVersion(ctx context.Context) (v string, err error) {
	err = t.with(ctx, func(c *pgx.Conn) error {
		v, err = pgCatalog{t.d}.version(ctx, c)
		return err
	})
	return v, err
}

// tables lists the schema's tables, then locks them (see lockTables);
// every connection's transaction lasts until close, so the locks do.
func (t *pgReadTx) tables(ctx context.Context) ([]Table, error) {
	var out []Table
	err := t.with(ctx, func(c *pgx.Conn) error {
		tables, refs, err := pgCatalog{t.d}.tables(ctx, c)
		if err != nil {
			return err
		}
		out = tables
		if err := lockTables(ctx, c, refs); err != nil {
			return err
		}
		return pgCatalog{t.d}.sequenceValues(ctx, c, out)
	})
	return out, err
}

func (t *pgReadTx) query(ctx context.Context, q string, args []any, fn func([]value) error) error {
	return t.with(ctx, func(c *pgx.Conn) error { return pgQuery(ctx, c, q, args, fn) })
}

// scan streams the rows of s through one of the snapshot's connections
// (copyScan).
func (t *pgReadTx) scan(ctx context.Context, s *scanSpec, fn func([]value) error) error {
	return t.with(ctx, func(c *pgx.Conn) error { return copyScan(ctx, c, s, fn) })
}

// copyScan streams the rows with COPY (SELECT ...) TO STDOUT on c,
// decoding each line as it arrives: no table is held in memory. COPY
// takes no bind parameters, so s.Args are written into the predicate as
// quoted literals (inlineParams).
func copyScan(ctx context.Context, c *pgx.Conn, s *scanSpec, fn func([]value) error) error {
	sel := s.selectSQL(func(c string) string { return c })
	q, err := inlineParams(sel, s.Args)
	if err != nil {
		return fmt.Errorf("sqltenant: postgres: table %q: %w", s.Table.Name, err)
	}
	what := fmt.Sprintf("read table %q", s.Table.Name)
	kinds, err := pgResultKinds(ctx, c, sel)
	if err != nil {
		return pgError(what, err)
	}
	dec := newCopyDecoder(kinds, fn)
	_, err = c.PgConn().CopyTo(ctx, dec, "COPY ("+q+") TO STDOUT")
	if dec.err != nil {
		return dec.err // fn's error, or a malformed line
	}
	if err != nil {
		return pgError(what, err)
	}
	return dec.finish()
}

// pgResultKinds returns the kind of each column q returns, from the
// types the server describes (a domain's base type): the same kinds
// pgQuery gives the same columns, so a scan and a query of one row
// agree value for value.
func pgResultKinds(ctx context.Context, c *pgx.Conn, q string) ([]kind, error) {
	sd, err := c.PgConn().Prepare(ctx, "", q, nil)
	if err != nil {
		return nil, err
	}
	kinds := make([]kind, len(sd.Fields))
	for i, f := range sd.Fields {
		kinds[i] = pgKindOID(f.DataTypeOID)
	}
	return kinds, nil
}

// close ends every connection's transaction and returns them to the
// pool. It is safe to call more than once.
func (t *pgReadTx) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return nil
	}
	t.ended = true
	var errs []error
	for i := len(t.all) - 1; i >= 0; i-- { // importers before the exporter
		c := t.all[i]
		if c.Conn().IsClosed() { // a failed COPY closed it: nothing to end
			c.Release()
			continue
		}
		if _, err := c.Exec(context.Background(), "ROLLBACK"); err != nil {
			errs = append(errs, pgError("end the backup's transaction", err))
		}
		c.Release()
	}
	return errors.Join(errs...)
}

// pgQuery runs q with results in text form, so each value is its type's
// output text (as COPY writes it), and converts them by pgKindOID.
func pgQuery(ctx context.Context, c *pgx.Conn, q string, args []any, fn func([]value) error) error {
	rows, err := c.Query(ctx, q, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)...)
	if err != nil {
		return pgError("query", err)
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	row := make([]value, len(fields))
	for rows.Next() {
		for i, raw := range rows.RawValues() {
			if raw == nil {
				row[i] = null()
				continue
			}
			v, err := pgValue(string(raw), pgKindOID(fields[i].DataTypeOID))
			if err != nil {
				return err
			}
			row[i] = v
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return pgError("query", rows.Err())
}

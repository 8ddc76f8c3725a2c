package sqltenant

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
)

// entryTime is the ModTime of every entry: rows carry their own times,
// and a constant keeps a restore's merge from judging tables by it.
var entryTime = time.Unix(0, 0).UTC()

// ErrClosed: the Source's snapshot has ended (Close, or every file read).
var ErrClosed = errors.New("sqltenant: source is closed")

// Source is one tenant's rows as a backup.Source: one module per table
// ("<table>/rows", Size backup.SizeUnknown) and the metadata module
// (SchemaPath), read in one read transaction begun by the first Walk or
// Open. It is safe for concurrent use (a backup opens tables in
// parallel). The transaction ends once every file the first walk
// yielded has been read, or on Close, whichever is first; later calls
// fail with ErrClosed: a Source is for one backup. Close it when the
// backup returns (a failed backup may leave files unread).
type Source struct {
	db     *DB
	tenant string
	o      Options
	// nonEmpty makes Walk yield only the tables holding tenant rows, and
	// nothing when there is none (a Target's walk: empty means empty).
	nonEmpty bool
	// preset, when set, are the paths a walk of another Source listed
	// (a Target's): the snapshot ends once they are read, as if its own
	// walk had listed them.
	preset []string

	mu   sync.Mutex
	snap *snapshot
	err  error // why the snapshot could not begin, or ErrClosed
}

// Source returns a Source of tenant's rows. The tenant ID is checked
// (steward.ValidateTenant) and opts validated before any I/O; nil opts
// means a database per tenant.
func (db *DB) Source(tenant string, opts *Options) (*Source, error) {
	if err := steward.ValidateTenant(tenant); err != nil {
		return nil, fmt.Errorf("sqltenant: %w", err)
	}
	s := &Source{db: db, tenant: tenant}
	if opts != nil {
		s.o = *opts
	}
	if err := s.o.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// Walk yields each table's rows file, then the metadata file, in
// lexical path order. The first Walk begins the read transaction.
func (s *Source) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	sn, err := s.snapshot(ctx)
	if err != nil {
		return err
	}
	var paths []string
	for _, t := range sn.tables {
		if s.nonEmpty {
			has, err := sn.hasRows(ctx, t)
			if err != nil {
				return err
			}
			if !has {
				continue
			}
		}
		paths = append(paths, t.Name+"/"+RowsFile)
	}
	if s.nonEmpty && len(paths) == 0 {
		return nil
	}
	sort.Strings(paths)
	sn.walked(paths)
	for _, p := range append(paths, SchemaPath) {
		if err := fn(backup.Entry{Path: p, Size: backup.SizeUnknown, Mode: 0o644, ModTime: entryTime}); err != nil {
			return err
		}
	}
	return nil
}

// Open streams a table's rows file or the metadata file. The metadata
// waits for the tables being read and reads those not read yet, so that
// its counts and sums are the files' own. Once every file the first walk
// yielded has been read, the read transaction ends.
func (s *Source) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	sn, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if p == SchemaPath {
		b, err := sn.schemaJSON(ctx)
		sn.readOne(SchemaPath)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	name, file, ok := strings.Cut(p, "/")
	t := sn.byName[name]
	if !ok || file != RowsFile || t == nil {
		return nil, fmt.Errorf("sqltenant: open %q: %w", p, fs.ErrNotExist)
	}
	return sn.open(ctx, t, p), nil
}

// Close ends the read transaction; later calls fail with ErrClosed.
// Closing twice is not an error.
func (s *Source) Close() error {
	s.mu.Lock()
	sn := s.snap
	s.snap, s.err = nil, ErrClosed
	s.mu.Unlock()
	if sn == nil {
		return nil
	}
	return sn.close()
}

// end ends sn once the metadata was produced: every table is read.
func (s *Source) end(sn *snapshot) {
	s.mu.Lock()
	if s.snap == sn {
		s.snap, s.err = nil, ErrClosed
	}
	s.mu.Unlock()
	_ = sn.close()
}

// snapshot returns the read transaction, beginning it the first time.
func (s *Source) snapshot(ctx context.Context) (*snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap != nil || s.err != nil {
		return s.snap, s.err
	}
	sn, err := beginSnapshot(ctx, s.db.d, &s.o, s.tenant)
	if err != nil {
		return nil, err
	}
	sn.done = func() { s.end(sn) }
	if s.preset != nil {
		sn.walked(s.preset)
	}
	s.snap = sn
	return sn, nil
}

// snapshot is a Source's read transaction and what it has read.
type snapshot struct {
	tx     readTx
	schema Schema
	tables []*tableRead // parents first
	byName map[string]*tableRead
	scans  sync.WaitGroup
	once   sync.Once
	err    error

	// unread holds the paths the walk yielded (and the metadata file)
	// that no Open has read to the end yet; once empty, done ends the
	// snapshot.
	mu     sync.Mutex
	unread map[string]bool
	done   func()
}

// walked records the paths a walk yields, which the snapshot waits to
// have read before it ends itself. Only the first walk counts.
func (sn *snapshot) walked(paths []string) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.unread != nil {
		return
	}
	sn.unread = map[string]bool{SchemaPath: true}
	for _, p := range paths {
		sn.unread[p] = true
	}
}

// readOne records that an Open of p was read to its end (or failed); the
// last one ends the snapshot, from another goroutine (ending waits for
// the scans, this one's among them).
func (sn *snapshot) readOne(p string) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.unread == nil || !sn.unread[p] {
		return
	}
	delete(sn.unread, p)
	if len(sn.unread) == 0 && sn.done != nil {
		go sn.done()
	}
}

// tableRead is one table of a snapshot and its first complete read.
type tableRead struct {
	tenantTable
	mu      sync.Mutex
	started bool
	done    chan struct{} // closed when the first read ends
	err     error
}

func beginSnapshot(ctx context.Context, d dialect, o *Options, tenant string) (*snapshot, error) {
	tx, err := d.read(ctx)
	if err != nil {
		return nil, err
	}
	sn := &snapshot{tx: tx, byName: map[string]*tableRead{}}
	if err := sn.load(ctx, d, o, tenant); err != nil {
		_ = tx.close()
		return nil, err
	}
	return sn, nil
}

// load reads the catalog and fills the schema's engine part.
func (sn *snapshot) load(ctx context.Context, d dialect, o *Options, tenant string) error {
	v, err := sn.tx.engineVersion(ctx)
	if err != nil {
		return fmt.Errorf("sqltenant: engine version: %w", err)
	}
	tables, mig, err := tenantTables(ctx, d, sn.tx, o, tenant)
	if err != nil {
		return err
	}
	sn.schema = Schema{Format: FormatVersion, Engine: d.name(), EngineVersion: v, Layout: o.layout(), Tenant: tenant, Migrations: mig}
	for _, t := range tables {
		tr := &tableRead{tenantTable: t, done: make(chan struct{})}
		sn.tables = append(sn.tables, tr)
		sn.byName[t.Name] = tr
	}
	return nil
}

func (sn *snapshot) close() error {
	sn.once.Do(func() {
		sn.scans.Wait()
		sn.err = sn.tx.close()
	})
	return sn.err
}

// hasRows tells whether the tenant has a row in t.
func (sn *snapshot) hasRows(ctx context.Context, t *tableRead) (bool, error) {
	q := "SELECT 1 FROM " + quoteIdent(t.Name)
	if t.where != "" {
		q += " WHERE " + t.where
	}
	found := false
	err := sn.tx.query(ctx, q+" LIMIT 1", t.args, func([]value) error { found = true; return nil })
	if err != nil {
		return false, fmt.Errorf("sqltenant: read table %q: %w", t.Name, err)
	}
	return found, nil
}

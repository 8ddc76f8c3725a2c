package sqltenant

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
)

// MergeRule is how a restore.Merge restore treats a row whose key the
// tenant already holds. Rows missing from the target are inserted under
// every rule, and no row is ever deleted by a merge.
type MergeRule string

// Merge rules.
const (
	// MergeKeepNewer (the default) updates a row only when the backup's
	// is strictly newer by the table's timestamp column (see
	// Options.Timestamps); a table without one keeps every row.
	MergeKeepNewer MergeRule = "keep-newer"
	// MergeMissingOnly keeps every existing row.
	MergeMissingOnly MergeRule = "missing-only"
	// MergeOverwrite updates every existing row to the backup's values.
	MergeOverwrite MergeRule = "overwrite"
)

// Target restores one tenant's rows into a DB: a restore.Target and a
// restore.Committer. What a restore writes is spooled to temporary files
// (Options.SpoolDir) and applied by Commit in one transaction; see the
// package documentation for what each restore mode does. Walk and Open
// read the tenant's current rows as a Source does (only tables holding
// some, nothing when the tenant has none), so that a safety backup of
// the target works; they read in one transaction that Begin ends.
//
// A Target is for one restore at a time; its methods are safe for
// concurrent use (a restore writes tables in parallel). Close it when
// done: it ends a transaction a dry run's walk left open and removes
// spooled files.
type Target struct {
	db     *DB
	tenant string
	o      Options

	mu      sync.Mutex
	reader  *Source
	listed  []string // the paths the last Walk yielded
	mode    restore.Mode
	spools  map[string]*spool // by path
	removed map[string]bool   // tables a full restore empties of the tenant's rows
}

// spool is one file a restore wrote, on disk until Commit.
type spool struct {
	name string // temporary file
	sum  string // its hex SHA-256
}

// Target returns a Target for tenant's rows; the tenant ID and opts are
// checked before any I/O (nil opts: a database per tenant).
func (db *DB) Target(tenant string, opts *Options) (*Target, error) {
	if err := steward.ValidateTenant(tenant); err != nil {
		return nil, fmt.Errorf("sqltenant: %w", err)
	}
	t := &Target{db: db, tenant: tenant, mode: restore.Full, spools: map[string]*spool{}, removed: map[string]bool{}}
	if opts != nil {
		t.o = *opts
	}
	if err := t.o.check(); err != nil {
		return nil, err
	}
	switch t.o.Merge {
	case "", MergeKeepNewer, MergeMissingOnly, MergeOverwrite:
	default:
		return nil, fmt.Errorf("sqltenant: merge rule %q: use %q, %q or %q", t.o.Merge, MergeKeepNewer, MergeMissingOnly, MergeOverwrite)
	}
	return t, nil
}

// source returns the Source Open reads through, begun by the first Open
// after a Walk; it ends once the files that Walk listed are read.
func (t *Target) source() *Source {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reader == nil {
		t.reader = &Source{db: t.db, tenant: t.tenant, o: t.o, preset: t.listed}
	}
	return t.reader
}

// Walk yields the tables holding the tenant's rows and the metadata
// file, as a Source does; nothing when the tenant has no rows. It reads
// in a transaction of its own, ended when it returns: a dry run's walk
// holds no lock on the database afterwards.
func (t *Target) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	if err := t.endRead(); err != nil {
		return err
	}
	w := &Source{db: t.db, tenant: t.tenant, o: t.o, nonEmpty: true}
	defer w.Close()
	var listed []string
	err := w.Walk(ctx, func(e backup.Entry) error {
		if e.Path != SchemaPath {
			listed = append(listed, e.Path)
		}
		return fn(e)
	})
	if err == nil {
		t.mu.Lock()
		t.listed = listed
		t.mu.Unlock()
	}
	return err
}

// Open reads a table or the metadata file of the tenant's current rows
// (for a safety backup of the target), in one read transaction begun by
// the first Open after a Walk, which ends once every file the Walk
// listed and the metadata file are read, or at Begin, Abort or Close.
func (t *Target) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	return t.source().Open(ctx, p)
}

// endRead ends the read transaction of Walk and Open, if any.
func (t *Target) endRead() error {
	t.mu.Lock()
	r := t.reader
	t.reader = nil
	t.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.Close()
}

// module returns the table a path of a snapshot names ("" for the
// metadata file), or an error for any other path.
func module(p string) (string, error) {
	if p == SchemaPath {
		return "", nil
	}
	name, file, ok := strings.Cut(p, "/")
	if !ok || file != RowsFile {
		return "", fmt.Errorf("sqltenant: %q is not a table's rows file (<table>/%s) nor %s", p, RowsFile, SchemaPath)
	}
	if err := checkName("table", name); err != nil {
		return "", err
	}
	return name, nil
}

// checkPath refuses a path no snapshot holds: empty, absolute, with an
// empty, "." or ".." element, a backslash or a NUL.
func checkPath(p string) error {
	bad := p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00")
	for el := range strings.SplitSeq(p, "/") {
		bad = bad || el == "" || el == "." || el == ".."
	}
	if bad {
		return fmt.Errorf("sqltenant: path %q is not a relative path of a snapshot", p)
	}
	return nil
}

// Create spools a table's rows file or the metadata file; directories
// (the restore's marker among them) are accepted and ignored.
func (t *Target) Create(ctx context.Context, e backup.Entry) (io.WriteCloser, error) {
	if err := checkPath(e.Path); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if e.Mode.IsDir() {
		return nil, nil
	}
	if !e.Mode.IsRegular() {
		return nil, fmt.Errorf("sqltenant: %q is a %v, not a file", e.Path, e.Mode.Type())
	}
	if _, err := module(e.Path); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(t.o.SpoolDir, "steward-sqltenant-*")
	if err != nil {
		return nil, fmt.Errorf("sqltenant: spool %q: %w", e.Path, err)
	}
	return &spoolWriter{t: t, path: e.Path, f: f, h: sha256.New()}, nil
}

// spoolWriter writes one spooled file; Close hands it to the Target.
type spoolWriter struct {
	t    *Target
	path string
	f    *os.File
	h    hash.Hash
	done bool
}

func (w *spoolWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	return n, err
}

func (w *spoolWriter) Close() error {
	if w.done {
		return fmt.Errorf("sqltenant: %q already closed", w.path)
	}
	w.done = true
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("sqltenant: spool %q: %w", w.path, err)
	}
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	if old := w.t.spools[w.path]; old != nil {
		os.Remove(old.name)
	}
	w.t.spools[w.path] = &spool{name: w.f.Name(), sum: hexSum(w.h)}
	return nil
}

// Abort discards what was written.
func (w *spoolWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}

// Remove marks a table ("<table>" or "<table>/rows") whose tenant rows
// the restore's Commit deletes: a full restore removes what the snapshot
// lacks. Paths of the restore's marker are ignored.
func (t *Target) Remove(ctx context.Context, p string) error {
	if err := checkPath(p); err != nil {
		return err
	}
	if p == restore.MarkerDir || strings.HasPrefix(p, restore.MarkerDir+"/") {
		return nil
	}
	name, file, _ := strings.Cut(p, "/")
	if file != "" && file != RowsFile {
		return fmt.Errorf("sqltenant: remove %q: %w", p, fs.ErrNotExist)
	}
	if name == SchemaModule {
		return nil // the metadata is not rows
	}
	if err := checkName("table", name); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removed[name] = true
	return nil
}

// Begin starts a restore: it ends the read transaction of Walk and Open
// (a safety backup's), forgets what an earlier restore left, and records
// the mode.
func (t *Target) Begin(ctx context.Context, p *restore.Plan) error {
	if err := t.endRead(); err != nil {
		return err
	}
	t.discard()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mode = p.Mode
	return nil
}

// Abort discards what the restore wrote; the database was not changed.
func (t *Target) Abort(ctx context.Context) error {
	t.discard()
	return t.endRead()
}

// Close ends any read transaction and removes spooled files.
func (t *Target) Close() error { return t.Abort(context.Background()) }

// discard removes the spooled files and forgets removals.
func (t *Target) discard() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, s := range t.spools {
		os.Remove(s.name)
		delete(t.spools, p)
	}
	clear(t.removed)
}

var _ restore.Committer = (*Target)(nil)

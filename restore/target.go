package restore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/snapshot"
)

// Target is where a restore writes: a Source that can also create and
// remove entries.
//
// Create returns a writer for a regular file (or nil for a directory, which
// Create makes at once). The file must appear under its final name only
// when Close succeeds, with e's mode and mtime; a writer that also
// implements Aborter is aborted instead of closed when the restore fails, and
// must then leave nothing under the final name. A symbolic link
// (e.Mode with fs.ModeSymlink) is created the same way, with no bytes
// written: its writer's Close creates the link to e.LinkTarget, verbatim.
// Remove deletes a file or a directory with everything under it. Paths are
// those of backup.Entry. Create writes every file it is given, a hard
// link's later path (e.HardLinkTo set) too, as a copy: a Target that can
// link them is one the restore knows (DirTarget), and others get copies.
type Target interface {
	backup.Source
	Create(ctx context.Context, e backup.Entry) (io.WriteCloser, error)
	Remove(ctx context.Context, path string) error
}

// Aborter is implemented by writers that can discard what was written.
type Aborter interface {
	Abort() error
}

// DirTarget restores into the directory root (created by the first write if
// missing; Walk and Open create nothing). Every
// operation goes through an os.Root, so no path — not "..", not an absolute
// path, not a symbolic link planted in the tree — can reach outside root.
// Files are written to a temporary name in their directory and renamed into
// place on Close.
//
// Symbolic links are restored as links, their targets verbatim, even a
// target outside root: the link is created, never followed. Nothing is
// written below a link either: creating an entry whose path passes
// through a symbolic link (one restored earlier, or one the target held)
// fails instead of writing where the link points, inside root or not.
// Directories get their modes and mtimes after everything below them is
// written (the restore's last pass, deepest first). A symbolic link's own
// mtime is not restored. Walk reports links as links, with their targets,
// and never enters them.
//
// Hard links come back as links when the restore writes both paths: a
// file whose backup.Entry.HardLinkTo names a file the same restore
// writes is linked to it (os.Root.Link, inside root) once that file is
// complete. When the first path is not restored (a selective restore
// without its module, a merge or a rerun that leaves it in place) or the
// link fails (a file system without hard links), the file is written as a
// copy from its own content.
func DirTarget(root string) Target { return &dirTarget{root: root} }

type dirTarget struct {
	root string
	once sync.Once
	r    *os.Root
	err  error

	// Open directories, so that creating, timing and renaming a file is
	// one system call on its name instead of a walk from the root for
	// each. At most maxDirRoots unused ones stay open. A directory removed
	// behind our back only costs a retry: creating a file in it fails with
	// "not exist", and it is made and opened again.
	mu    sync.Mutex
	roots map[string]*dirRoot
	tick  uint64
	top   *dirRoot // the root itself, as a dirRoot (set with r)
}

// maxDirRoots bounds the directories a DirTarget keeps open while unused:
// 64 descriptors, counting two a directory where the fast path may hold
// the directory itself open beside its os.Root.
const maxDirRoots = 64 / fdsPerDir

// dirRoot is an open directory of the target.
type dirRoot struct {
	// mu serializes changes to the directory's entries (create, rename,
	// remove). Creates in one directory from many goroutines contend on the
	// kernel's lock of that directory, whose waiters spin on a CPU: a file
	// created by 8 writers at once cost 300 µs of CPU instead of 40.
	mu      sync.Mutex
	dir     *os.File // the directory itself, for the fast path (nil without it)
	top     bool     // the target's own root: never closed here
	refs    int      // writers using it
	used    uint64
	dropped bool // forgotten while in use: closed by the last release

	// The directory as an os.Root, for what the fast path does not do
	// (links, replacing a directory, cleaning up after a failure): set
	// at once without the fast path, opened on first use with it.
	rootMu sync.Mutex
	r      *os.Root
	base   *os.Root // the target's root, which r is opened from
	path   string   // the directory's path in base
}

// newDirRoot wraps the target's root r, opening the directory itself for
// the fast path (fastpath_linux.go) where there is one.
func newDirRoot(r *os.Root) *dirRoot {
	dr := &dirRoot{r: r, base: r, path: "."}
	if fastPath {
		if f, err := r.Open("."); err == nil {
			dr.dir = f
		}
	}
	return dr
}

// root returns the directory as an os.Root, opening it on first use.
func (dr *dirRoot) root() (*os.Root, error) {
	dr.rootMu.Lock()
	defer dr.rootMu.Unlock()
	if dr.r == nil {
		r, err := dr.base.OpenRoot(dr.path)
		if err != nil {
			return nil, errs.Errorf("restore", "open directory %q: %w", dr.path, err)
		}
		dr.r = r
	}
	return dr.r, nil
}

// close closes the directory's handles.
func (dr *dirRoot) close() {
	if dr.dir != nil {
		dr.dir.Close()
	}
	dr.rootMu.Lock()
	defer dr.rootMu.Unlock()
	if dr.r != nil {
		dr.r.Close()
	}
}

// acquire returns dir (made if missing) opened, with a reference that the
// caller gives back with release.
func (d *dirTarget) acquire(r *os.Root, dir string) (*dirRoot, error) {
	if dir == "." {
		return d.top, nil
	}
	d.mu.Lock()
	if dr := d.roots[dir]; dr != nil {
		dr.refs++
		d.tick++
		dr.used = d.tick
		d.mu.Unlock()
		return dr, nil
	}
	d.mu.Unlock()
	open := d.openDir
	if d.top.dir != nil {
		open = d.openDirFast
	}
	sub, err := open(r, dir)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tick++
	if dr := d.roots[dir]; dr != nil { // opened meanwhile by another writer
		sub.close()
		dr.refs++
		dr.used = d.tick
		return dr, nil
	}
	if d.roots == nil {
		d.roots = map[string]*dirRoot{}
	}
	dr := sub
	dr.refs, dr.used = 1, d.tick
	d.roots[dir] = dr
	d.evictLocked()
	return dr, nil
}

// openDir makes dir if missing and opens it as an os.Root, refusing a
// path through a symbolic link.
func (d *dirTarget) openDir(r *os.Root, dir string) (*dirRoot, error) {
	if err := noLinkOnPath(r, dir, true); err != nil {
		return nil, err
	}
	if err := r.MkdirAll(dir, 0o755); err != nil {
		return nil, errs.Errorf("restore", "create directory %q: %w", dir, err)
	}
	sub, err := r.OpenRoot(dir)
	if err != nil {
		return nil, errs.Errorf("restore", "open directory %q: %w", dir, err)
	}
	return &dirRoot{r: sub, base: r, path: dir}, nil
}

// openDirFast opens dir through its parent's descriptor (acquired, so
// kept open for its other children), making it when missing: one or two
// system calls instead of a walk from the root. A symbolic link or a file
// where the directory goes is refused (openDirAt).
func (d *dirTarget) openDirFast(r *os.Root, dir string) (*dirRoot, error) {
	parent, err := d.acquire(r, path.Dir(dir))
	if err != nil {
		return nil, err
	}
	defer d.release(parent)
	f, err := openDirAt(parent.dir, path.Base(dir))
	if errors.Is(err, errBelowLink) {
		return nil, errs.Errorf("restore", "%q lies below the symbolic link %q, which a restore does not write through: %w", dir, dir, errBelowLink)
	}
	if err != nil {
		return nil, errs.Errorf("restore", "open directory %q: %w", dir, err)
	}
	return &dirRoot{dir: f, base: r, path: dir}, nil
}

// release gives back a reference taken by acquire.
func (d *dirTarget) release(dr *dirRoot) {
	if dr.top {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	dr.refs--
	if dr.dropped && dr.refs == 0 {
		dr.close()
		return
	}
	d.evictLocked()
}

// evictLocked closes the least recently used unused directories beyond
// maxDirRoots.
func (d *dirTarget) evictLocked() {
	for len(d.roots) > maxDirRoots {
		var lruKey string
		var lru *dirRoot
		for k, dr := range d.roots {
			if dr.refs == 0 && (lru == nil || dr.used < lru.used) {
				lruKey, lru = k, dr
			}
		}
		if lru == nil {
			return // all in use: they are released later
		}
		delete(d.roots, lruKey)
		lru.close()
	}
}

// forget drops the open directories at p and under it (p was removed).
func (d *dirTarget) forget(p string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, dr := range d.roots {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(d.roots, k)
			if dr.refs == 0 {
				dr.close()
			} else {
				dr.dropped = true
			}
		}
	}
}

func (d *dirTarget) open() (*os.Root, error) {
	d.once.Do(func() {
		if err := os.MkdirAll(d.root, 0o755); err != nil {
			d.err = errs.Errorf("restore", "target directory %q: %w", d.root, err)
			return
		}
		d.r, d.err = os.OpenRoot(d.root)
		if d.err != nil {
			d.err = errs.Errorf("restore", "target directory %q: %w", d.root, d.err)
			return
		}
		d.top = newDirRoot(d.r)
		d.top.top = true
	})
	return d.r, d.err
}

// Walk yields nothing for a root that does not exist yet, and creates
// nothing: a dry run reads the target without writing.
func (d *dirTarget) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	if d.missing() {
		return nil
	}
	if _, err := d.open(); err != nil {
		return err
	}
	// DirSource walks without following links and reports them (and any
	// name the file system holds, UTF-8 or not) as they are.
	return backup.DirSource(d.root).Walk(ctx, func(e backup.Entry) error {
		if strings.HasPrefix(path.Base(e.Path), tmpPrefix) {
			return nil // a temporary file of an interrupted restore
		}
		return fn(e)
	})
}

// missing tells whether the root does not exist: Walk and Open then
// create nothing.
func (d *dirTarget) missing() bool {
	_, err := os.Lstat(d.root)
	return errors.Is(err, fs.ErrNotExist)
}

func (d *dirTarget) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	if d.missing() {
		return nil, errs.Errorf("restore", "open %q: %w", p, fs.ErrNotExist)
	}
	r, err := d.open()
	if err != nil {
		return nil, err
	}
	if err := snapshot.ValidatePath(p); err != nil {
		return nil, errs.Errorf("restore", "%w", err)
	}
	return r.Open(p)
}

const tmpPrefix = ".steward-restore-"

// tmpName returns a new temporary name for an entry being written.
func tmpName() string {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	return tmpPrefix + hex.EncodeToString(rnd[:])
}

// noLinkOnPath fails when dir (with self, dir itself too) or a directory
// above it is a symbolic link in r: an os.Root follows links that stay
// inside it, and a restore writes nothing through a link, not even one
// that leads to another place in the target. Names that do not exist yet
// end the check: MkdirAll makes them as directories.
func noLinkOnPath(r *os.Root, dir string, self bool) error {
	if dir == "." {
		return nil
	}
	for i := 0; i <= len(dir); i++ {
		if i < len(dir) && dir[i] != '/' {
			continue
		}
		if i == len(dir) && !self {
			break
		}
		fi, err := r.Lstat(dir[:i])
		if err != nil {
			return nil
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return errs.Errorf("restore", "%q lies below the symbolic link %q, which a restore does not write through: %w", dir, dir[:i], errBelowLink)
		}
	}
	return nil
}

// errBelowLink is the cause of a refusal to write below a symbolic link.
var errBelowLink = errors.New("path passes through a symbolic link")

func (d *dirTarget) Create(ctx context.Context, e backup.Entry) (io.WriteCloser, error) {
	r, err := d.open()
	if err != nil {
		return nil, err
	}
	if err := snapshot.ValidatePath(e.Path); err != nil {
		return nil, errs.Errorf("restore", "%w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if e.Mode.IsDir() && d.top.dir != nil {
		return nil, d.createDirFast(r, e)
	}
	if e.Mode.IsDir() {
		if err := noLinkOnPath(r, path.Dir(e.Path), true); err != nil {
			return nil, err
		}
		if err := r.MkdirAll(e.Path, 0o755); err != nil {
			return nil, errs.Errorf("restore", "create directory %q: %w", e.Path, err)
		}
		if perm := e.Mode.Perm(); perm != 0 {
			_ = r.Chmod(e.Path, perm|0o700)
		}
		return nil, nil
	}
	link := e.Mode&fs.ModeSymlink != 0
	if !e.Mode.IsRegular() && !link {
		return nil, fmt.Errorf("restore: %q has unsupported mode %v", e.Path, e.Mode)
	}
	if link && (e.LinkTarget == "" || strings.IndexByte(e.LinkTarget, 0) >= 0) {
		return nil, fmt.Errorf("restore: symbolic link %q has an invalid target %q", e.Path, e.LinkTarget)
	}
	dir, base := path.Dir(e.Path), path.Base(e.Path)
	dr, err := d.acquire(r, dir)
	if err != nil {
		return nil, err
	}
	tmp := tmpName()
	if link {
		// Created by Close, under the temporary name, then renamed.
		return &dirWriter{d: d, dr: dr, tmp: tmp, base: base, e: e}, nil
	}
	create := func(dr *dirRoot) (fileHandle, error) {
		dr.mu.Lock()
		defer dr.mu.Unlock()
		if dr.dir != nil {
			return createAt(dr.dir, tmp, filePerm(e.Mode))
		}
		f, err := dr.r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err // not a nil *os.File in a fileHandle
		}
		return f, nil
	}
	f, err := create(dr)
	if errors.Is(err, fs.ErrNotExist) && !dr.top {
		// The directory went away since this target opened it, and
		// perhaps directories above it that it was opened through:
		// forget every open directory of its module.
		module, _, _ := strings.Cut(dir, "/")
		d.forget(module)
		d.release(dr)
		if dr, err = d.acquire(r, dir); err != nil {
			return nil, err
		}
		f, err = create(dr)
	}
	if err != nil {
		d.release(dr)
		return nil, errs.Errorf("restore", "create %q: %w", e.Path, err)
	}
	return &dirWriter{d: d, dr: dr, f: f, tmp: tmp, base: base, e: e}, nil
}

// createDirFast makes the directory e.Path (if missing) through its
// parent's descriptor and lets its owner write in it until finishDir
// gives it its mode.
func (d *dirTarget) createDirFast(r *os.Root, e backup.Entry) error {
	dr, err := d.acquire(r, e.Path)
	if err != nil {
		return err
	}
	defer d.release(dr)
	if perm := e.Mode.Perm(); perm != 0 {
		_ = dr.dir.Chmod(perm | 0o700)
	}
	return nil
}

// fileHandle is a file being restored: an *os.File, or on the Linux fast
// path a bare descriptor.
type fileHandle interface {
	io.Writer
	Chmod(fs.FileMode) error
	Close() error
}

// dirWriter writes one file to a temporary name in its directory, or
// (f nil) creates one symbolic link there on Close.
type dirWriter struct {
	d         *dirTarget
	dr        *dirRoot
	f         fileHandle // nil for a symbolic link
	tmp, base string     // names in dr
	e         backup.Entry
	done      bool
}

func (w *dirWriter) Write(p []byte) (int, error) {
	if w.f == nil {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("restore: %q is a symbolic link: it holds no content", w.e.Path)
	}
	return w.f.Write(p)
}

// Close publishes the file under its final name with its mode and mtime.
func (w *dirWriter) Close() error {
	if w.done {
		return errors.New("restore: file already closed")
	}
	w.done = true
	defer w.d.release(w.dr)
	if w.f == nil {
		return w.closeLink()
	}
	// Mode through the open descriptor (on the fast path only when the
	// umask took bits from the mode the file was created with); the mtime
	// by name after Close (a write after it would move the mtime again).
	var err error
	if perm := filePerm(w.e.Mode); w.dr.dir == nil || needsChmod(perm) {
		err = w.f.Chmod(perm)
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		w.removeTmp()
		return errs.Errorf("restore", "write %q: %w", w.e.Path, err)
	}
	if err := w.chtimes(); err != nil {
		w.removeTmp()
		return errs.Errorf("restore", "set mtime of %q: %w", w.e.Path, err)
	}
	return w.publish()
}

// filePerm is the mode a restored regular file gets: its own, or 0644
// when it has none.
func filePerm(m fs.FileMode) fs.FileMode {
	if m.Perm() == 0 {
		return 0o644
	}
	return m.Perm()
}

// chtimes sets the temporary file's times to the entry's mtime.
func (w *dirWriter) chtimes() error {
	if w.dr.dir != nil {
		return chtimesAt(w.dr.dir, w.tmp, w.e.ModTime)
	}
	return w.dr.r.Chtimes(w.tmp, w.e.ModTime, w.e.ModTime)
}

// removeTmp removes the temporary name, after a failure.
func (w *dirWriter) removeTmp() error {
	if w.dr.dir != nil {
		return removeAt(w.dr.dir, w.tmp)
	}
	return w.dr.r.Remove(w.tmp)
}

// rename renames the temporary name to the final one.
func (w *dirWriter) rename() error {
	if w.dr.dir != nil {
		return renameAt(w.dr.dir, w.tmp, w.base)
	}
	return w.dr.r.Rename(w.tmp, w.base)
}

// closeLink creates the link under the temporary name and publishes it.
func (w *dirWriter) closeLink() error {
	r, err := w.dr.root()
	if err != nil {
		return err
	}
	w.dr.mu.Lock()
	err = r.Symlink(w.e.LinkTarget, w.tmp)
	w.dr.mu.Unlock()
	if err != nil {
		return errs.Errorf("restore", "create symbolic link %q: %w", w.e.Path, err)
	}
	return w.publish()
}

// publish renames the temporary name to the final one, replacing what is
// there (a file or link is replaced by the rename itself; a directory is
// removed first, as a full restore must).
func (w *dirWriter) publish() error {
	w.dr.mu.Lock()
	defer w.dr.mu.Unlock()
	err := w.rename()
	if err != nil {
		err = w.replaceDir(err)
	}
	if err != nil {
		_ = w.removeTmp()
		return errs.Errorf("restore", "rename into %q: %w", w.e.Path, err)
	}
	return nil
}

// replaceDir handles a rename into place that failed with err: when a
// directory is where the file goes, it removes it and renames again, as a
// full restore must (checked only on failure: one lookup less per file).
func (w *dirWriter) replaceDir(err error) error {
	r, rerr := w.dr.root()
	if rerr != nil {
		return err
	}
	if fi, serr := r.Lstat(w.base); serr == nil && fi.IsDir() {
		w.d.forget(w.e.Path)
		if err = r.RemoveAll(w.base); err == nil {
			err = r.Rename(w.tmp, w.base)
		}
	}
	return err
}

// link creates e.Path as a hard link to first (see linker): under a
// temporary name in e's directory, checked to be first's file, then
// renamed into place. Neither path may pass through a symbolic link, and
// first must be a regular file: nothing is linked through a link.
func (d *dirTarget) link(ctx context.Context, e backup.Entry, first string) error {
	r, err := d.open()
	if err != nil {
		return err
	}
	if err := errors.Join(snapshot.ValidatePath(e.Path), snapshot.ValidatePath(first)); err != nil {
		return errs.Errorf("restore", "%w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := path.Dir(e.Path)
	if err := errors.Join(noLinkOnPath(r, path.Dir(first), true), noLinkOnPath(r, dir, true)); err != nil {
		return err
	}
	want, err := r.Lstat(first)
	if err != nil {
		return errs.Errorf("restore", "hard link %q: %w", e.Path, err)
	}
	if !want.Mode().IsRegular() {
		return fmt.Errorf("restore: hard link %q to %q: that is a %s, not a file", e.Path, first, kind(want.Mode()))
	}
	dr, err := d.acquire(r, dir)
	if err != nil {
		return err
	}
	defer d.release(dr)
	w := &dirWriter{d: d, dr: dr, tmp: tmpName(), base: path.Base(e.Path), e: e, done: true}
	dr.mu.Lock()
	err = r.Link(first, path.Join(dir, w.tmp))
	dr.mu.Unlock()
	if err != nil {
		return errs.Errorf("restore", "hard link %q to %q: %w", e.Path, first, err)
	}
	dirRoot, err := dr.root()
	if err != nil {
		return err
	}
	if got, err := dirRoot.Lstat(w.tmp); err != nil || !os.SameFile(got, want) || got.Size() != e.Size {
		_ = dirRoot.Remove(w.tmp)
		return fmt.Errorf("restore: hard link %q to %q: %q changed while it was linked", e.Path, first, first)
	}
	return w.publish()
}

// Abort removes the temporary file; the final name is untouched.
func (w *dirWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	defer w.d.release(w.dr)
	if w.f == nil {
		return nil // a link is created by Close only
	}
	w.f.Close()
	return w.removeTmp()
}

func (d *dirTarget) Remove(ctx context.Context, p string) error {
	r, err := d.open()
	if err != nil {
		return err
	}
	if err := snapshot.ValidatePath(p); err != nil {
		return errs.Errorf("restore", "%w", err)
	}
	d.forget(p)
	if err := r.RemoveAll(p); err != nil {
		return errs.Errorf("restore", "remove %q: %w", p, err)
	}
	return nil
}

// MemoryTarget returns an empty in-memory Target (used by validations and
// tests). It is safe for concurrent use. Each path of a hard-linked file
// is a copy of its own.
func MemoryTarget() Target { return &memTarget{files: map[string]*memFile{}} }

type memFile struct {
	e    backup.Entry
	data []byte
}

type memTarget struct {
	mu    sync.Mutex
	files map[string]*memFile
}

func (m *memTarget) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	m.mu.Lock()
	entries := make([]backup.Entry, 0, len(m.files))
	for _, f := range m.files {
		entries = append(entries, f.e)
	}
	m.mu.Unlock()
	key := func(e backup.Entry) string {
		if e.Mode.IsDir() {
			return e.Path + "/"
		}
		return e.Path
	}
	slices.SortFunc(entries, func(a, b backup.Entry) int { return strings.Compare(key(a), key(b)) })
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (m *memTarget) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[p]
	if !ok || !f.e.Mode.IsRegular() {
		return nil, errs.Errorf("restore", "open %q: %w", p, fs.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(f.data)), nil
}

func (m *memTarget) Create(ctx context.Context, e backup.Entry) (io.WriteCloser, error) {
	if err := snapshot.ValidatePath(e.Path); err != nil {
		return nil, errs.Errorf("restore", "%w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.parentsLocked(e.Path)
	if e.Mode.IsDir() {
		if f, ok := m.files[e.Path]; ok && f.e.Mode.IsDir() {
			f.e.Mode, f.e.ModTime = e.Mode, e.ModTime
			return nil, nil
		}
		m.removeLocked(e.Path)
		m.files[e.Path] = &memFile{e: backup.Entry{Path: e.Path, Mode: e.Mode, ModTime: e.ModTime}}
		return nil, nil
	}
	return &memWriter{m: m, e: e}, nil
}

// parentsLocked makes the parents of p directories, as on a file system.
func (m *memTarget) parentsLocked(p string) {
	for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
		if f, ok := m.files[dir]; !ok || !f.e.Mode.IsDir() {
			if ok {
				delete(m.files, dir) // a file where a directory must be
			}
			m.files[dir] = &memFile{e: backup.Entry{Path: dir, Mode: fs.ModeDir | 0o755, ModTime: time.Time{}}}
		}
	}
}

type memWriter struct {
	m   *memTarget
	e   backup.Entry
	buf bytes.Buffer
}

func (w *memWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }

func (w *memWriter) Close() error {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	w.m.parentsLocked(w.e.Path) // again: one may have been removed since Create
	w.m.removeLocked(w.e.Path)
	e := w.e
	e.Size = int64(w.buf.Len())
	w.m.files[e.Path] = &memFile{e: e, data: w.buf.Bytes()}
	return nil
}

func (w *memWriter) Abort() error { w.buf.Reset(); return nil }

func (m *memTarget) Remove(ctx context.Context, p string) error {
	if err := snapshot.ValidatePath(p); err != nil {
		return errs.Errorf("restore", "%w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[p]; !ok {
		return errs.Errorf("restore", "remove %q: %w", p, fs.ErrNotExist)
	}
	m.removeLocked(p)
	return nil
}

// removeLocked removes p and, when p is a directory, everything under it
// (only a directory has entries under it: every entry's parents are
// directories, made by Create and Close).
func (m *memTarget) removeLocked(p string) {
	f, ok := m.files[p]
	delete(m.files, p)
	if !ok || !f.e.Mode.IsDir() {
		return
	}
	prefix := p + "/"
	for k := range m.files {
		if strings.HasPrefix(k, prefix) {
			delete(m.files, k)
		}
	}
}

var errNoTarget = errors.New("restore: target is nil")

// finishDir gives the directory e.Path its mode and mtime, once
// everything below it is written (see dirFinisher). A path that is no
// longer a directory (a link put there meanwhile) is left alone.
func (d *dirTarget) finishDir(ctx context.Context, e backup.Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := d.open()
	if err != nil {
		return err
	}
	if d.top.dir != nil && e.Path != "." {
		parent, err := d.acquire(r, path.Dir(e.Path))
		if err != nil {
			return nil // gone, or below a link put there meanwhile
		}
		defer d.release(parent)
		if err := finishDirAt(parent.dir, path.Base(e.Path), e.Mode.Perm(), e.ModTime); err != nil {
			return errs.Errorf("restore", "set mode and mtime of %q: %w", e.Path, err)
		}
		return nil
	}
	fi, err := r.Lstat(e.Path)
	if err != nil || !fi.IsDir() {
		return nil
	}
	if perm := e.Mode.Perm(); perm != 0 {
		if err := r.Chmod(e.Path, perm); err != nil {
			return errs.Errorf("restore", "set mode of %q: %w", e.Path, err)
		}
	}
	if !e.ModTime.IsZero() {
		if err := r.Chtimes(e.Path, e.ModTime, e.ModTime); err != nil {
			return errs.Errorf("restore", "set mtime of %q: %w", e.Path, err)
		}
	}
	return nil
}

package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/snapshot"
)

// ErrSourceChanged reports that an entry changed between the walk and the
// read: a file or directory was swapped for a symbolic link, or replaced
// by another file or directory. The link was not followed and nothing of
// the new object was read; the error names the path. Backing up again
// once the tree is quiet succeeds.
var ErrSourceChanged = errors.New("backup: source entry changed")

// DirSource reads the directory tree at root. It yields regular files,
// directories and symbolic links in lexical path order, and named pipes,
// sockets and devices as entries of their type (Size 0), which backups
// count and do not store. A symbolic link's entry carries its target, read
// from the link itself (Entry.LinkTarget). Paths are relative and
// slash-separated, and may be any name the file system allows (not only
// UTF-8).
//
// A regular file with more than one link (a hard link) is yielded at each
// of its paths, each with its own content to read; the second and later
// paths of the same file (device and inode) within one walk carry the
// first one in Entry.HardLinkTo, so that a restore can link them again.
// To know them, a walk keeps the first path of each file that has more
// than one link, and nothing for other files: its memory grows with the
// hard-linked files of the tree, not with the tree. Links are found on
// unix systems only (elsewhere every path is a separate file), and only
// within one DirSource: Modules does not link across its sources.
//
// Links are never followed, neither when a file is opened nor when a
// directory is entered nor when a link's target is read, so nothing
// outside root is read even if the tree changes during the backup. Each
// walk opens root once (os.OpenRoot) and
// reads through that handle; every directory entered and every file opened
// must be the one the walk saw (same type, device and inode). An entry
// swapped in the meantime, for a symbolic link or for another file or
// directory, fails with an error matching ErrSourceChanged that names it.
// A DirSource may be walked and opened concurrently.
func DirSource(root string) Source { return &dirSource{root: root} }

// FSSource reads an fs.FS (embed.FS, fstest.MapFS, os.DirFS, ...) with the
// same rules as DirSource for which entries it yields; a symbolic link's
// target is read with fs.ReadLink, and links are skipped in an fs.FS that
// cannot read them (one without fs.ReadLinkFS). Hard links are yielded
// as separate files (no Entry.HardLinkTo). An fs.FS opens by
// name and may follow links (os.DirFS does): use DirSource for a
// directory someone else can change during a backup.
func FSSource(fsys fs.FS) Source { return &fsSource{fsys: fsys} }

// walkItem is one entry of a directory listing.
type walkItem struct {
	p    string      // path from the source's root
	d    fs.DirEntry // set by fsSource
	info fs.FileInfo // set by dirSource: the walk's Lstat
	dir  bool
	link string // a symbolic link's target
}

// sortItems puts siblings in lexical order of their full paths. A
// directory's contents follow it directly and sort after it: it sorts as
// "path/". (fs.WalkDir's per-directory order is not lexical path order,
// since '/' does not sort before every name byte: "a/b" vs "a-b".)
func sortItems(items []walkItem) {
	key := func(it walkItem) string {
		if it.dir {
			return it.p + "/"
		}
		return it.p
	}
	slices.SortFunc(items, func(a, b walkItem) int { return strings.Compare(key(a), key(b)) })
}

func joinPath(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

type fsSource struct {
	fsys fs.FS
}

func (s *fsSource) Walk(ctx context.Context, fn func(Entry) error) error {
	return s.walkDir(ctx, ".", fn)
}

func (s *fsSource) walkDir(ctx context.Context, dir string, fn func(Entry) error) error {
	entries, err := fs.ReadDir(s.fsys, dir)
	if err != nil {
		err = errs.Errorf("backup", "read directory %q: %w", dir, err)
		if dir == "." {
			return err
		}
		return Skip(ctx, dir, err) // its subtree is left out
	}
	items := make([]walkItem, 0, len(entries))
	for _, d := range entries {
		items = append(items, walkItem{p: joinPath(dir, d.Name()), d: d, dir: d.IsDir()})
	}
	sortItems(items)
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := it.d.Type()
		info, err := it.d.Info()
		if err != nil {
			if err := Skip(ctx, it.p, errs.Errorf("backup", "stat %q: %w", it.p, err)); err != nil {
				return err
			}
			continue
		}
		e := entryOf(it.p, info, seen{})
		if t&fs.ModeSymlink != 0 {
			if _, ok := s.fsys.(fs.ReadLinkFS); !ok {
				continue
			}
			if e.LinkTarget, err = fs.ReadLink(s.fsys, it.p); err != nil {
				return errs.Errorf("backup", "read link %q: %w", it.p, err)
			}
		}
		if err := fn(e); err != nil {
			return err
		}
		if t.IsDir() {
			if err := s.walkDir(ctx, it.p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func entryOf(p string, info fs.FileInfo, sn seen) Entry {
	e := Entry{Path: p, Size: info.Size(), Mode: info.Mode(), ModTime: info.ModTime(), seen: sn}
	if !info.Mode().IsRegular() {
		e.Size = 0 // a directory's, link's or device's size is not content
	}
	return e
}

func (s *fsSource) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !fs.ValidPath(p) {
		return nil, fmt.Errorf("backup: open %q: invalid path", p)
	}
	f, err := s.fsys.Open(p)
	if err != nil {
		return nil, errs.Errorf("backup", "open %q: %w", p, err)
	}
	return f, nil
}

// entryOpener is implemented by Sources that check an entry against what
// their walk saw when it is opened (DirSource); Modules forwards it. The
// backup pipeline opens files through it when the Source has it.
type entryOpener interface {
	openEntry(ctx context.Context, e Entry) (io.ReadCloser, error)
}

// openEntry opens a regular file the walk of src reported.
func openEntry(ctx context.Context, src Source, e Entry) (io.ReadCloser, error) {
	if o, ok := src.(entryOpener); ok {
		return o.openEntry(ctx, e)
	}
	return src.Open(ctx, e.Path)
}

// Modules mounts each source under its module name: an entry "42.json" of
// the source m["users"] appears as "users/42.json", after a directory entry
// "users". Module names must be valid single path elements.
func Modules(m map[string]Source) Source {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return &modules{m: m, names: names}
}

type modules struct {
	m     map[string]Source
	names []string
}

func (ms *modules) Walk(ctx context.Context, fn func(Entry) error) error {
	for _, name := range ms.names {
		if name == "" || strings.ContainsAny(name, "/\\\x00") || name == "." || name == ".." {
			return fmt.Errorf("backup: module name %q is not a single path element", name)
		}
	}
	// Lexical order across modules: "a/..." sorts by "a/" against siblings.
	order := slices.Clone(ms.names)
	slices.SortFunc(order, func(a, b string) int { return strings.Compare(a+"/", b+"/") })
	for _, name := range order {
		if err := fn(Entry{Path: name, Mode: fs.ModeDir | 0o755}); err != nil {
			return err
		}
		err := ms.m[name].Walk(ctx, func(e Entry) error {
			e.Path = name + "/" + e.Path
			if e.HardLinkTo != "" {
				e.HardLinkTo = name + "/" + e.HardLinkTo
			}
			return fn(e)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (ms *modules) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	src, rest, err := ms.lookup(p)
	if err != nil {
		return nil, err
	}
	return src.Open(ctx, rest)
}

func (ms *modules) openEntry(ctx context.Context, e Entry) (io.ReadCloser, error) {
	src, rest, err := ms.lookup(e.Path)
	if err != nil {
		return nil, err
	}
	e.Path = rest
	return openEntry(ctx, src, e)
}

// lookup returns the source of module path p and the path within it.
func (ms *modules) lookup(p string) (Source, string, error) {
	name, rest, ok := strings.Cut(p, "/")
	src, found := ms.m[name]
	if !ok || !found {
		return nil, "", errs.Errorf("backup", "open %q: no such module: %w", p, fs.ErrNotExist)
	}
	return src, rest, nil
}

// seen is what DirSource's walk saw of an entry: the walk's handles on
// the root and on the entry's directory, through which the entry is
// opened, and the entry's Lstat, which the opened handle must match.
type seen struct {
	root *os.Root
	dir  *os.Root // closed once the walk has left the directory
	info fs.FileInfo
}

type dirSource struct {
	root string
}

// dirWalk is one walk of a dirSource.
type dirWalk struct {
	s    *dirSource
	root *os.Root
	// links maps each regular file seen with more than one link to the
	// first path it was seen at: one entry per hard-linked file.
	links map[fileKey]string
	// recent are the handles of the last directories left (see retire).
	recent []*os.Root
}

// fileKey names a file on its system: its device and inode.
type fileKey struct{ dev, ino uint64 }

// hardLinkTo returns the first path of this walk at which the regular
// file it (one with more than one link) was seen, or "" when it is seen
// for the first time (then recorded) or has one link.
func (w *dirWalk) hardLinkTo(it walkItem) string {
	if !it.info.Mode().IsRegular() {
		return ""
	}
	k, ok := hardLinkKey(it.info)
	if !ok {
		return ""
	}
	if first, ok := w.links[k]; ok {
		return first
	}
	if w.links == nil {
		w.links = map[fileKey]string{}
	}
	w.links[k] = it.p
	return ""
}

func (s *dirSource) Walk(ctx context.Context, fn func(Entry) error) error {
	// The entries carry root: the pipeline opens files while the walk
	// moves on and after it returns. It is one handle per walk, closed by
	// os.Root's finalizer once no entry refers to it. The directories
	// entered below it are closed soon after they are walked (retire): an
	// entry opens through its directory while that handle is open (one
	// openat), and through root by its whole path after.
	root, err := os.OpenRoot(s.root)
	if err != nil {
		return errs.Errorf("backup", "open %q: %w", s.root, err)
	}
	w := &dirWalk{s: s, root: root}
	defer w.closeRecent()
	return w.walkDir(ctx, root, ".", nil, fn)
}

// walkDir walks the directory dir, open as d; want is the walk's Lstat of
// it (nil for the root).
func (w *dirWalk) walkDir(ctx context.Context, d *os.Root, dir string, want fs.FileInfo, fn func(Entry) error) error {
	items, err := w.list(ctx, d, dir, want)
	if err != nil && want != nil {
		return Skip(ctx, dir, err) // its subtree is left out
	}
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := entryOf(it.p, it.info, seen{w.root, d, it.info})
		e.LinkTarget = it.link
		e.HardLinkTo = w.hardLinkTo(it)
		if err := fn(e); err != nil {
			return err
		}
		if it.dir {
			if err := w.enter(ctx, d, it, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// enter walks the subdirectory it of d, opened without following a link
// and checked to be the directory the walk saw.
func (w *dirWalk) enter(ctx context.Context, d *os.Root, it walkItem, fn func(Entry) error) error {
	name := path.Base(it.p)
	sub, err := d.OpenRoot(name)
	if err != nil {
		return Skip(ctx, it.p, w.s.openFailed(d, name, it.p, it.info, err))
	}
	defer w.retire(sub)
	return w.walkDir(ctx, sub, it.p, it.info, fn)
}

// recentDirs is how many directory handles a walk keeps open after
// leaving them: the pipeline's readers trail the walk by a few files, so
// a directory's last files are opened just after the walk moved on, and
// through a kept handle that is one openat instead of one per path
// element.
const recentDirs = 8

// retire keeps d open among the last recentDirs directories walked and
// closes the oldest beyond them.
func (w *dirWalk) retire(d *os.Root) {
	w.recent = append(w.recent, d)
	if len(w.recent) > recentDirs {
		w.recent[0].Close()
		w.recent = w.recent[1:]
	}
}

// closeRecent closes the directory handles the walk still keeps.
func (w *dirWalk) closeRecent() {
	for _, d := range w.recent {
		d.Close()
	}
	w.recent = nil
}

// list reads the directory d (dir from the root) in walk order, checking
// first that it is the directory the walk saw (want, unless nil). Each
// entry is stat'ed relative to d, never through a link (ReadDir of a
// file opened in an os.Root lstats each name at the directory's handle),
// and a link's target is read from the link at d (readlinkat).
func (w *dirWalk) list(ctx context.Context, d *os.Root, dir string, want fs.FileInfo) ([]walkItem, error) {
	f, err := d.Open(".")
	if err != nil {
		return nil, errs.Errorf("backup", "read directory %q: %w", w.s.show(dir), err)
	}
	defer f.Close()
	if err := w.s.check(f, dir, want); err != nil {
		return nil, err
	}
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, errs.Errorf("backup", "read directory %q: %w", w.s.show(dir), err)
	}
	items := make([]walkItem, 0, len(entries))
	for _, de := range entries {
		p := joinPath(dir, de.Name())
		info, err := de.Info()
		if err != nil {
			if err := Skip(ctx, p, errs.Errorf("backup", "stat %q: %w", w.s.show(p), err)); err != nil {
				return nil, err
			}
			continue
		}
		it := walkItem{p: p, info: info, dir: info.IsDir()}
		if info.Mode()&fs.ModeSymlink != 0 {
			if it.link, err = d.Readlink(de.Name()); err != nil {
				return nil, errs.Errorf("backup", "read link %q: %w", w.s.show(p), err)
			}
		}
		items = append(items, it)
	}
	sortItems(items)
	return items, nil
}

// check fails with ErrSourceChanged unless the open f is the file or
// directory the walk saw (want; nil skips the check).
func (s *dirSource) check(f *os.File, p string, want fs.FileInfo) error {
	if want == nil {
		return nil
	}
	got, err := f.Stat()
	if err != nil {
		return errs.Errorf("backup", "stat %q: %w", s.show(p), err)
	}
	if got.Mode().Type() != want.Mode().Type() || !os.SameFile(got, want) {
		return s.changed(p)
	}
	return nil
}

func (s *dirSource) changed(p string) error {
	return fmt.Errorf("%w: %q is no longer what the walk saw (it was swapped for a symbolic link or another file or directory) and was not followed; back up again once the tree stops changing", ErrSourceChanged, s.show(p))
}

// openFailed explains a failed open of rel (p from the source's root)
// in r: if rel or a directory on its way is now a link, or another file
// than want, the entry changed; otherwise the open's own error stands.
func (s *dirSource) openFailed(r *os.Root, rel, p string, want fs.FileInfo, err error) error {
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) && rel[i] != '/' {
			continue
		}
		fi, lerr := r.Lstat(rel[:i])
		if lerr != nil {
			break
		}
		if fi.Mode()&fs.ModeSymlink != 0 || (i == len(rel) && want != nil && !os.SameFile(fi, want)) {
			return s.changed(p)
		}
	}
	return errs.Errorf("backup", "open %q: %w", s.show(p), err)
}

func (s *dirSource) show(p string) string { return path.Join(s.root, p) }

func (s *dirSource) openEntry(ctx context.Context, e Entry) (io.ReadCloser, error) {
	if e.seen.root == nil {
		return s.Open(ctx, e.Path)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := snapshot.ValidatePath(e.Path); err != nil {
		return nil, errs.Errorf("backup", "open: %w", err)
	}
	if d := e.seen.dir; d != nil {
		// Any failure but a detected swap is tried again through the
		// root: the directory's handle may close meanwhile (the walk
		// retires it), and the root's whole path says why.
		rc, err := s.openIn(d, path.Base(e.Path), e.Path, e.seen.info)
		if err == nil || errors.Is(err, ErrSourceChanged) {
			return rc, err
		}
	}
	return s.openIn(e.seen.root, e.Path, e.Path, e.seen.info)
}

// openIn opens the regular file rel (p from the source's root) through
// r, checked against want.
func (s *dirSource) openIn(r *os.Root, rel, p string, want fs.FileInfo) (io.ReadCloser, error) {
	f, err := r.OpenFile(rel, openFlags, 0)
	if errors.Is(err, os.ErrClosed) {
		return nil, err
	}
	if err != nil {
		return nil, s.openFailed(r, rel, p, want, err)
	}
	if err := s.check(f, p, want); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Open opens p without a walk's record of it: it must be a regular file
// now, reached without following a link.
func (s *dirSource) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := snapshot.ValidatePath(p); err != nil {
		return nil, errs.Errorf("backup", "open: %w", err)
	}
	r, err := os.OpenRoot(s.root)
	if err != nil {
		return nil, errs.Errorf("backup", "open %q: %w", s.root, err)
	}
	defer r.Close() // files opened through r stay open
	want, err := r.Lstat(p)
	if err != nil {
		return nil, s.openFailed(r, p, p, nil, err)
	}
	if !want.Mode().IsRegular() {
		return nil, s.changed(p)
	}
	return s.openIn(r, p, p, want)
}

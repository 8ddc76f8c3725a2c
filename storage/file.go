package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// tmpPrefix marks the file adapter's temporary files; List hides them.
const tmpPrefix = ".steward-tmp-"

// fileKeyCheck refuses keys that fileblob would store under an escaped file
// name: the file adapter writes objects itself under the key's plain name, so
// both must agree. Such keys are rare (control characters, a literal "__0x",
// a directory segment ending in ".."); refusing them is safer than storing
// an object that Get could not find.
func fileKeyCheck(key string) error {
	bad := func(why string) error {
		return &Error{Op: "validate", Key: key, Err: fmt.Errorf("%w: %s; the file store cannot hold it, choose another key", ErrInvalidKey, why)}
	}
	for _, c := range key {
		if c < 0x20 || c == 0x7f {
			return bad("key contains a control character")
		}
	}
	if strings.Contains(key, "__0x") {
		return bad(`key contains "__0x"`)
	}
	if strings.Contains(key, "../") {
		return bad(`key has a directory segment ending in ".."`)
	}
	if isInternalKey(key) {
		return bad(`key's last segment starts with "` + tmpPrefix + `", which is reserved for temporary files`)
	}
	if strings.HasSuffix(key, attrsSuffix) {
		return bad(`key ends in "` + attrsSuffix + `"`)
	}
	return nil
}

// attrsSuffix is the suffix fileblob reserves for its attribute files.
const attrsSuffix = ".attrs"

// fileWrite writes key under dir through a temporary file in the same
// directory, which is fsynced and then moved into place. With create set the
// move is a hard link: link(2) fails with EEXIST when the name exists, so
// exactly one concurrent creator wins, even across processes. Otherwise it is
// a rename, which replaces the object atomically. Either way a reader never
// sees a partial object, and the directory is fsynced afterwards. A create
// of a name that exists already fails before anything is written or r is
// read.
func fileWrite(ctx context.Context, dir, key string, r io.Reader, create bool) (err error) {
	final := filepath.Join(dir, filepath.FromSlash(key))
	if create {
		// Taken already: link(2) would refuse it after the copy and
		// the fsync. A name that appears after this check is still
		// refused by the link.
		if _, err := os.Lstat(final); err == nil {
			return &Error{Op: "put", Key: key, Err: ErrExists}
		}
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return &Error{Op: "put", Key: key, Err: err}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(final), tmpPrefix+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return &Error{Op: "put", Key: key, Err: err}
	}
	defer os.Remove(tmp)
	if _, err := io.Copy(f, &ctxReader{ctx: ctx, r: r}); err != nil {
		f.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Error{Op: "put", Key: key, Err: err}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return &Error{Op: "put", Key: key, Err: err}
	}
	if err := f.Close(); err != nil {
		return &Error{Op: "put", Key: key, Err: err}
	}
	if !create {
		if err := os.Rename(tmp, final); err != nil {
			return &Error{Op: "put", Key: key, Err: err}
		}
		return syncDir(filepath.Dir(final), key)
	}
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &Error{Op: "put", Key: key, Err: ErrExists}
		}
		return &Error{Op: "put", Key: key, Err: err}
	}
	return syncDir(filepath.Dir(final), key)
}

// syncDir fsyncs a directory so a new name in it survives a crash of the
// machine, not only of the process. Filesystems that cannot sync a directory
// (EINVAL, EBADF on some platforms) are not an error: the link is already in
// place and visible to every process.
func syncDir(dir, key string) error {
	d, err := os.Open(dir)
	if err != nil {
		return &Error{Op: "put", Key: key, Err: err}
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.EBADF) {
		return &Error{Op: "put", Key: key, Err: err}
	}
	return nil
}

// ctxReader stops reading when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// fileList lists the keys under prefixes (sorted, none beginning with
// another, all in one directory) of the directory store dir, in the
// order a directory walk visits them (segment by segment, each segment
// lexically), as fileblob's listing does, but tolerates what other
// writers do meanwhile: a file removed between its directory being read
// and its examination (another process's temporary file moved into
// place, an object deleted) is skipped, not an error. fileblob's listing
// failed there, and a busy directory (an audit log written by several
// processes) failed every retry. Temporary files and fileblob's
// attribute files are never listed.
//
// The directory holding the prefixes' last segments is read once,
// unsorted, and only the names that begin with one of those segments are
// sorted and examined: a repository lists a few snapshot keys by their
// time prefixes in a directory of 10,000, which a whole walk (sorting,
// joining and cleaning every path) made cost as much as the backup it
// served. Without withInfo the ObjectInfos carry keys only, and a file
// the directory record calls regular is not stat'ed.
func fileList(ctx context.Context, dir string, prefixes []string, withInfo bool) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		base := prefixDir(prefixes[0])
		leaves := make([]string, len(prefixes))
		for i, p := range prefixes {
			leaves[i] = p[len(base):]
		}
		l := lister{ctx: ctx, dir: dir, withInfo: withInfo, yield: yield, stop: errors.New("stop")}
		entries, err := readDirPrefix(filepath.Join(dir, filepath.FromSlash(base)), leaves)
		for _, e := range entries {
			if err != nil {
				break
			}
			err = l.entry(base+e.name, e.kind)
		}
		if err != nil && err != l.stop {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			yield(ObjectInfo{}, &Error{Op: "list", Key: prefixes[0], Err: err})
		}
	}
}

// prefixDir returns prefix up to and including its last "/".
func prefixDir(prefix string) string {
	return prefix[:strings.LastIndexByte(prefix, '/')+1]
}

// fileKeys yields the keys fileList yields for prefixes, stat'ing no
// file: the prefixes in one directory are listed with one read of it.
func fileKeys(ctx context.Context, dir string, prefixes []string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for len(prefixes) > 0 {
			n := 1
			for n < len(prefixes) && prefixDir(prefixes[n]) == prefixDir(prefixes[0]) {
				n++
			}
			for oi, err := range fileList(ctx, dir, prefixes[:n], false) {
				if !yield(oi.Key, err) || err != nil {
					return
				}
			}
			prefixes = prefixes[n:]
		}
	}
}

// lister carries one listing of a directory store.
type lister struct {
	ctx      context.Context
	dir      string
	withInfo bool
	yield    func(ObjectInfo, error) bool
	stop     error // returned when yield asks to stop
}

// entry lists key, whose directory record says it is of kind: a file is
// yielded, a directory walked.
func (l *lister) entry(key string, kind entryKind) error {
	if !l.withInfo && kind == kindFile {
		return l.yieldKey(key, nil)
	}
	p := filepath.Join(l.dir, filepath.FromSlash(key))
	if !l.withInfo && kind == kindDir {
		return l.walk(p)
	}
	info, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // removed since its directory was read
	case err != nil:
		return err
	case info.IsDir():
		return l.walk(p)
	}
	return l.yieldKey(key, info)
}

// yieldKey yields key when it is listable, with info's size and time
// when info is not nil.
func (l *lister) yieldKey(key string, info fs.FileInfo) error {
	if !listable(key) {
		return nil
	}
	if err := l.ctx.Err(); err != nil {
		return err
	}
	oi := ObjectInfo{Key: key}
	if info != nil {
		oi.Size, oi.ModTime = info.Size(), info.ModTime()
	}
	if !l.yield(oi, nil) {
		return l.stop
	}
	return nil
}

// entryKind is what a directory record says an entry is.
type entryKind uint8

const (
	kindUnknown entryKind = iota // the filesystem did not say
	kindFile
	kindDir
	kindOther // a symbolic link, a device, a socket...
)

// dirEntry is one name of a directory and its kind.
type dirEntry struct {
	name string
	kind entryKind
}

// readDirPrefix returns the entries of directory p whose names begin with
// one of leaves, sorted by name; a missing directory has none.
func readDirPrefix(p string, leaves []string) ([]dirEntry, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.IsDir() {
		return nil, err // a file where a directory would be: nothing under it
	}
	out, err := readDirEntries(f, leaves)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b dirEntry) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// walk yields every listable file under root, a directory of the store,
// in walk order.
func (l *lister) walk(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a directory went away: nothing there
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(l.dir, p)
		key := filepath.ToSlash(rel)
		if !l.withInfo || !listable(key) {
			return l.yieldKey(key, nil)
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed since its directory was read
		}
		if err != nil {
			return err
		}
		return l.yieldKey(key, info)
	})
}

// listable reports whether key is an object, not a temporary or
// attribute file.
func listable(key string) bool {
	return !isInternalKey(key) && !strings.HasSuffix(key, attrsSuffix)
}

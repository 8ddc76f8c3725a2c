package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob" // mem:// URLs
	"gocloud.dev/gcerrors"

	"github.com/iluxsys/steward/internal/errs"
)

// Open opens the Store named by a gocloud.dev/blob URL: a directory,
// mem://, and s3://, gs:// or azblob:// when the host imports the drivers
// (see package storage/cloud). For directories, conditional create is made
// atomic across processes (see OpenDir).
//
// A directory is named by file:///abs/path (or file://localhost/abs/path),
// by a path relative to the working directory as file://./rel/path,
// file://../rel/path or file:rel/path, or by a plain path with no scheme
// ("/var/lib/steward", "./data", "data"). Any other host in a file URL
// ("file://data/x") is refused: it would otherwise name a path from the
// file-system root.
func Open(ctx context.Context, urlstr string) (Store, error) {
	u, err := url.Parse(urlstr)
	if err != nil {
		// The parser's message repeats the URL, which may hold a
		// password or a token: say what is wrong without it.
		return nil, &redactedError{msg: "storage: open: the store URL does not parse (not repeated here: it may hold credentials)", err: err}
	}
	if u.Scheme == "" {
		if urlstr == "" {
			return nil, fmt.Errorf("storage: open: the store URL is empty (use a directory path, file://, mem://, s3://, gs:// or azblob://)")
		}
		return OpenDir(urlstr)
	}
	if u.Scheme == "file" {
		return openFileURL(ctx, u)
	}
	b, err := blob.OpenBucket(ctx, urlstr)
	if err != nil {
		return nil, &redactedError{msg: fmt.Sprintf("storage: open %q: %s", redact(u), scrub(err.Error(), urlstr, u)), err: err}
	}
	return FromBucket(b), nil
}

// redact returns u without its user information, query and fragment, where
// credentials and tokens go (an opaque URL's whole body is hidden).
func redact(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment, c.RawFragment = "", "", ""
	c.User = nil
	if c.Opaque != "" {
		c.Opaque = "[redacted]"
	}
	return c.String()
}

// scrub removes from msg (a driver's error may quote the URL it was given,
// as given or re-encoded) the URL and its user information, query values,
// fragment and opaque body, in their plain, escaped and quoted forms. When
// a secret still shows, the driver's message is withheld altogether.
func scrub(msg, urlstr string, u *url.URL) string {
	msg = strings.ReplaceAll(msg, urlstr, redact(u))
	msg = strings.ReplaceAll(msg, u.String(), redact(u))
	secrets := []string{u.Opaque, u.Fragment, u.RawFragment, u.RawQuery}
	if u.User != nil {
		secrets = append(secrets, u.User.String(), u.User.Username())
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
		}
	}
	for _, vs := range u.Query() {
		secrets = append(secrets, vs...)
	}
	var forms []string
	for _, sec := range secrets {
		if len(sec) < 3 {
			continue // "1" or "ab" is no secret, and redacting it everywhere would garble the message
		}
		q := strconv.Quote(sec)
		forms = append(forms, sec, url.QueryEscape(sec), url.PathEscape(sec), q[1:len(q)-1])
	}
	// Longest first, so a secret containing another is removed whole.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	for _, f := range forms {
		msg = strings.ReplaceAll(msg, f, "[redacted]")
	}
	for _, f := range forms {
		if len(f) >= 4 && strings.Contains(msg, f) {
			return "the driver's message is withheld: it repeats credentials from the URL"
		}
	}
	return msg
}

// redactedError keeps the cause for errors.Is and errors.As but prints a
// message with no credentials in it.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// FromBucket adapts an open gocloud.dev/blob bucket. The Store owns the
// bucket: Close closes it.
func FromBucket(b *blob.Bucket) Store { return &bucketStore{b: b} }

// NewMemory returns an empty in-memory Store (gocloud's memblob). It is a
// real Store, used as the test fixture throughout the SDK.
func NewMemory() Store {
	b, _ := blob.OpenBucket(context.Background(), "mem://")
	return FromBucket(b)
}

// bucketStore is the Store over a gocloud.dev/blob bucket.
type bucketStore struct {
	b *blob.Bucket
	// create, when set, replaces the bucket's own conditional create
	// (used by the file:// adapter to make it atomic across processes).
	create func(ctx context.Context, key string, r io.Reader, opts *PutOptions) error
	// write, when set, replaces the bucket's own unconditional write (the
	// file:// adapter writes through its own hidden temporary files).
	write func(ctx context.Context, key string, r io.Reader, opts *PutOptions) error
	// checkKey, when set, refuses keys the backend cannot hold faithfully.
	checkKey func(key string) error
	// list, when set, replaces the bucket's own listing (the file://
	// adapter's tolerates files vanishing during the walk).
	list func(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
	// read, when set, replaces the bucket's own range reads (the file://
	// adapter reads the file itself).
	read func(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
	// keys, when set, lists keys alone (the file:// adapter's stats no
	// file and reads a directory once for all the prefixes in it).
	keys func(ctx context.Context, prefixes []string) iter.Seq2[string, error]
	// stage and putStaged, when set, make the store a Stager (the file://
	// adapter on Linux).
	stage     func(key string) (*os.File, error)
	putStaged func(ctx context.Context, key string, f *os.File, create bool) error
}

// validate checks key with ValidateKey and then the backend's own rule.
func (s *bucketStore) validate(key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if s.checkKey != nil {
		return s.checkKey(key)
	}
	return nil
}

func (s *bucketStore) Put(ctx context.Context, key string, r io.Reader, opts *PutOptions) error {
	if err := s.validate(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if opts != nil && opts.IfNotExist && s.create != nil {
		return s.create(ctx, key, r, opts)
	}
	if s.write != nil && (opts == nil || !opts.IfNotExist) {
		return s.write(ctx, key, r, opts)
	}
	return s.put(ctx, key, r, opts)
}

func (s *bucketStore) put(ctx context.Context, key string, r io.Reader, opts *PutOptions) error {
	wopts := &blob.WriterOptions{ContentType: "application/octet-stream"}
	if opts != nil {
		wopts.IfNotExist = opts.IfNotExist
		if opts.ContentType != "" {
			wopts.ContentType = opts.ContentType
		}
	}
	// A write is aborted when its context is cancelled before Close, so a
	// failing reader never leaves a partial object.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.b.NewWriter(wctx, key, wopts)
	if err != nil {
		return s.wrap(ctx, "put", key, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		cancel()
		_ = w.Close()
		return s.wrap(ctx, "put", key, err)
	}
	if err := w.Close(); err != nil {
		return s.wrap(ctx, "put", key, err)
	}
	return nil
}

func (s *bucketStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.GetRange(ctx, key, 0, -1)
}

func (s *bucketStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := s.validate(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, &Error{Op: "get", Key: key, Err: fmt.Errorf("negative offset %d", off)}
	}
	if s.read != nil {
		return s.read(ctx, key, off, n)
	}
	r, err := s.b.NewRangeReader(ctx, key, off, n, nil)
	if err != nil {
		return nil, s.wrap(ctx, "get", key, err)
	}
	return &reader{r: r, s: s, ctx: ctx, key: key}, nil
}

// reader translates errors met while reading.
type reader struct {
	r   *blob.Reader
	s   *bucketStore
	ctx context.Context
	key string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = r.s.wrap(r.ctx, "read", r.key, err)
	}
	return n, err
}

func (r *reader) Close() error { return r.r.Close() }

func (s *bucketStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := s.validate(key); err != nil {
		return ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, err
	}
	a, err := s.b.Attributes(ctx, key)
	if err != nil {
		return ObjectInfo{}, s.wrap(ctx, "stat", key, err)
	}
	return ObjectInfo{Key: key, Size: a.Size, ModTime: a.ModTime}, nil
}

func (s *bucketStore) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	if s.list != nil {
		return s.list(ctx, prefix)
	}
	return func(yield func(ObjectInfo, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		it := s.b.List(&blob.ListOptions{Prefix: prefix})
		for {
			obj, err := it.Next(ctx)
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(ObjectInfo{}, s.wrap(ctx, "list", prefix, err))
				return
			}
			if obj.IsDir || isInternalKey(obj.Key) {
				continue
			}
			if !yield(ObjectInfo{Key: obj.Key, Size: obj.Size, ModTime: obj.ModTime}, nil) {
				return
			}
		}
	}
}

// ListKeys implements KeyLister: a directory store stats no file and
// reads a directory once for all the prefixes in it.
func (s *bucketStore) ListKeys(ctx context.Context, prefixes ...string) iter.Seq2[string, error] {
	if s.keys != nil {
		return s.keys(ctx, prefixes)
	}
	return listEach(ctx, s.List, prefixes)
}

// isInternalKey hides the file adapter's temporary files from listings.
func isInternalKey(key string) bool {
	i := strings.LastIndexByte(key, '/')
	return strings.HasPrefix(key[i+1:], tmpPrefix)
}

func (s *bucketStore) Delete(ctx context.Context, key string) error {
	if err := s.validate(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.b.Delete(ctx, key); err != nil {
		return s.wrap(ctx, "delete", key, err)
	}
	return nil
}

func (s *bucketStore) Close() error {
	if err := s.b.Close(); err != nil {
		return errs.Errorf("storage", "close: %w", err)
	}
	return nil
}

// wrap translates a driver error into an *Error around one of the sentinels,
// keeping the driver's error reachable. Context errors pass through.
func (s *bucketStore) wrap(ctx context.Context, op, key string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var sentinel error
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		sentinel = ErrNotFound
	case gcerrors.FailedPrecondition, gcerrors.AlreadyExists:
		if op == "put" {
			sentinel = ErrExists
		}
	case gcerrors.PermissionDenied:
		sentinel = ErrPermission
	case gcerrors.InvalidArgument:
		sentinel = ErrInvalidKey
	}
	if sentinel != nil {
		return &Error{Op: op, Key: key, Err: &causeError{sentinel: sentinel, cause: err}}
	}
	return &Error{Op: op, Key: key, Err: err}
}

// causeError matches its sentinel and still unwraps to the driver's error.
type causeError struct {
	sentinel error
	cause    error
}

func (e *causeError) Error() string   { return e.sentinel.Error() + ": " + e.cause.Error() }
func (e *causeError) Unwrap() []error { return []error{e.sentinel, e.cause} }

// openFileURL opens a file:// URL with cross-process conditional create.
// OpenExisting opens the Store named by urlstr, as Open does, for reading:
// nothing is created (a directory that does not exist is an error matching
// ErrNotFound, naming it), and every write through the result fails with
// ErrPermission (see ReadOnly). Read-only tools use it so that a mistyped
// store path is reported instead of made.
func OpenExisting(ctx context.Context, urlstr string) (Store, error) {
	if dir, ok := localDir(urlstr); ok {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() {
			return nil, errs.Errorf("storage", "store directory %q does not exist: %w", dir, ErrNotFound)
		}
	}
	s, err := Open(ctx, urlstr)
	if err != nil {
		return nil, err
	}
	return ReadOnly(s), nil
}

// localDir returns the directory urlstr names when it names one (a plain
// path or a file URL of a form Open accepts).
func localDir(urlstr string) (string, bool) {
	u, err := url.Parse(urlstr)
	if err != nil || urlstr == "" {
		return "", false
	}
	switch u.Scheme {
	case "":
		dir, err := filepath.Abs(urlstr)
		return dir, err == nil
	case "file":
		dir, err := FileURLDir(urlstr)
		return dir, err == nil
	}
	return "", false
}

func openFileURL(ctx context.Context, u *url.URL) (Store, error) {
	dir, err := FileURLDir(u.String())
	if err != nil {
		return nil, err
	}
	return OpenDir(dir)
}

// FileURLDir returns the directory a file URL names (see Open for the
// forms), made absolute against the working directory, or an error that
// says which forms are meant.
func FileURLDir(urlstr string) (string, error) {
	u, err := url.Parse(urlstr)
	if err != nil || u.Scheme != "file" {
		return "", fmt.Errorf("storage: %q is not a file URL", redactString(urlstr))
	}
	var p string
	switch {
	case u.Opaque != "":
		p, err = url.PathUnescape(u.Opaque) // file:rel/path
	case u.Host == "" || u.Host == "localhost":
		p = u.Path
	case u.Host == "." || u.Host == "..":
		p = u.Host + u.Path
	default:
		return "", fmt.Errorf("storage: file URL %q names host %q: use file:///absolute/path, file://./relative/path or a plain path", redact(u), u.Host)
	}
	if err != nil || p == "" || p == "/" {
		return "", fmt.Errorf("storage: file URL %q names no directory", redact(u))
	}
	return filepath.Abs(filepath.FromSlash(p))
}

// redactString is redact for a URL that may not parse.
func redactString(s string) string {
	if u, err := url.Parse(s); err == nil {
		return redact(u)
	}
	return "(a URL that does not parse)"
}

// OpenDir opens a directory as a Store (creating it if needed). Conditional
// create is atomic across processes: the object is written to a temporary
// file and hard-linked into place, which fails when the name exists. Plain
// puts are written the same way and renamed into place, so a reader never
// sees a partial object and listings never show a temporary file. Keys the
// directory cannot hold under their own name (control characters, "__0x",
// a segment other than the last ending in "..") are refused with
// ErrInvalidKey.
func OpenDir(dir string) (Store, error) {
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{CreateDir: true, NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
	if err != nil {
		return nil, errs.Errorf("storage", "open directory %q: %w", dir, err)
	}
	s := &bucketStore{b: b}
	s.create = func(ctx context.Context, key string, r io.Reader, opts *PutOptions) error {
		return fileWrite(ctx, dir, key, r, true)
	}
	s.write = func(ctx context.Context, key string, r io.Reader, opts *PutOptions) error {
		return fileWrite(ctx, dir, key, r, false)
	}
	s.checkKey = fileKeyCheck
	s.list = func(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
		return fileList(ctx, dir, []string{prefix}, true)
	}
	s.keys = func(ctx context.Context, prefixes []string) iter.Seq2[string, error] {
		return fileKeys(ctx, dir, prefixes)
	}
	if stageFile != nil {
		s.stage = func(key string) (*os.File, error) { return stageFile(dir, key) }
		s.putStaged = func(ctx context.Context, key string, f *os.File, create bool) error {
			return putStagedFile(ctx, dir, key, f, create)
		}
	}
	if fileRange != nil {
		s.read = func(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
			return fileRange(ctx, dir, key, off, n)
		}
	}
	return s, nil
}

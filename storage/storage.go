package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"
)

// Store keeps objects under string keys. Keys are slash-separated relative
// paths ("tenants/acme/packs/ab/abcd…"); see ValidateKey.
//
// All methods are safe for concurrent use. Errors match ErrNotFound,
// ErrExists, ErrPermission or ErrInvalidKey with errors.Is where they apply;
// context cancellation is returned as the context's error.
type Store interface {
	// Put writes the object key with the bytes of r. The object appears
	// whole or not at all: when r fails or ctx is cancelled, nothing is
	// written. With opts.IfNotExist, Put fails with ErrExists when key
	// already exists, and of several concurrent creators exactly one wins.
	Put(ctx context.Context, key string, r io.Reader, opts *PutOptions) error
	// Get opens the object for reading; ErrNotFound when it does not exist.
	// The caller closes the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// GetRange reads n bytes from offset off; n < 0 reads to the end.
	GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
	// Stat returns the object's size and modification time.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List yields every object whose key starts with prefix, in lexical key
	// order. Iteration stops at the first error, which is yielded.
	List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
	// Delete removes the object; ErrNotFound when it does not exist.
	Delete(ctx context.Context, key string) error
	// Close releases the Store's resources.
	Close() error
}

// KeyLister is a Store that lists keys without each object's size and
// time, which some backends learn only at a cost (a directory store stats
// each file for them), and lists several prefixes at once where that
// costs less than one listing each (a directory store reads a directory
// once for all the prefixes in it). ListKeys yields, keys only, what List
// would for each prefix in turn; the prefixes are sorted and none begins
// with another, so the keys come in key order. Wrappers of a Store should
// implement it by delegation.
type KeyLister interface {
	ListKeys(ctx context.Context, prefixes ...string) iter.Seq2[string, error]
}

// ListKeys yields the keys of the objects under the prefixes in s (sorted,
// none beginning with another), through s's own ListKeys when it is a
// KeyLister, else through List, one prefix after the other.
func ListKeys(ctx context.Context, s Store, prefixes ...string) iter.Seq2[string, error] {
	if kl, ok := s.(KeyLister); ok {
		return kl.ListKeys(ctx, prefixes...)
	}
	return listEach(ctx, s.List, prefixes)
}

// listEach yields the keys list yields for each prefix in turn.
func listEach(ctx context.Context, list func(context.Context, string) iter.Seq2[ObjectInfo, error], prefixes []string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for _, p := range prefixes {
			for oi, err := range list(ctx, p) {
				if !yield(oi.Key, err) || err != nil {
					return
				}
			}
		}
	}
}

// PutOptions changes how Put writes. A nil *PutOptions means defaults.
type PutOptions struct {
	// IfNotExist makes Put fail with ErrExists when the key exists.
	IfNotExist bool
	// ContentType is recorded with the object when the backend keeps it.
	ContentType string
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Sentinel errors. Errors returned by a Store wrap one of these (inside an
// *Error naming the key) when the condition applies.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrExists: a conditional create found the object already there.
	ErrExists = errors.New("object already exists")
	// ErrPermission: the store refused access; retrying will not help.
	ErrPermission = errors.New("permission denied by the store")
	// ErrInvalidKey: the key is empty, absolute or has '.'/'..' segments.
	ErrInvalidKey = errors.New("invalid object key")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("store is closed")
	// ErrTooLarge: ReadAllLimit met an object larger than its limit; at
	// most the limit plus one byte was read.
	ErrTooLarge = errors.New("object larger than its kind allows")
)

// Error is the error a Store returns: the operation, the key and the cause.
// errors.Is and errors.As reach the cause.
type Error struct {
	Op  string // "put", "get", "stat", "list", "delete", ...
	Key string
	Err error
}

// Error reads "storage: <op> <key>: <cause>".
func (e *Error) Error() string {
	return fmt.Sprintf("storage: %s %q: %v", e.Op, e.Key, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ValidateKey reports whether key is usable as an object key: not empty, no
// leading or trailing '/', no empty, '.' or '..' segments, no NUL bytes or
// backslashes. It does no I/O.
func ValidateKey(key string) error {
	bad := func(why string) error {
		return &Error{Op: "validate", Key: key, Err: fmt.Errorf("%w: %s", ErrInvalidKey, why)}
	}
	if key == "" {
		return bad("key is empty")
	}
	if strings.ContainsAny(key, "\x00\\") {
		return bad("key contains a NUL byte or a backslash")
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return bad("key has an empty segment or a leading or trailing '/'")
		case ".", "..":
			return bad("key has a '.' or '..' segment")
		}
	}
	return nil
}

// ReadAll reads the whole object key. It is meant for small objects
// (manifests, configs, log records); stream large ones with Get. Objects
// whose size a store writer could inflate are read with ReadAllLimit.
func ReadAll(ctx context.Context, s Store, key string) ([]byte, error) {
	return ReadAllLimit(ctx, s, key, -1)
}

// ReadAllLimit is ReadAll refusing an object of more than limit bytes
// (limit < 0: no limit) with an *Error matching ErrTooLarge, without
// reading or holding more than limit+1 bytes of it.
func ReadAllLimit(ctx context.Context, s Store, key string, limit int64) ([]byte, error) {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var r io.Reader = rc
	if limit >= 0 {
		r = io.LimitReader(rc, limit+1)
	}
	hint := int64(-1)
	if sz, ok := rc.(interface{ Size() int64 }); ok {
		hint = sz.Size()
		if limit >= 0 {
			hint = min(hint, limit+1)
		}
	}
	b, err := readAllHint(r, hint)
	if err != nil {
		return nil, &Error{Op: "get", Key: key, Err: err}
	}
	if limit >= 0 && int64(len(b)) > limit {
		return nil, &Error{Op: "get", Key: key, Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)}
	}
	return b, nil
}

// readAllHint is io.ReadAll into a buffer of hint bytes (its reader's
// size, when it tells: a directory store's and a bucket's readers do), so
// an object is read into one allocation instead of a doubling series of
// them, each cleared and, fresh from the system, faulted in. A wrong hint
// costs what io.ReadAll would. hint < 0: io.ReadAll.
func readAllHint(r io.Reader, hint int64) ([]byte, error) {
	if hint < 0 || hint > 1<<30 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, hint+1) // the read that finds EOF needs room
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// PutBytes writes b under key.
func PutBytes(ctx context.Context, s Store, key string, b []byte, opts *PutOptions) error {
	return s.Put(ctx, key, bytesReader(b), opts)
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

// sliceReader is a minimal bytes.Reader that also implements WriterTo.
type sliceReader struct{ b []byte }

// WriteTo writes the rest in one call, so writers that copy through a
// buffer (gocloud's blob.Writer allocates 1 MiB otherwise) need none.
func (r *sliceReader) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(r.b)
	r.b = r.b[n:]
	return int64(n), err
}

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// Unwrapper is implemented by Store decorators; Unwrap returns the wrapped Store.
type Unwrapper interface {
	Unwrap() Store
}

package storage

import (
	"context"
	"errors"
	"io"
	"iter"
	"math/rand/v2"
	"time"
)

// RetryOptions tune WithRetry. A nil *RetryOptions means defaults.
type RetryOptions struct {
	// Attempts is the most tries per operation, the first included (default 5).
	Attempts int
	// Base is the first backoff (default 50ms); each retry doubles it up
	// to Max (default 2s), with full jitter.
	Base, Max time.Duration
	// Sleep waits between attempts (default: a timer honouring ctx); tests
	// may replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// IsTransient reports whether err may succeed when retried: it is none of
// ErrNotFound, ErrExists, ErrPermission, ErrInvalidKey, ErrClosed, and not a
// context error.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	for _, final := range []error{ErrNotFound, ErrExists, ErrPermission, ErrInvalidKey, ErrClosed, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, final) {
			return false
		}
	}
	return true
}

// WithRetry returns a Store that retries transient failures of s with
// exponential backoff and jitter. Final errors (see IsTransient) are
// returned at once. Put is retried only when its reader can be replayed
// from the start (it implements io.Seeker, as bytes.Reader, strings.Reader
// and os.File do); a one-shot stream is tried once. Reads are retried when
// opening fails, not in the middle of a stream. The returned Store is safe
// for concurrent use and exposes Unwrap.
func WithRetry(s Store, opts *RetryOptions) Store {
	r := &retryStore{inner: s, attempts: 5, base: 50 * time.Millisecond, max: 2 * time.Second, sleep: sleepCtx}
	if opts != nil {
		if opts.Attempts > 0 {
			r.attempts = opts.Attempts
		}
		if opts.Base > 0 {
			r.base = opts.Base
		}
		if opts.Max > 0 {
			r.max = opts.Max
		}
		if opts.Sleep != nil {
			r.sleep = opts.Sleep
		}
	}
	return r
}

type retryStore struct {
	inner     Store
	attempts  int
	base, max time.Duration
	sleep     func(context.Context, time.Duration) error
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Unwrap returns the wrapped Store.
func (r *retryStore) Unwrap() Store { return r.inner }

func (r *retryStore) do(ctx context.Context, fn func() error) error {
	var err error
	for i := 0; i < r.attempts; i++ {
		if i > 0 {
			d := r.base << (i - 1)
			if d > r.max || d <= 0 {
				d = r.max
			}
			d = time.Duration(rand.Int64N(int64(d)) + 1) // full jitter
			if serr := r.sleep(ctx, d); serr != nil {
				return serr
			}
		}
		if err = fn(); !IsTransient(err) {
			return err
		}
	}
	return err
}

func (r *retryStore) Put(ctx context.Context, key string, rd io.Reader, opts *PutOptions) error {
	seeker, ok := rd.(io.Seeker)
	if !ok {
		if _, isSlice := rd.(*sliceReader); !isSlice {
			return r.inner.Put(ctx, key, rd, opts)
		}
	}
	var start int64
	if seeker != nil {
		var err error
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			return r.inner.Put(ctx, key, rd, opts)
		}
	}
	sr, _ := rd.(*sliceReader)
	var whole []byte
	if sr != nil {
		whole = sr.b
	}
	first := true
	return r.do(ctx, func() error {
		if !first {
			if seeker != nil {
				if _, err := seeker.Seek(start, io.SeekStart); err != nil {
					return &Error{Op: "put", Key: key, Err: err}
				}
			} else {
				sr.b = whole
			}
		}
		first = false
		// A conditional create whose first attempt succeeded but whose reply
		// was lost comes back as ErrExists; callers of IfNotExist verify the
		// content they care about (commit points re-read what they wrote).
		return r.inner.Put(ctx, key, rd, opts)
	})
}

func (r *retryStore) Get(ctx context.Context, key string) (rc io.ReadCloser, err error) {
	err = r.do(ctx, func() error {
		rc, err = r.inner.Get(ctx, key)
		return err
	})
	return rc, err
}

func (r *retryStore) GetRange(ctx context.Context, key string, off, n int64) (rc io.ReadCloser, err error) {
	err = r.do(ctx, func() error {
		rc, err = r.inner.GetRange(ctx, key, off, n)
		return err
	})
	return rc, err
}

func (r *retryStore) Stat(ctx context.Context, key string) (oi ObjectInfo, err error) {
	err = r.do(ctx, func() error {
		oi, err = r.inner.Stat(ctx, key)
		return err
	})
	return oi, err
}

// List retries a listing that fails before yielding anything; a failure in
// the middle of a listing is returned (restarting would repeat keys).
func (r *retryStore) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return retryListing(ctx, r, func() iter.Seq2[ObjectInfo, error] { return r.inner.List(ctx, prefix) })
}

// ListKeys retries as List does.
func (r *retryStore) ListKeys(ctx context.Context, prefixes ...string) iter.Seq2[string, error] {
	return retryListing(ctx, r, func() iter.Seq2[string, error] { return ListKeys(ctx, r.inner, prefixes...) })
}

// retryListing runs the listing list returns again while it fails
// transiently before yielding anything.
func retryListing[T any](ctx context.Context, r *retryStore, list func() iter.Seq2[T, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		var lastErr error
		for i := 0; i < r.attempts; i++ {
			if i > 0 {
				if err := r.sleep(ctx, r.base<<(i-1)); err != nil {
					yield(zero, err)
					return
				}
			}
			yielded := false
			lastErr = nil
			for v, err := range list() {
				if err != nil {
					if !yielded && IsTransient(err) {
						lastErr = err
						break
					}
					yield(zero, err)
					return
				}
				yielded = true
				if !yield(v, nil) {
					return
				}
			}
			if lastErr == nil {
				return
			}
		}
		yield(zero, lastErr)
	}
}

func (r *retryStore) Delete(ctx context.Context, key string) error {
	return r.do(ctx, func() error { return r.inner.Delete(ctx, key) })
}

func (r *retryStore) Close() error { return r.inner.Close() }

// ReadOnly returns a Store that refuses every write with an error matching
// ErrPermission; reads pass through to s.
func ReadOnly(s Store) Store { return readOnly{s} }

type readOnly struct{ Store }

func (r readOnly) Unwrap() Store { return r.Store }

func (r readOnly) Put(ctx context.Context, key string, _ io.Reader, _ *PutOptions) error {
	return &Error{Op: "put", Key: key, Err: errReadOnly}
}

func (r readOnly) Delete(ctx context.Context, key string) error {
	return &Error{Op: "delete", Key: key, Err: errReadOnly}
}

var errReadOnly = &causeError{sentinel: ErrPermission, cause: errors.New("store is read-only")}

// Package faultstore wraps a storage.Store and injects failures for tests:
// errors on chosen operations (every call, the N-th call, or at random with
// a seeded source), latency, short reads, corrupted reads, and a mode that
// silently ignores conditional create, as some S3-compatible servers do.
package faultstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iluxsys/steward/storage"
)

// Op names a Store operation.
type Op string

// Operations that faults can target.
const (
	OpPut      Op = "put"
	OpGet      Op = "get"
	OpGetRange Op = "getrange"
	OpStat     Op = "stat"
	OpList     Op = "list"
	OpDelete   Op = "delete"
)

// Ops lists every operation.
var Ops = []Op{OpPut, OpGet, OpGetRange, OpStat, OpList, OpDelete}

// ErrInjected is the transient error the store injects; it matches
// storage's retry rules as retryable (it is none of the final sentinels).
var ErrInjected = errors.New("faultstore: injected transient failure")

// ErrInjectedPermanent is the permanent error the store injects; it matches
// storage.ErrPermission, which retries treat as final.
var ErrInjectedPermanent = fmt.Errorf("faultstore: injected permanent failure: %w", storage.ErrPermission)

// Rule decides which calls fail.
type Rule struct {
	// Op is the operation; "" matches every operation.
	Op Op
	// KeyPrefix limits the rule to keys with this prefix ("" matches all).
	KeyPrefix string
	// Nth fails only the Nth matching call (1-based); 0 disables.
	Nth int64
	// FromNth fails every matching call from the Nth on; 0 disables.
	FromNth int64
	// Probability fails a matching call at random with this chance.
	Probability float64
	// Permanent injects ErrInjectedPermanent instead of ErrInjected.
	Permanent bool

	calls atomic.Int64
}

// Store is a fault-injecting storage.Store. Configure it before use; the
// methods are safe for concurrent use.
type Store struct {
	inner storage.Store

	mu    sync.Mutex
	rng   *rand.Rand
	rules []*Rule

	// Latency is added before every operation (or only before those in
	// LatencyOps, when set).
	Latency time.Duration
	// LatencyJitter adds a random extra delay in [0, LatencyJitter), drawn
	// from the seeded source, to each delayed operation.
	LatencyJitter time.Duration
	// LatencyOps limits Latency and LatencyJitter to these operations
	// (empty: every operation).
	LatencyOps []Op
	// ShortReads makes every Read return at most a few bytes (readers must
	// loop); it does not change the content.
	ShortReads bool
	// ShortReadOps limits ShortReads to these operations (OpGet and/or
	// OpGetRange; empty: both).
	ShortReadOps []Op
	// CorruptReads flips one byte of the content returned by Get/GetRange
	// for keys with CorruptPrefix ("" = every key).
	CorruptReads  bool
	CorruptPrefix string
	// IgnoreIfNotExist makes Put overwrite silently even with IfNotExist.
	IgnoreIfNotExist bool

	calls     [6]atomic.Int64
	injected  atomic.Int64
	bytesRead atomic.Int64
}

// New wraps inner. seed makes the random faults repeatable.
func New(inner storage.Store, seed uint64) *Store {
	return &Store{inner: inner, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// IgnoringConditional returns a Store that ignores PutOptions.IfNotExist and
// always overwrites, without an error: a store without conditional writes.
func IgnoringConditional(inner storage.Store) *Store {
	s := New(inner, 1)
	s.IgnoreIfNotExist = true
	return s
}

// AddRule adds a failure rule and returns it.
func (s *Store) AddRule(r *Rule) *Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, r)
	return r
}

// ClearRules removes every rule (the store then behaves like inner).
func (s *Store) ClearRules() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
}

// Unwrap returns the wrapped Store.
func (s *Store) Unwrap() storage.Store { return s.inner }

// Calls returns how many times op was called.
func (s *Store) Calls(op Op) int64 { return s.calls[opIndex(op)].Load() }

// Injected returns how many faults were injected.
func (s *Store) Injected() int64 { return s.injected.Load() }

// BytesRead returns the bytes Get and GetRange readers have returned.
func (s *Store) BytesRead() int64 { return s.bytesRead.Load() }

func opIndex(op Op) int {
	for i, o := range Ops {
		if o == op {
			return i
		}
	}
	return 0
}

// delay returns how long op waits before it runs.
func (s *Store) delay(op Op) time.Duration {
	if (s.Latency <= 0 && s.LatencyJitter <= 0) || !applies(s.LatencyOps, op) {
		return 0
	}
	d := s.Latency
	if s.LatencyJitter > 0 {
		s.mu.Lock()
		d += time.Duration(s.rng.Int64N(int64(s.LatencyJitter)))
		s.mu.Unlock()
	}
	return d
}

// applies reports whether a setting limited to ops (empty: all) covers op.
func applies(ops []Op, op Op) bool {
	if len(ops) == 0 {
		return true
	}
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

func (s *Store) before(ctx context.Context, op Op, key string) error {
	s.calls[opIndex(op)].Add(1)
	if d := s.delay(op); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rules {
		if r.Op != "" && r.Op != op {
			continue
		}
		if len(key) < len(r.KeyPrefix) || key[:len(r.KeyPrefix)] != r.KeyPrefix {
			continue
		}
		n := r.calls.Add(1)
		fail := (r.Nth > 0 && n == r.Nth) || (r.FromNth > 0 && n >= r.FromNth) ||
			(r.Probability > 0 && s.rng.Float64() < r.Probability)
		if fail {
			s.injected.Add(1)
			var err error = ErrInjected
			if r.Permanent {
				err = ErrInjectedPermanent
			}
			return &storage.Error{Op: string(op), Key: key, Err: err}
		}
	}
	return nil
}

// Put injects faults, then writes through (ignoring IfNotExist when asked).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts *storage.PutOptions) error {
	if err := s.before(ctx, OpPut, key); err != nil {
		return err
	}
	if s.IgnoreIfNotExist && opts != nil && opts.IfNotExist {
		o := *opts
		o.IfNotExist = false
		opts = &o
	}
	return s.inner.Put(ctx, key, r, opts)
}

// Get injects faults, then reads through.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := s.before(ctx, OpGet, key); err != nil {
		return nil, err
	}
	rc, err := s.inner.Get(ctx, key)
	return s.wrapReader(rc, OpGet, key, err)
}

// GetRange injects faults, then reads through.
func (s *Store) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := s.before(ctx, OpGetRange, key); err != nil {
		return nil, err
	}
	rc, err := s.inner.GetRange(ctx, key, off, n)
	return s.wrapReader(rc, OpGetRange, key, err)
}

func (s *Store) wrapReader(rc io.ReadCloser, op Op, key string, err error) (io.ReadCloser, error) {
	if err != nil {
		return nil, err
	}
	corrupt := s.CorruptReads && len(key) >= len(s.CorruptPrefix) && key[:len(s.CorruptPrefix)] == s.CorruptPrefix
	short := s.ShortReads && applies(s.ShortReadOps, op)
	return &faultReader{rc: rc, short: short, corrupt: corrupt, read: &s.bytesRead}, nil
}

type faultReader struct {
	rc      io.ReadCloser
	short   bool
	corrupt bool
	done    bool
	read    *atomic.Int64 // the Store's count of bytes read
}

func (f *faultReader) Read(p []byte) (int, error) {
	if f.short && len(p) > 7 {
		p = p[:7]
	}
	n, err := f.rc.Read(p)
	if f.corrupt && !f.done && n > 0 {
		p[0] ^= 0x40
		f.done = true
	}
	f.read.Add(int64(n))
	return n, err
}

func (f *faultReader) Close() error { return f.rc.Close() }

// Stat injects faults, then stats through.
func (s *Store) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if err := s.before(ctx, OpStat, key); err != nil {
		return storage.ObjectInfo{}, err
	}
	return s.inner.Stat(ctx, key)
}

// List injects faults at the start of the listing, then lists through.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) {
		if err := s.before(ctx, OpList, prefix); err != nil {
			yield(storage.ObjectInfo{}, err)
			return
		}
		for oi, err := range s.inner.List(ctx, prefix) {
			if !yield(oi, err) || err != nil {
				return
			}
		}
	}
}

// Delete injects faults, then deletes through.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.before(ctx, OpDelete, key); err != nil {
		return err
	}
	return s.inner.Delete(ctx, key)
}

// Close closes the wrapped Store.
func (s *Store) Close() error { return s.inner.Close() }

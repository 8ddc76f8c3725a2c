// Package storetest is the conformance suite every storage.Store passes:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storage.Store { return storage.NewMemory() }, nil)
//	}
//
// Each behaviour is a named subtest, so a failing store says which promise
// it breaks.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// Options tune the suite for a store's limits. A nil *Options runs everything.
type Options struct {
	// SkipConditionalRace skips the exactly-one-wins race, with the reason
	// given (for stores known not to honour conditional create).
	SkipConditionalRace string
	// LargeSize is the size of the streamed large object (default 64 MiB).
	LargeSize int64
	// ManyKeys is the number of keys in the listing test (default 1100).
	ManyKeys int
}

// Run runs the conformance suite; newStore returns a fresh, empty Store.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store, opts *Options) {
	if opts == nil {
		opts = &Options{}
	}
	if opts.LargeSize == 0 {
		opts.LargeSize = 64 << 20
	}
	if opts.ManyKeys == 0 {
		opts.ManyKeys = 1100
	}
	open := func(t *testing.T) storage.Store {
		s := newStore(t)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	for _, c := range []struct {
		name string
		fn   func(*testing.T, func(*testing.T) storage.Store, *Options)
	}{
		{"RoundTrip", testRoundTrip},
		{"NotFound", testNotFound},
		{"Exists", testExists},
		{"RangeReads", testRangeReads},
		{"PrefixListing", testPrefixListing},
		{"Delete", testDelete},
		{"LargeStreamed", testLargeStreamed},
		{"ConcurrentConditionalCreate", testConcurrentConditionalCreate},
		{"FailingReaderWritesNothing", testFailingReaderWritesNothing},
		{"InvalidKeys", testInvalidKeys},
		{"ContextCancellation", testContextCancellation},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open, opts) })
	}
}

func testRoundTrip(t *testing.T, open func(*testing.T) storage.Store, opts *Options) {
	ctx := context.Background()
	s := open(t)
	for _, size := range []int{0, 1, 4096, 1<<20 + 3} {
		key := fmt.Sprintf("rt/obj-%d", size)
		data := pseudoRandom(uint64(size), size)
		require.NoError(t, storage.PutBytes(ctx, s, key, data, nil))
		got, err := storage.ReadAll(ctx, s, key)
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, got), "size %d: content differs", size)
		info, err := s.Stat(ctx, key)
		require.NoError(t, err)
		require.Equal(t, int64(size), info.Size)
		require.Equal(t, key, info.Key)
	}
	// Overwrite without IfNotExist replaces.
	require.NoError(t, storage.PutBytes(ctx, s, "rt/obj-1", []byte("new"), nil))
	got, err := storage.ReadAll(ctx, s, "rt/obj-1")
	require.NoError(t, err)
	require.Equal(t, "new", string(got))
}

func testNotFound(t *testing.T, open func(*testing.T) storage.Store, opts *Options) {
	ctx := context.Background()
	s := open(t)
	_, err := s.Get(ctx, "missing/key")
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.Contains(t, err.Error(), "missing/key", "the error names the key")
	_, err = s.GetRange(ctx, "missing/key", 0, 10)
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.Stat(ctx, "missing/key")
	require.ErrorIs(t, err, storage.ErrNotFound)
	err = s.Delete(ctx, "missing/key")
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testExists(t *testing.T, open func(*testing.T) storage.Store, opts *Options) {
	ctx := context.Background()
	s := open(t)
	create := &storage.PutOptions{IfNotExist: true}
	require.NoError(t, storage.PutBytes(ctx, s, "ex/k", []byte("original"), create))
	err := storage.PutBytes(ctx, s, "ex/k", []byte("second"), create)
	require.ErrorIs(t, err, storage.ErrExists)
	require.Contains(t, err.Error(), "ex/k")
	got, err := storage.ReadAll(ctx, s, "ex/k")
	require.NoError(t, err)
	require.Equal(t, "original", string(got), "a refused create changes nothing")
}

func testRangeReads(t *testing.T, open func(*testing.T) storage.Store, opts *Options) {
	ctx := context.Background()
	s := open(t)
	data := pseudoRandom(7, 100_000)
	require.NoError(t, storage.PutBytes(ctx, s, "range/k", data, nil))
	cases := []struct {
		off, n int64
		want   []byte
	}{
		{0, 10, data[:10]},
		{5, 0, data[5:5]},
		{99_990, 10, data[99_990:]},
		{50_000, -1, data[50_000:]},
		{99_995, 100, data[99_995:]}, // past the end: what exists
		{0, -1, data},
	}
	for _, c := range cases {
		rc, err := s.GetRange(ctx, "range/k", c.off, c.n)
		require.NoError(t, err, "off %d n %d", c.off, c.n)
		got, err := io.ReadAll(rc)
		require.NoError(t, rc.Close())
		require.NoError(t, err)
		require.True(t, bytes.Equal(c.want, got), "off %d n %d: got %d bytes, want %d", c.off, c.n, len(got), len(c.want))
	}
	_, err := s.GetRange(ctx, "range/k", -1, 1)
	require.Error(t, err, "a negative offset is refused")
}

func testPrefixListing(t *testing.T, open func(*testing.T) storage.Store, opts *Options) {
	ctx := context.Background()
	s := open(t)
	var want []string
	for i := range opts.ManyKeys {
		k := fmt.Sprintf("list/a/%05d", (i*7919)%opts.ManyKeys) // written out of order
		require.NoError(t, storage.PutBytes(ctx, s, k, []byte{byte(i)}, nil))
		want = append(want, k)
	}
	for _, k := range []string{"list/b/x", "list/ab", "other/a/1"} {
		require.NoError(t, storage.PutBytes(ctx, s, k, []byte("x"), nil))
	}
	slices.Sort(want)
	var got []string
	for oi, err := range s.List(ctx, "list/a/") {
		require.NoError(t, err)
		require.Equal(t, int64(1), oi.Size)
		got = append(got, oi.Key)
	}
	require.Equal(t, want, got, "listing yields exactly the prefix's keys, in lexical order")

	n := 0
	for _, err := range s.List(ctx, "list/") {
		require.NoError(t, err)
		n++
		if n == 3 {
			break // stopping early must be fine
		}
	}
	require.Equal(t, 3, n)
	for _, err := range s.List(ctx, "nothing-here/") {
		require.NoError(t, err)
		t.Fatal("an empty prefix listing yields nothing")
	}

	// ListKeys (the store's own when it is a KeyLister) yields List's
	// keys, prefix after prefix.
	got = got[:0]
	for k, err := range storage.ListKeys(ctx, s, "list/a/", "list/ab", "list/b/", "nothing-here/") {
		require.NoError(t, err)
		got = append(got, k)
	}
	require.Equal(t, append(want, "list/ab", "list/b/x"), got, "ListKeys of several prefixes")
	n = 0
	for _, err := range storage.ListKeys(ctx, s, "list/") {
		require.NoError(t, err)
		n++
		if n == 3 {
			break // stopping early must be fine
		}
	}
	require.Equal(t, 3, n)
}

func testDelete(t *testing.T, open func(*testing.T) storage.Store, opts *Options) {
	ctx := context.Background()
	s := open(t)
	require.NoError(t, storage.PutBytes(ctx, s, "del/k", []byte("x"), nil))
	require.NoError(t, s.Delete(ctx, "del/k"))
	_, err := s.Stat(ctx, "del/k")
	require.ErrorIs(t, err, storage.ErrNotFound)
	// A deleted key can be created again conditionally.
	require.NoError(t, storage.PutBytes(ctx, s, "del/k", []byte("y"), &storage.PutOptions{IfNotExist: true}))
}

func testLargeStreamed(t *testing.T, open func(*testing.T) storage.Store, opts *Options) {
	ctx := context.Background()
	s := open(t)
	src := &genReader{n: opts.LargeSize, rng: rand.New(rand.NewPCG(9, 9))}
	h := sha256.New()
	require.NoError(t, s.Put(ctx, "large/obj", io.TeeReader(src, h), nil))
	want := h.Sum(nil)
	rc, err := s.Get(ctx, "large/obj")
	require.NoError(t, err)
	h2 := sha256.New()
	n, err := io.Copy(h2, rc)
	require.NoError(t, rc.Close())
	require.NoError(t, err)
	require.Equal(t, opts.LargeSize, n)
	require.Equal(t, want, h2.Sum(nil), "streamed content differs")
}

func testConcurrentConditionalCreate(t *testing.T, open func(*testing.T) storage.Store, opts *Options) {
	ctx := context.Background()
	if opts.SkipConditionalRace != "" {
		t.Skip(opts.SkipConditionalRace)
	}
	s := open(t)
	for round := range 5 {
		key := fmt.Sprintf("race/k%d", round)
		var wins, exists atomic.Int32
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := storage.PutBytes(ctx, s, key, []byte(fmt.Sprintf("writer-%02d", g)), &storage.PutOptions{IfNotExist: true})
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, storage.ErrExists):
					exists.Add(1)
				default:
					t.Errorf("writer %d: %v", g, err)
				}
			}()
		}
		wg.Wait()
		require.Equal(t, int32(1), wins.Load(), "exactly one creator wins")
		require.Equal(t, int32(15), exists.Load())
		got, err := storage.ReadAll(ctx, s, key)
		require.NoError(t, err)
		require.Regexp(t, `^writer-\d\d$`, string(got), "the winner's bytes are whole")
	}
}

func testFailingReaderWritesNothing(t *testing.T, open func(*testing.T) storage.Store, opts *Options) {
	ctx := context.Background()
	s := open(t)
	for _, cond := range []bool{false, true} {
		key := fmt.Sprintf("fail/k-%v", cond)
		r := io.MultiReader(bytes.NewReader(make([]byte, 1<<20)), errReader{})
		err := s.Put(ctx, key, r, &storage.PutOptions{IfNotExist: cond})
		require.Error(t, err)
		_, err = s.Stat(ctx, key)
		require.ErrorIs(t, err, storage.ErrNotFound, "IfNotExist=%v: a failed put leaves no object", cond)
	}
	for oi, err := range s.List(ctx, "fail/") {
		require.NoError(t, err)
		t.Fatalf("unexpected object %q after failed puts", oi.Key)
	}
}

func testInvalidKeys(t *testing.T, open func(*testing.T) storage.Store, opts *Options) {
	ctx := context.Background()
	s := open(t)
	for _, k := range []string{"", "/abs", "a//b", "a/../b", "..", "a/./b", "trailing/", "nul\x00", `back\slash`} {
		err := storage.PutBytes(ctx, s, k, []byte("x"), nil)
		require.ErrorIs(t, err, storage.ErrInvalidKey, "key %q", k)
		_, err = s.Get(ctx, k)
		require.ErrorIs(t, err, storage.ErrInvalidKey, "key %q", k)
	}
}

func testContextCancellation(t *testing.T, open func(*testing.T) storage.Store, opts *Options) {
	ctx := context.Background()
	s := open(t)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err := storage.PutBytes(cctx, s, "cancel/k", []byte("x"), nil)
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.Stat(ctx, "cancel/k")
	require.ErrorIs(t, err, storage.ErrNotFound, "a cancelled put writes nothing")
	require.NoError(t, storage.PutBytes(ctx, s, "cancel/k2", []byte("x"), nil))
	_, err = s.Get(cctx, "cancel/k2")
	require.ErrorIs(t, err, context.Canceled)
	for _, err := range s.List(cctx, "cancel/") {
		require.ErrorIs(t, err, context.Canceled)
	}
}

func pseudoRandom(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := &genReader{n: int64(n), rng: rand.New(rand.NewPCG(seed, 1))}
	_, _ = io.ReadFull(r, b)
	return b
}

// genReader yields n pseudo-random bytes without holding them.
type genReader struct {
	n   int64
	rng *rand.Rand
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.n {
		p = p[:g.n]
	}
	for i := range p {
		p[i] = byte(g.rng.Uint32())
	}
	g.n -= int64(len(p))
	return len(p), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) {
	return 0, errors.New("storetest: reader failed on purpose")
}

// Clone copies every object of src into a new memory store, so that tests
// can damage or fault a copy and keep the original.
func Clone(t testing.TB, src storage.Store) storage.Store {
	t.Helper()
	ctx := context.Background()
	dst := storage.NewMemory()
	for oi, err := range src.List(ctx, "") {
		if err != nil {
			t.Fatalf("storetest: list: %v", err)
		}
		b, err := storage.ReadAll(ctx, src, oi.Key)
		if err != nil {
			t.Fatalf("storetest: read %q: %v", oi.Key, err)
		}
		if err := storage.PutBytes(ctx, dst, oi.Key, b, nil); err != nil {
			t.Fatalf("storetest: write %q: %v", oi.Key, err)
		}
	}
	return dst
}

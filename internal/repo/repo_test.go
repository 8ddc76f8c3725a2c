package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

type testKeys struct{ secret byte }

func (k testKeys) KeyID() string { return "test" }
func (k testKeys) Wrap(_ context.Context, _ string, dk []byte) ([]byte, error) {
	out := append([]byte{k.secret}, dk...)
	for i := 1; i < len(out); i++ {
		out[i] ^= k.secret
	}
	return out, nil
}
func (k testKeys) Unwrap(_ context.Context, _ string, w []byte) ([]byte, error) {
	if len(w) == 0 || w[0] != k.secret {
		return nil, ErrWrongKey
	}
	out := append([]byte(nil), w[1:]...)
	for i := range out {
		out[i] ^= k.secret
	}
	return out, nil
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, enc := range []bool{false, true} {
		ctx := context.Background()
		store := storage.NewMemory()
		opts := Options{Create: true, Encrypt: enc, Keys: testKeys{7}, Scope: "t", Now: time.Now()}
		r, err := Open(ctx, store, "tenants/t/", opts)
		require.NoError(t, err)
		require.Equal(t, enc, r.Encrypted())
		chunks := [][]byte{bytes.Repeat([]byte("compressible "), 10000), randBytes(5, 300_000), []byte("tiny")}
		s := r.NewSaver(ctx, 2)
		var ids []ID
		for _, c := range chunks {
			id := r.ChunkID(c)
			ids = append(ids, id)
			isNew, err := s.Save(id, c, true)
			require.NoError(t, err)
			require.True(t, isNew)
			isNew, err = s.Save(id, c, true)
			require.NoError(t, err)
			require.False(t, isNew, "the same chunk is stored once")
		}
		require.NoError(t, s.Flush())
		require.Less(t, s.StoredBytes(), int64(len(chunks[1])+20_000), "compression took effect")

		// A fresh open sees the index written by Flush.
		r2, err := Open(ctx, store, "tenants/t/", opts)
		require.NoError(t, err)
		for i, id := range ids {
			got, err := r2.LoadChunk(ctx, id, nil)
			require.NoError(t, err)
			require.Equal(t, chunks[i], got)
		}
		if enc {
			_, err := Open(ctx, store, "tenants/t/", Options{Keys: testKeys{8}, Scope: "t"})
			require.ErrorIs(t, err, ErrWrongKey)
		}
	}
}

func TestLoadDetectsFlippedByte(t *testing.T) {
	for _, enc := range []bool{false, true} {
		ctx := context.Background()
		store := storage.NewMemory()
		r, err := Open(ctx, store, "p/", Options{Create: true, Encrypt: enc, Keys: testKeys{1}, Now: time.Now()})
		require.NoError(t, err)
		data := randBytes(9, 1000)
		id := r.ChunkID(data)
		s := r.NewSaver(ctx, 1)
		_, err = s.Save(id, data, false)
		require.NoError(t, err)
		require.NoError(t, s.Flush())
		_, packKey, ok := r.Lookup(id)
		require.True(t, ok)
		raw, err := storage.ReadAll(ctx, store, packKey)
		require.NoError(t, err)
		raw[100] ^= 1
		require.NoError(t, storage.PutBytes(ctx, store, packKey, raw, nil))
		_, err = r.LoadChunk(ctx, id, nil)
		require.ErrorIs(t, err, ErrCorrupt)
		var ce *CorruptError
		require.True(t, errors.As(err, &ce))
		require.Equal(t, packKey, ce.Key, "the error names the pack")
	}
}

func TestPackHeaderAndIndexRoundTrip(t *testing.T) {
	entries := []PackEntry{{ID: ID{1}, Flags: 3, Offset: 0, Length: 10, RawLength: 20}, {ID: ID{2}, Offset: 10, Length: 5, RawLength: 5}}
	got, err := DecodeHeader(encodeHeader(entries))
	require.NoError(t, err)
	require.Equal(t, entries, got)
	packs := []IndexPack{{Name: "0123456789abcdef0123456789abcdef", Entries: entries}, {Name: "fedcba9876543210fedcba9876543210", Entries: entries[:1]}}
	gotIdx, err := DecodeIndex(EncodeIndex(packs))
	require.NoError(t, err)
	require.Equal(t, packs, gotIdx)
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(encodeHeader([]PackEntry{{ID: ID{1}, Flags: 1, Offset: 1, Length: 2, RawLength: 3}}))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := DecodeHeader(b)
		if err != nil {
			return
		}
		again, err := DecodeHeader(encodeHeader(entries))
		require.NoError(t, err, "re-encoding a decoded header")
		require.Equal(t, entries, again, "a decoded header round-trips")
	})
}

func FuzzDecodeIndex(f *testing.F) {
	f.Add(EncodeIndex([]IndexPack{{Name: "0123456789abcdef0123456789abcdef", Entries: []PackEntry{{ID: ID{9}, Length: 4, RawLength: 4}}}}))
	f.Add([]byte("STWI1"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		packs, err := DecodeIndex(b)
		if err != nil {
			return
		}
		again, err := DecodeIndex(EncodeIndex(packs))
		require.NoError(t, err, "re-encoding a decoded index")
		require.Equal(t, packs, again, "a decoded index round-trips")
	})
}

// BenchmarkDecodeIndex decodes the index of BenchmarkBackupAfterHistory
// at 10,000 snapshots: 20,000 packs of two chunks each, which a new
// process reads before its first backup.
func BenchmarkDecodeIndex(b *testing.B) {
	packs := make([]IndexPack, 20000)
	for i := range packs {
		packs[i].Name = fmt.Sprintf("%032x", i)
		for j := range 2 {
			e := PackEntry{Offset: uint32(j * 3000), Length: 2990, RawLength: 3000 + uint32(i%7), Flags: FlagEncrypted}
			e.ID[0], e.ID[1], e.ID[2] = byte(i), byte(i>>8), byte(j)
			packs[i].Entries = append(packs[i].Entries, e)
		}
	}
	enc := EncodeIndex(packs)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeIndex(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func TestConcurrentCreateAdoptsOneKey(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	var wg sync.WaitGroup
	repos := make([]*Repo, 8)
	errs := make([]error, 8)
	for i := range repos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repos[i], errs[i] = Open(ctx, store, "t/", Options{Create: true, Encrypt: true, Keys: testKeys{3}, Now: time.Now()})
		}()
	}
	wg.Wait()
	for i := range repos {
		require.NoError(t, errs[i])
		require.Equal(t, repos[0].Config().ID, repos[i].Config().ID)
		data := []byte("same data key everywhere")
		require.Equal(t, repos[0].ChunkID(data), repos[i].ChunkID(data), "every creator uses the one key")
	}
}

func TestKeyWithoutConfigIsHealed(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	r, err := Open(ctx, store, "t/", Options{Create: true, Now: time.Now()})
	require.NoError(t, err)
	id := r.Config().ID
	require.NoError(t, store.Delete(ctx, "t/config")) // the creator died between key and config
	r2, err := Open(ctx, store, "t/", Options{Create: true, Now: time.Now()})
	require.NoError(t, err)
	require.Equal(t, id, r2.Config().ID)
	require.Equal(t, r.ChunkID([]byte("x")), r2.ChunkID([]byte("x")))
}

// TestSaveScratchNeverRegrows saves chunks of growing sizes up to MaxChunk,
// incompressible and encrypted (the largest compressed and sealed forms),
// and checks the session allocates far less than the chunks: each Save's
// one scratch buffer is sized for the largest chunk, compressed and sealed
// in place, and kept by the Saver, instead of being reallocated each time
// a larger chunk comes (about 40 MB of garbage on a 1 GiB backup, which let
// the heap grow to twice its live size).
func TestSaveScratchNeverRegrows(t *testing.T) {
	ctx := context.Background()
	// A directory store: a memory one would allocate the uploaded pack.
	store, err := storage.OpenDir(t.TempDir())
	require.NoError(t, err)
	r, err := Open(ctx, store, "tenants/t/", Options{Create: true, Encrypt: true, Keys: testKeys{7}, Scope: "t", Now: time.Now()})
	require.NoError(t, err)
	require.Equal(t, gcmNonceSize, r.k.aead.NonceSize())
	require.Equal(t, gcmTagSize, r.k.aead.Overhead())
	var chunks [][]byte
	for n := 64 << 10; n <= MaxChunk; n *= 2 {
		chunks = append(chunks, randBytes(uint64(n), n), randBytes(uint64(n+1), n))
	}
	chunks = append(chunks, randBytes(3, MaxChunk))
	s := r.NewSaver(ctx, 1)
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // the pool keeps its buffers
	_, err = s.Save(r.ChunkID([]byte("warm")), randBytes(9, MaxChunk), true)
	require.NoError(t, err)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	total := 0
	for _, c := range chunks {
		_, err := s.Save(r.ChunkID(c), c, true)
		require.NoError(t, err)
		total += len(c)
	}
	runtime.ReadMemStats(&after)
	require.Len(t, s.scratch, 1, "one Save at a time used one scratch buffer")
	require.Equal(t, s.scratchCap, cap(s.scratch[0]), "grown to the largest chunk by the warm-up, the buffer never grew again")
	require.NoError(t, s.Flush())
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("saved %d bytes in %d chunks, allocated %d bytes", total, len(chunks), allocated)
	if raceEnabled {
		return // sync.Pool drops pooled zstd encoders at random under -race
	}
	// Besides small things, the zstd encoder pool may make one encoder
	// (about 1.4 MB) when this goroutine runs on another P than the warm-up.
	require.Less(t, allocated, uint64(MaxChunk/2), "saving allocates no chunk-sized buffers")
}

// TestSmallSavesUseSmallScratch: a session that saves only small chunks
// (a tenant's configuration files) uses a minScratch buffer, not one sized
// for the largest chunk; a larger chunk later grows it to a power of two.
func TestSmallSavesUseSmallScratch(t *testing.T) {
	ctx := context.Background()
	r, err := Open(ctx, storage.NewMemory(), "tenants/t/", Options{Create: true, Encrypt: true, Keys: testKeys{7}, Scope: "t", Now: time.Now()})
	require.NoError(t, err)
	s := r.NewSaver(ctx, 1)
	for i := range 20 {
		c := randBytes(uint64(i), 1000+i*500)
		_, err := s.Save(r.ChunkID(c), c, true)
		require.NoError(t, err)
	}
	require.Len(t, s.scratch, 1)
	require.Equal(t, minScratch, cap(s.scratch[0]))
	big := randBytes(99, 300_000)
	_, err = s.Save(r.ChunkID(big), big, true)
	require.NoError(t, err)
	require.Equal(t, 512<<10, cap(s.scratch[0]), "grown to the next power of two")
	huge := randBytes(98, MaxChunk)
	_, err = s.Save(r.ChunkID(huge), huge, true)
	require.NoError(t, err)
	require.Equal(t, s.scratchCap, cap(s.scratch[0]), "at most scratchCap (a power of two would be 8 MiB)")
	e := r.codec().enc.Get().(*zstd.Encoder)
	defer r.codec().enc.Put(e)
	for _, n := range []int{0, 1, 64, 1000, 128 << 10, 300_000, AvgChunk, MaxChunk} {
		require.GreaterOrEqual(t, scratchNeed(n), sealedLen(e.MaxEncodedSize(n)), "room for %d bytes compressed and sealed", n)
	}
	require.NoError(t, s.Flush())
	for _, c := range [][]byte{big, huge} {
		got, err := r.LoadChunk(ctx, r.ChunkID(c), nil)
		require.NoError(t, err)
		require.Equal(t, c, got)
	}
}

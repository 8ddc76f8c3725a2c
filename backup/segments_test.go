package backup

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/internal/repo"
	"github.com/iluxsys/steward/storage"
)

func manyFiles(n int, changed func(i int) bool) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := range n {
		body := fmt.Sprintf("file %d", i)
		if changed != nil && changed(i) {
			body += " changed"
		}
		// Walk order is path order is i: changing every hundredth i
		// scatters the changes over the whole entry list.
		fsys[fmt.Sprintf("src/f%05d.txt", i)] = &fstest.MapFile{Data: []byte(body), Mode: 0o644}
	}
	return fsys
}

// TestScatteredChangesRewriteFewSegments: changing every hundredth of 4,000
// files rewrites the segments holding them and the segment list, not the
// whole entry list (format 1 rewrote all of it: every ~1 MiB chunk held a
// changed entry).
func TestScatteredChangesRewriteFewSegments(t *testing.T) {
	ctx := MasterContext()
	store := storage.NewMemory()
	e, err := New(store, &Config{Keys: PassphraseWithOptions("p", PassphraseOptions{Time: 1, MemoryKiB: 64})})
	require.NoError(t, err)
	const n = 4000
	first, err := e.Backup(ctx, "acme", FSSource(manyFiles(n, nil)), &Options{Type: Full, Encrypt: true})
	require.NoError(t, err)
	m, r, err := e.manifest(ctx, "acme", first.ID)
	require.NoError(t, err)
	require.Equal(t, 2, m.Format)
	segs, err := e.entryChunks(ctx, r, m)
	require.NoError(t, err)
	require.Greater(t, len(segs), n/segmentAvg/2, "about one segment per %d entries", segmentAvg)
	var listBytes int64
	for _, id := range segs {
		pid, err := repo.ParseID(id)
		require.NoError(t, err)
		loc, _, ok := r.Lookup(pid)
		require.True(t, ok)
		listBytes += int64(loc.Length)
	}
	// The segment-ID list is hex, one ID per line, with nothing for the
	// match finder: stored near its entropy (half its size), not as it is.
	for _, id := range m.Tree {
		pid, err := repo.ParseID(id)
		require.NoError(t, err)
		loc, _, ok := r.Lookup(pid)
		require.True(t, ok)
		require.NotZero(t, loc.Flags&repo.FlagCompressed, "segment-ID list chunk %s is stored compressed", id)
		require.Less(t, loc.Length, loc.RawLength*6/10, "segment-ID list chunk %s: %d bytes stored of %d", id, loc.Length, loc.RawLength)
	}

	before := StoredBytes(t, store)
	second, err := e.Backup(ctx, "acme", FSSource(manyFiles(n, func(i int) bool { return i%100 == 7 })), &Options{Encrypt: true})
	require.NoError(t, err)
	growth := StoredBytes(t, store) - before
	t.Logf("entry list %d bytes stored in %d segments; 40 scattered changes grew the store by %d bytes", listBytes, len(segs), growth)
	require.Less(t, growth, listBytes*2/3, "scattered changes rewrite a part of the entry list, not all of it")

	// Both snapshots read back whole.
	for _, id := range []string{first.ID, second.ID} {
		var got int
		for f, err := range e.Files(ctx, "acme", id) {
			require.NoError(t, err)
			if f.Mode.IsRegular() {
				got++
			}
		}
		require.Equal(t, n, got)
	}
}

// TestFormat1ManifestsStillRead: a manifest of format 1 lists the entry
// list's chunks in its Tree. One is made from a format 2 snapshot (its
// segments, concatenated, are such an entry list) and must list the same
// files, survive a prune and pass a check.
func TestFormat1ManifestsStillRead(t *testing.T) {
	ctx := MasterContext()
	store := storage.NewMemory()
	e, err := New(store, nil)
	require.NoError(t, err)
	snap, err := e.Backup(ctx, "acme", FSSource(manyFiles(300, nil)), &Options{Type: Full})
	require.NoError(t, err)
	m, r, err := e.manifest(ctx, "acme", snap.ID)
	require.NoError(t, err)
	segs, err := e.entryChunks(ctx, r, m)
	require.NoError(t, err)

	old := *m
	old.Format, old.Tree = 1, segs
	id, err := uuid.NewV7()
	require.NoError(t, err)
	old.ID = id.String()
	old.Checksums = map[string]string{}
	for k, v := range m.Checksums {
		old.Checksums[k] = v
	}
	old.Checksums["manifest"] = manifestChecksum(&old)
	b, err := json.Marshal(&old)
	require.NoError(t, err)
	require.NoError(t, r.SaveSnapshot(ctx, old.ID, b))
	// Only the format 1 snapshot is left to keep the segments alive.
	require.NoError(t, e.Forget(ctx, "acme", snap.ID))
	_, err = e.Prune(ctx, "acme", nil)
	require.NoError(t, err)

	fresh, err := New(store, nil)
	require.NoError(t, err)
	var paths []string
	for f, err := range fresh.Files(ctx, "acme", old.ID) {
		require.NoError(t, err)
		if f.Mode.IsRegular() {
			rc, err := fresh.OpenFile(ctx, "acme", f, nil)
			require.NoError(t, err)
			body, err := io.ReadAll(rc)
			rc.Close()
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(string(body), "file "))
			paths = append(paths, f.Path)
		}
	}
	require.Len(t, paths, 300)
	rep, err := fresh.Check(ctx, "acme", &CheckOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep.Problems)
}

// TestSegmentLongerThanAChunk: an entry line longer than a chunk may be
// (a file of tens of thousands of chunks) is saved as several chunks whose
// concatenation is the segment.
func TestSegmentLongerThanAChunk(t *testing.T) {
	var saved [][]byte
	var ids bytes.Buffer
	s := &segmenter{
		save:    func(_ repo.ID, b []byte) error { saved = append(saved, bytes.Clone(b)); return nil },
		chunkID: func(b []byte) repo.ID { return repo.ID{byte(len(saved))} },
		ids:     &ids,
	}
	s.enc = json.NewEncoder(&s.buf)
	l := fileLine{P: "data/huge.bin"}
	for i := range 70_000 {
		l.C = append(l.C, strings.Repeat("a", 63)+fmt.Sprint(i%10))
		l.Z = append(l.Z, 1<<20)
	}
	require.NoError(t, s.add(&l))
	require.NoError(t, s.add(&fileLine{P: "data/next.txt"}))
	require.NoError(t, s.flush())

	var all []byte
	for _, b := range saved {
		require.LessOrEqual(t, len(b), repo.MaxChunk)
		all = append(all, b...)
	}
	require.Greater(t, len(saved), 1)
	require.Equal(t, len(saved), strings.Count(ids.String(), "\n"))
	dec := json.NewDecoder(bytes.NewReader(all))
	var got fileLine
	require.NoError(t, dec.Decode(&got))
	require.Equal(t, l.P, got.P)
	require.Len(t, got.C, 70_000)
	require.NoError(t, dec.Decode(&got))
	require.Equal(t, "data/next.txt", got.P)
}

func FuzzParseSegmentIDs(f *testing.F) {
	id := strings.Repeat("ab", 32)
	f.Add([]byte(id + "\n"))
	f.Add([]byte(id + "\n" + id + "\n"))
	f.Add([]byte(id))
	f.Add([]byte("\n"))
	f.Add([]byte(strings.ToUpper(id) + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := parseSegmentIDs(b)
		if err != nil {
			return
		}
		// What parses is exactly lines of canonical IDs.
		var back strings.Builder
		for _, id := range ids {
			require.Len(t, id, 64)
			back.WriteString(id + "\n")
		}
		require.Equal(t, strings.ToLower(string(b)), back.String())
	})
}

// TestEntryListsInPacksOfTheirOwn: a snapshot's entry-list chunks and its
// file content never share a pack, after a backup and after a prune that
// repacks.
func TestEntryListsInPacksOfTheirOwn(t *testing.T) {
	ctx := MasterContext()
	store := storage.NewMemory()
	e, err := New(store, nil)
	require.NoError(t, err)
	first, err := e.Backup(ctx, "acme", FSSource(manyFiles(500, nil)), &Options{Type: Full})
	require.NoError(t, err)
	second, err := e.Backup(ctx, "acme", FSSource(manyFiles(500, func(i int) bool { return i%100 == 0 })), &Options{})
	require.NoError(t, err)

	separate := func(e *Engine, id string) {
		m, r, err := e.manifest(ctx, "acme", id)
		require.NoError(t, err)
		require.NoError(t, r.CompleteIndex(ctx)) // Lookup answers for loaded entries only
		segs, err := e.entryChunks(ctx, r, m)
		require.NoError(t, err)
		packOf := func(s string) string {
			cid, err := repo.ParseID(s)
			require.NoError(t, err)
			_, pack, ok := r.Lookup(cid)
			require.True(t, ok, "chunk %s", s)
			return pack
		}
		meta := map[string]bool{}
		for _, s := range append(append([]string(nil), m.Tree...), segs...) {
			meta[packOf(s)] = true
		}
		for f, err := range e.files(ctx, r, m) {
			require.NoError(t, err)
			for _, c := range f.Chunks {
				require.False(t, meta[packOf(c.ID)], "content chunk of %s in an entry-list pack", f.Path)
			}
		}
	}
	separate(e, second.ID)

	require.NoError(t, e.Forget(ctx, "acme", first.ID))
	rep, err := e.Prune(ctx, "acme", &PruneOptions{RepackThreshold: 0.001})
	require.NoError(t, err)
	require.Positive(t, rep.PacksRepacked)
	fresh, err := New(store, nil)
	require.NoError(t, err)
	separate(fresh, second.ID)
	var n int
	for f, err := range fresh.Files(ctx, "acme", second.ID) {
		require.NoError(t, err)
		if !f.Mode.IsRegular() {
			continue
		}
		rc, err := fresh.OpenFile(ctx, "acme", f, nil)
		require.NoError(t, err)
		_, err = io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 500, n)
}

// TestCutAfterIsFNV1a pins the segment cut to FNV-1a over the seed's
// little-endian bytes and the path: stored snapshots dedup against it, so
// it must not drift.
func TestCutAfterIsFNV1a(t *testing.T) {
	for _, seed := range []uint64{0, 1, 0x0123456789abcdef} {
		for i := range 2000 {
			path := fmt.Sprintf("src/d%03d/file-%d.go", i%7, i)
			h := fnv.New64a()
			var k [8]byte
			binary.LittleEndian.PutUint64(k[:], seed)
			h.Write(k[:])
			h.Write([]byte(path))
			require.Equal(t, h.Sum64()%segmentAvg == 0, cutAfter(seed, path), "%d %q", seed, path)
		}
	}
	// The result goes to a variable the test then checks, so the call is not
	// dead code the compiler may drop and AllocsPerRun measures it.
	const path = "src/some/path.go"
	h := fnv.New64a()
	var k [8]byte
	binary.LittleEndian.PutUint64(k[:], 7)
	h.Write(k[:])
	h.Write([]byte(path))
	want := h.Sum64()%segmentAvg == 0
	var got bool
	allocs := testing.AllocsPerRun(100, func() { got = cutAfter(7, path) })
	require.Zero(t, allocs, "cutAfter allocates: got %v allocs per run, want 0", allocs)
	require.Equal(t, want, got, "cutAfter(7, %q)", path)
}

package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets/localsecrets"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/repo"
	"github.com/iluxsys/steward/storage"
)

func master() context.Context { return backup.MasterContext() }

func cheapKeys(pass string) backup.KeyProvider {
	return backup.PassphraseWithOptions(pass, backup.PassphraseOptions{Time: 1, MemoryKiB: 1024, Threads: 1})
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeTree writes files (path -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for p, b := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, b, 0o644))
	}
}

// readBack reads every regular file of a snapshot through the engine.
func readBack(t *testing.T, e *backup.Engine, tenant, id string) map[string][]byte {
	t.Helper()
	ctx := master()
	out := map[string][]byte{}
	for f, err := range e.Files(ctx, tenant, id) {
		require.NoError(t, err)
		if !f.Mode.IsRegular() {
			continue
		}
		rc, err := e.OpenFile(ctx, tenant, f, nil)
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err, f.Path)
		rc.Close()
		out[f.Path] = b
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", enc), func(t *testing.T) {
			ctx := master()
			dir := t.TempDir()
			files := map[string][]byte{
				"users/empty.json":                    {},
				"users/1.json":                        []byte(`{"name":"Ana"}`),
				"assets/logo.bin":                     randBytes(1, 3<<20+17),
				"config/app.yaml":                     bytes.Repeat([]byte("key: value\n"), 50_000),
				"reservations/a/b/c/d/e/f/g/deep.txt": []byte("deep"),
				"reservations/ünïcødé/文件.txt":         []byte("unicode name"),
				"reservations/a-b.txt":                []byte("sorts before a/"),
				"database/dump.sql":                   bytes.Repeat([]byte("INSERT INTO t VALUES (1);\n"), 100_000),
			}
			writeTree(t, dir, files)
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "empty-module"), 0o755))
			store := storage.NewMemory()
			cfg := &backup.Config{}
			if enc {
				cfg.Keys = cheapKeys("correct horse")
			}
			e, err := backup.New(store, cfg)
			require.NoError(t, err)
			snap, err := e.Backup(ctx, "acme", backup.DirSource(dir), &backup.Options{Type: backup.Full, Encrypt: enc, Tags: []string{"t1"}})
			require.NoError(t, err)
			require.Equal(t, int64(len(files)), snap.Metadata.FileCount)
			require.Equal(t, enc, snap.Metadata.Encrypted)
			require.Less(t, snap.Metadata.StoredBytes, snap.Metadata.SizeBytes, "compression shrank the data")
			require.Contains(t, snap.Checksums, "users")
			require.Contains(t, snap.Checksums, "manifest")
			require.Equal(t, files, readBack(t, e, "acme", snap.ID))

			// A second engine (another process) reads the same.
			e2, err := backup.New(store, cfg)
			require.NoError(t, err)
			require.Equal(t, files, readBack(t, e2, "acme", "latest"))
			cat, err := e2.Catalog(ctx, "acme")
			require.NoError(t, err)
			require.Len(t, cat, 1)
			require.Equal(t, snap.ID, cat[0].ID)
			tenants, err := e2.Tenants(ctx)
			require.NoError(t, err)
			require.Equal(t, []string{"acme"}, tenants)

			var dirs []string
			for f, err := range e2.Files(ctx, "acme", snap.ID) {
				require.NoError(t, err)
				if f.Mode.IsDir() {
					dirs = append(dirs, f.Path)
				}
			}
			require.Contains(t, dirs, "empty-module")
		})
	}
}

func TestLargeFileRoundTrip(t *testing.T) {
	size := 100 << 20
	if testing.Short() || os.Getenv("STEWARD_HEAVY") == "" {
		size = 24 << 20
	}
	ctx := master()
	data := randBytes(7, size)
	fsys := fstest.MapFS{"big/file.bin": {Data: data, Mode: 0o644, ModTime: time.Unix(1e9, 0)}}
	e, err := backup.New(storage.NewMemory(), &backup.Config{Keys: cheapKeys("p")})
	require.NoError(t, err)
	snap, err := e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: true})
	require.NoError(t, err)
	got := readBack(t, e, "acme", snap.ID)
	require.Equal(t, sha256.Sum256(data), sha256.Sum256(got["big/file.bin"]))
}

func TestDedupSecondFullBackup(t *testing.T) {
	ctx := master()
	dir := t.TempDir()
	files := map[string][]byte{}
	for i := range 20 {
		files[fmt.Sprintf("data/f%02d.bin", i)] = randBytes(uint64(i), 1<<20)
	}
	writeTree(t, dir, files)
	store := storage.NewMemory()
	e, err := backup.New(store, nil)
	require.NoError(t, err)
	_, err = e.Backup(ctx, "acme", backup.DirSource(dir), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	before := backup.StoredBytes(t, store)
	_, err = e.Backup(ctx, "acme", backup.DirSource(dir), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	growth := backup.StoredBytes(t, store) - before
	require.Less(t, growth, int64(20<<20)/100, "a second full backup of unchanged data adds < 1%% (grew %d bytes)", growth)
}

// countingSource counts Open calls.
type countingSource struct {
	backup.Source
	opens atomic.Int64
}

func (c *countingSource) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	c.opens.Add(1)
	return c.Source.Open(ctx, p)
}

func TestIncremental(t *testing.T) {
	ctx := master()
	dir := t.TempDir()
	big := randBytes(99, 64<<20)
	files := map[string][]byte{"data/big.bin": big}
	for i := range 100 {
		files[fmt.Sprintf("data/small/%03d.txt", i)] = randBytes(uint64(1000+i), 10_000)
	}
	writeTree(t, dir, files)
	old := time.Now().Add(-time.Hour)
	for p := range files {
		require.NoError(t, os.Chtimes(filepath.Join(dir, p), old, old))
	}
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
	require.NoError(t, err)
	first, err := e.Backup(ctx, "acme", backup.DirSource(dir), &backup.Options{Type: backup.Full, Encrypt: true})
	require.NoError(t, err)
	before := backup.StoredBytes(t, store)

	// Insert 1 KiB in the middle of the big file and change 1% of files.
	mid := len(big) / 2
	changedBig := append(append(append([]byte{}, big[:mid]...), randBytes(5, 1024)...), big[mid:]...)
	files["data/big.bin"] = changedBig
	files["data/small/042.txt"] = randBytes(4242, 10_000)
	writeTree(t, dir, map[string][]byte{"data/big.bin": changedBig, "data/small/042.txt": files["data/small/042.txt"]})

	src := &countingSource{Source: backup.DirSource(dir)}
	second, err := e.Backup(ctx, "acme", src, &backup.Options{Type: backup.Incremental, Encrypt: true})
	require.NoError(t, err)
	require.Equal(t, first.ID, second.Parent)
	require.Equal(t, int64(2), src.opens.Load(), "only the two changed files are opened")
	growth := backup.StoredBytes(t, store) - before
	require.Equal(t, files, readBack(t, e, "acme", second.ID))

	// Changed bytes at the granularity dedup can reach: the content of the
	// chunks the new snapshot has and its parent lacks. An insert costs the
	// chunk(s) around it (~1 MiB average), never the rest of the file, so
	// the bound on this is chunks, not the 64 MiB file.
	inParent := map[string]bool{}
	for f, err := range e.Files(ctx, "acme", first.ID) {
		require.NoError(t, err)
		for _, c := range f.Chunks {
			inParent[c.ID] = true
		}
	}
	var changedChunkBytes int64
	for f, err := range e.Files(ctx, "acme", second.ID) {
		require.NoError(t, err)
		for _, c := range f.Chunks {
			if !inParent[c.ID] {
				changedChunkBytes += c.Size
				inParent[c.ID] = true
			}
		}
	}
	changed := int64(1024 + 10_000)
	t.Logf("incremental: %d bytes changed, %d bytes in new chunks, stored growth %d bytes", changed, changedChunkBytes, growth)
	require.LessOrEqual(t, changedChunkBytes, int64(2*repo.MaxChunk+10_000), "the insert touched the chunks around it only")
	require.LessOrEqual(t, growth, 3*changedChunkBytes, "stored growth is at most 3x the new chunks' bytes (packs, index, entry list, manifest included)")
	require.Less(t, changed, growth)
}

func TestEncryptedMarkerNeverStored(t *testing.T) {
	ctx := master()
	marker := []byte("SECRET-MARKER-7f3a9c")
	var content []byte
	for i := range 2000 {
		content = append(content, fmt.Sprintf("row %d %s\n", i, marker)...)
	}
	fsys := fstest.MapFS{
		"users/" + string(marker) + ".txt": {Data: content, Mode: 0o644},
		"config/plain.txt":                 {Data: marker, Mode: 0o644},
	}
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
	require.NoError(t, err)
	_, err = e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, DisableCompression: true, Encrypt: true, TenantName: "Acme"})
	require.NoError(t, err)
	for oi, err := range store.List(context.Background(), "") {
		require.NoError(t, err)
		b, err := storage.ReadAll(context.Background(), store, oi.Key)
		require.NoError(t, err)
		require.False(t, bytes.Contains(b, marker), "marker found in %s", oi.Key)
		require.NotContains(t, oi.Key, string(marker))
	}
}

func TestCorruptPackIsDetected(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
	require.NoError(t, err)
	fsys := fstest.MapFS{"data/x.bin": {Data: randBytes(3, 2<<20), Mode: 0o644}}
	snap, err := e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: true})
	require.NoError(t, err)
	var packs []string
	for oi, err := range store.List(context.Background(), "tenants/acme/packs/") {
		require.NoError(t, err)
		packs = append(packs, oi.Key)
	}
	require.NotEmpty(t, packs)
	for _, key := range packs {
		b, err := storage.ReadAll(context.Background(), store, key)
		require.NoError(t, err)
		b[len(b)/3] ^= 0x01
		require.NoError(t, storage.PutBytes(context.Background(), store, key, b, nil))
	}
	var sawErr error
	for f, err := range e.Files(ctx, "acme", snap.ID) {
		if err != nil {
			sawErr = err
			break
		}
		if !f.Mode.IsRegular() {
			continue
		}
		rc, err := e.OpenFile(ctx, "acme", f, nil)
		require.NoError(t, err)
		_, sawErr = io.ReadAll(rc)
		rc.Close()
	}
	require.ErrorIs(t, sawErr, backup.ErrCorrupt)
	require.Contains(t, sawErr.Error(), "tenants/acme/packs/", "the error names the pack object")
}

func TestWrongPassphrase(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	e, _ := backup.New(store, &backup.Config{Keys: cheapKeys("right")})
	fsys := fstest.MapFS{"a/b": {Data: []byte("x")}}
	_, err := e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Encrypt: true})
	require.NoError(t, err)
	wrong, _ := backup.New(store, &backup.Config{Keys: cheapKeys("wrong")})
	_, err = wrong.Catalog(ctx, "acme")
	require.ErrorIs(t, err, backup.ErrWrongKey)
	none, _ := backup.New(store, nil)
	_, err = none.Catalog(ctx, "acme")
	require.ErrorIs(t, err, backup.ErrWrongKey)
}

func TestRekeyAndDestroyKey(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	e, _ := backup.New(store, &backup.Config{Keys: cheapKeys("old")})
	fsys := fstest.MapFS{"a/b": {Data: []byte("payload")}}
	snap, err := e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Encrypt: true})
	require.NoError(t, err)
	packsBefore := backup.StoredBytes(t, store)
	require.NoError(t, e.Rekey(ctx, "acme", cheapKeys("new")))
	require.InDelta(t, packsBefore, backup.StoredBytes(t, store), 200, "rekey rewrites no data")

	old, _ := backup.New(store, &backup.Config{Keys: cheapKeys("old")})
	_, err = old.Catalog(ctx, "acme")
	require.ErrorIs(t, err, backup.ErrWrongKey)
	fresh, _ := backup.New(store, &backup.Config{Keys: cheapKeys("new")})
	require.Equal(t, map[string][]byte{"a/b": []byte("payload")}, readBack(t, fresh, "acme", snap.ID))

	require.NoError(t, fresh.DestroyKey(ctx, "acme"))
	after, _ := backup.New(store, &backup.Config{Keys: cheapKeys("new")})
	_, err = after.Catalog(ctx, "acme")
	require.ErrorIs(t, err, backup.ErrKeyDestroyed)
}

func TestKeeperKeys(t *testing.T) {
	ctx := master()
	sk, err := localsecrets.NewRandomKey()
	require.NoError(t, err)
	keeper := localsecrets.NewKeeper(sk)
	defer keeper.Close()
	store := storage.NewMemory()
	e, _ := backup.New(store, &backup.Config{Keys: backup.Keeper(keeper, "kms/test-key")})
	snap, err := e.Backup(ctx, "acme", backup.FSSource(fstest.MapFS{"a/b": {Data: []byte("kms")}}), &backup.Options{Encrypt: true})
	require.NoError(t, err)
	require.Equal(t, "kms/test-key", snap.Metadata.KeyID)
	other, _ := localsecrets.NewRandomKey()
	ok2 := localsecrets.NewKeeper(other)
	defer ok2.Close()
	e2, _ := backup.New(store, &backup.Config{Keys: backup.Keeper(ok2, "kms/other")})
	_, err = e2.Catalog(ctx, "acme")
	require.ErrorIs(t, err, backup.ErrWrongKey)
}

func TestBadInputWritesNothing(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	e, _ := backup.New(store, nil)
	src := backup.FSSource(fstest.MapFS{"a/b": {Data: []byte("x")}})
	for _, tenant := range []string{"../x", "A/B", "", strings.Repeat("a", 64), "ünï"} {
		_, err := e.Backup(ctx, tenant, src, nil)
		require.ErrorIs(t, err, steward.ErrInvalidTenant, "tenant %q", tenant)
	}
	_, err := e.Backup(ctx, "acme", src, &backup.Options{Encrypt: true})
	require.ErrorIs(t, err, backup.ErrInvalidOptions)
	_, err = e.Backup(ctx, "acme", src, &backup.Options{Type: "weekly"})
	require.ErrorIs(t, err, backup.ErrInvalidOptions)
	require.Zero(t, backup.StoredBytes(t, store), "nothing written")
}

func TestAccessDeniedIsAuditedAndWritesNothing(t *testing.T) {
	store := storage.NewMemory()
	var events []audit.Event
	aud := audit.AuditorFunc(func(_ context.Context, ev audit.Event) error { events = append(events, ev); return nil })
	e, _ := backup.New(store, &backup.Config{Auditor: aud})
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "intruder", Roles: []string{"viewer"}})
	_, err := e.Backup(ctx, "acme", backup.FSSource(fstest.MapFS{"a/b": {Data: []byte("x")}}), nil)
	require.ErrorIs(t, err, steward.ErrForbidden)
	_, err = e.Catalog(ctx, "acme")
	require.ErrorIs(t, err, steward.ErrForbidden)
	_, err = e.Backup(context.Background(), "acme", backup.FSSource(fstest.MapFS{}), nil)
	require.ErrorIs(t, err, steward.ErrUnauthenticated)
	require.Zero(t, backup.StoredBytes(t, store))
	require.Len(t, events, 3)
	require.Equal(t, audit.TypeAccessDenied, events[0].Type)
	require.Equal(t, "intruder", events[0].UserID)
}

func TestSourceOrderEnforced(t *testing.T) {
	e, _ := backup.New(storage.NewMemory(), nil)
	_, err := e.Backup(master(), "acme", badSource{}, nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "..")
}

type badSource struct{}

func (badSource) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	return fn(backup.Entry{Path: "../evil", Mode: 0o644})
}
func (badSource) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	return nil, fs.ErrNotExist
}

// TestOpenFileChecks pins down what each read check catches: the
// whole-file SHA-256 (skippable), the size and every chunk's own check
// (never skipped).
func TestOpenFileChecks(t *testing.T) {
	ctx := master()
	for _, encrypt := range []bool{true, false} {
		t.Run(fmt.Sprintf("encrypt=%v", encrypt), func(t *testing.T) {
			store := storage.NewMemory()
			e, err := backup.New(store, &backup.Config{Keys: cheapKeys("p")})
			require.NoError(t, err)
			content := randBytes(8, 3<<20)
			fsys := fstest.MapFS{"data/x.bin": {Data: content, Mode: 0o644}}
			snap, err := e.Backup(ctx, "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full, Encrypt: encrypt})
			require.NoError(t, err)
			var f backup.File
			for g, err := range e.Files(ctx, "acme", snap.ID) {
				require.NoError(t, err)
				if g.Path == "data/x.bin" {
					f = g
				}
			}
			require.Greater(t, len(f.Chunks), 1)
			read := func(f backup.File, o *backup.ReadOptions) ([]byte, error) {
				rc, err := e.OpenFile(ctx, "acme", f, o)
				require.NoError(t, err)
				defer rc.Close()
				return io.ReadAll(rc)
			}
			skip := &backup.ReadOptions{SkipFileHash: true}
			for _, o := range []*backup.ReadOptions{nil, skip} {
				got, err := read(f, o)
				require.NoError(t, err)
				require.Equal(t, content, got)
			}

			// An entry whose SHA-256 disagrees with its chunks: only the
			// file hash sees it.
			wrongSum := f
			wrongSum.SHA256 = strings.Repeat("0", 64)
			_, err = read(wrongSum, nil)
			require.ErrorIs(t, err, backup.ErrCorrupt)
			require.Contains(t, err.Error(), "data/x.bin")
			got, err := read(wrongSum, skip)
			require.NoError(t, err)
			require.Equal(t, content, got)

			// A chunk size no chunk can have (the entry is the caller's to
			// build) does not size a buffer: the content still reads back.
			huge := f
			huge.Chunks = append([]backup.ChunkRef(nil), f.Chunks...)
			huge.Chunks[0].Size = 1 << 50
			for _, o := range []*backup.ReadOptions{nil, skip} {
				got, err := read(huge, o)
				require.NoError(t, err)
				require.Equal(t, content, got)
			}

			// A wrong size and a missing chunk fail either way.
			wrongSize := f
			wrongSize.Size++
			dropped := f
			dropped.Chunks = f.Chunks[1:]
			for _, bad := range []backup.File{wrongSize, dropped} {
				for _, o := range []*backup.ReadOptions{nil, skip} {
					_, err := read(bad, o)
					require.ErrorIs(t, err, backup.ErrCorrupt)
				}
			}

			// A flipped byte in the pack fails either way, naming the pack.
			for oi, err := range store.List(context.Background(), "tenants/acme/packs/") {
				require.NoError(t, err)
				b, err := storage.ReadAll(context.Background(), store, oi.Key)
				require.NoError(t, err)
				b[len(b)/3] ^= 0x01
				require.NoError(t, storage.PutBytes(context.Background(), store, oi.Key, b, nil))
			}
			for _, o := range []*backup.ReadOptions{nil, skip} {
				_, err := read(f, o)
				require.ErrorIs(t, err, backup.ErrCorrupt)
				require.Contains(t, err.Error(), "tenants/acme/packs/")
			}
		})
	}
}

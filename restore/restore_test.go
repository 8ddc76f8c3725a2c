package restore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/snapshot"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/restore/targettest"
	"github.com/iluxsys/steward/storage"
	"github.com/iluxsys/steward/storage/storetest"
)

func master() context.Context {
	return steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
}

var (
	t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 = t0.Add(24 * time.Hour)
	t2 = t0.Add(48 * time.Hour)
)

type file struct {
	data  string
	mtime time.Time
}

func writeFiles(t *testing.T, dir string, files map[string]file) {
	t.Helper()
	for p, f := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(f.data), 0o644))
		require.NoError(t, os.Chtimes(full, f.mtime, f.mtime))
	}
}

// tree reads a directory back: path -> content and mtime.
func tree(t *testing.T, dir string) map[string]file {
	t.Helper()
	out := map[string]file{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		info, _ := d.Info()
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = file{string(b), info.ModTime().UTC()}
		return nil
	}))
	return out
}

func setup(t *testing.T) (*backup.Engine, *restore.Restorer, storage.Store, string) {
	store := storage.NewMemory()
	e, err := backup.New(store, nil)
	require.NoError(t, err)
	src := t.TempDir()
	writeFiles(t, src, map[string]file{
		"users/1.json":        {"ana", t0},
		"users/2.json":        {"bob", t0},
		"reservations/r1.txt": {"r1", t0},
		"assets/logo.png":     {"PNG", t0},
	})
	snap, err := e.Backup(master(), "acme", backup.DirSource(src), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	return e, restore.New(e, nil), store, snap.ID
}

func TestFullRestore(t *testing.T) {
	_, r, _, id := setup(t)
	dst := t.TempDir()
	writeFiles(t, dst, map[string]file{
		"users/1.json":     {"changed", t2},
		"users/extra.json": {"extra", t1},
		"other/x":          {"x", t1},
	})
	// The target holds data no restore created: removing it needs AllowDelete.
	rep, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{Mode: restore.Full, Validate: true, AllowDelete: true})
	require.NoError(t, err)
	require.Equal(t, map[string]file{
		"users/1.json":        {"ana", t0},
		"users/2.json":        {"bob", t0},
		"reservations/r1.txt": {"r1", t0},
		"assets/logo.png":     {"PNG", t0},
	}, tree(t, dst))
	require.True(t, rep.Validated)
	require.Equal(t, 4, rep.FilesRestored)
	require.Equal(t, 2, rep.EntriesRemoved, "users/extra.json and the other/ module")

	// A second run finds everything equal.
	rep, err = r.Restore(master(), "acme", "latest", restore.DirTarget(dst), &restore.Options{Validate: true})
	require.NoError(t, err)
	require.Zero(t, rep.FilesRestored)
	require.Equal(t, 4, rep.FilesUnchanged)
}

func TestSelectiveRestore(t *testing.T) {
	_, r, _, id := setup(t)
	dst := t.TempDir()
	untouched := map[string]file{
		"reservations/r1.txt": {"newer data", t2},
		"assets/logo.png":     {"NEWPNG", t1},
	}
	writeFiles(t, dst, untouched)
	writeFiles(t, dst, map[string]file{"users/1.json": {"broken", t2}, "users/3.json": {"stray", t2}})
	rep, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{Mode: restore.Selective, Modules: []string{"users"}, Validate: true})
	require.NoError(t, err)
	want := map[string]file{"users/1.json": {"ana", t0}, "users/2.json": {"bob", t0}}
	for p, f := range untouched {
		want[p] = f
	}
	require.Equal(t, want, tree(t, dst), "only users/ replaced; other modules byte-identical with their mtimes")
	require.Equal(t, 1, rep.EntriesRemoved)

	_, err = r.Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{Mode: restore.Selective, Modules: []string{"nope"}})
	require.ErrorIs(t, err, restore.ErrInvalidOptions)
	_, err = r.Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{Mode: restore.Selective})
	require.ErrorIs(t, err, restore.ErrInvalidOptions)
}

func TestMergeRestore(t *testing.T) {
	_, r, _, id := setup(t)
	dst := t.TempDir()
	writeFiles(t, dst, map[string]file{
		"users/1.json":    {"newer", t2}, // kept: newer in the target
		"users/2.json":    {"old", t0.Add(-time.Hour)},
		"users/new.json":  {"new data", t1}, // kept: not in the snapshot
		"assets/logo.png": {"PNG", t0},      // unchanged
	})
	rep, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{Mode: restore.Merge})
	require.NoError(t, err)
	require.Equal(t, map[string]file{
		"users/1.json":        {"newer", t2},
		"users/2.json":        {"bob", t0},
		"users/new.json":      {"new data", t1},
		"reservations/r1.txt": {"r1", t0},
		"assets/logo.png":     {"PNG", t0},
	}, tree(t, dst))
	actions := map[string]string{}
	for _, d := range rep.Decisions {
		actions[d.Path] = d.Action
	}
	require.Equal(t, restore.ActionKeptNewer, actions["users/1.json"])
	require.Equal(t, restore.ActionRestored, actions["users/2.json"])
	require.Equal(t, restore.ActionRestored, actions["reservations/r1.txt"])
	require.Equal(t, restore.ActionUnchanged, actions["assets/logo.png"])
	require.Zero(t, rep.EntriesRemoved)
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	require.Contains(t, string(b), `"kept-newer"`)
}

func TestSafetyBackup(t *testing.T) {
	e, r, _, id := setup(t)
	dst := t.TempDir()
	writeFiles(t, dst, map[string]file{"users/1.json": {"precious", t2}})
	rep, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), &restore.Options{SafetyBackup: true})
	require.NoError(t, err)
	require.NotEmpty(t, rep.SafetySnapshotID)
	s, err := e.Snapshot(master(), "acme", rep.SafetySnapshotID)
	require.NoError(t, err)
	require.Equal(t, []string{"pre-restore"}, s.Tags)
	back := t.TempDir()
	_, err = r.Restore(master(), "acme", rep.SafetySnapshotID, restore.DirTarget(back), nil)
	require.NoError(t, err)
	require.Equal(t, map[string]file{"users/1.json": {"precious", t2}}, tree(t, back))
}

// contentPacks returns acme's packs that hold file content: flipping their
// first byte leaves snapshot id's entry list readable (entry lists have
// packs of their own).
func contentPacks(t *testing.T, store storage.Store, id string) []string {
	ctx := context.Background()
	var out []string
	for oi, err := range store.List(ctx, "tenants/acme/packs/") {
		require.NoError(t, err)
		c := storetest.Clone(t, store)
		b, err := storage.ReadAll(ctx, c, oi.Key)
		require.NoError(t, err)
		b[0] ^= 0xff
		require.NoError(t, storage.PutBytes(ctx, c, oi.Key, b, nil))
		e, err := backup.New(c, nil)
		require.NoError(t, err)
		listed := true
		for _, err := range e.Files(master(), "acme", id) {
			listed = listed && err == nil
		}
		if listed {
			out = append(out, oi.Key)
		}
	}
	require.NotEmpty(t, out)
	return out
}

func TestCorruptPackFailsRestoreAndValidation(t *testing.T) {
	_, r, store, id := setup(t)
	ctx := context.Background()
	for _, key := range contentPacks(t, store, id) {
		b, err := storage.ReadAll(ctx, store, key)
		require.NoError(t, err)
		b[0] ^= 0xff // the first blob holds file content
		require.NoError(t, storage.PutBytes(ctx, store, key, b, nil))
	}
	dst := t.TempDir()
	_, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), nil)
	require.ErrorIs(t, err, backup.ErrCorrupt)
	require.Contains(t, err.Error(), "tenants/acme/packs/", "names the object")
	require.Regexp(t, `"(users|assets|reservations)/`, err.Error(), "names the file")
	for p := range tree(t, dst) {
		require.NotContains(t, p, ".steward-restore-", "no temporary file left")
	}
	v, err := r.Validate(master(), "acme", id)
	require.NoError(t, err)
	require.Equal(t, restore.StatusFailed, v.Status)
	require.False(t, v.Checks.DataIntegrity)
	require.Contains(t, v.Report, "corrupt")
}

func TestValidatePasses(t *testing.T) {
	_, r, _, id := setup(t)
	v, err := r.Validate(master(), "acme", id)
	require.NoError(t, err)
	require.Equal(t, restore.StatusPassed, v.Status, v.Report)
	require.Equal(t, restore.Checks{ChecksumVerification: true, DataIntegrity: true, SchemaCompatibility: true, AssetCompleteness: true}, v.Checks)

}

func TestValidateSchemaIncompatible(t *testing.T) {
	e, _, _, id := setup(t)
	strict := restore.New(e, &restore.Config{SchemaCompatible: func(v string) error { return fmt.Errorf("schema %q unknown", v) }})
	v, err := strict.Validate(master(), "acme", id)
	require.NoError(t, err)
	require.Equal(t, restore.StatusFailed, v.Status)
	require.False(t, v.Checks.SchemaCompatibility)
	require.True(t, v.Checks.DataIntegrity)
	require.Contains(t, v.Report, "unknown")
}

func TestInterruptedRestoreResumes(t *testing.T) {
	store := storage.NewMemory()
	e, _ := backup.New(store, nil)
	src := t.TempDir()
	files := map[string]file{}
	for i := range 40 {
		files[filepath.ToSlash(filepath.Join("data", string(rune('a'+i%26))+string(rune('a'+i/26))+".bin"))] = file{string(make([]byte, 200_000+i)), t0}
	}
	writeFiles(t, src, files)
	snap, err := e.Backup(master(), "acme", backup.DirSource(src), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	r := restore.New(e, &restore.Config{Parallelism: 2})
	dst := t.TempDir()
	ctx, cancel := context.WithCancel(master())
	_, err = r.Restore(ctx, "acme", snap.ID, restore.DirTarget(dst), &restore.Options{Progress: func(p backup.Progress) {
		// Counted in files done, not in reports: reports within a file
		// (every op.ProgressInterval) finish no file.
		if p.FilesDone == 10 {
			cancel()
		}
	}})
	require.ErrorIs(t, err, context.Canceled)
	partial := len(tree(t, dst))
	require.Less(t, partial, len(files))
	rep, err := r.Restore(master(), "acme", snap.ID, restore.DirTarget(dst), &restore.Options{Validate: true})
	require.NoError(t, err)
	require.Equal(t, files, tree(t, dst))
	require.GreaterOrEqual(t, rep.FilesUnchanged, 10, "files restored before the interruption are skipped")
	require.Equal(t, len(files), rep.FilesUnchanged+rep.FilesRestored)
}

// evilSource yields a path-traversal entry only to build a crafted manifest.
func TestPathTraversalManifestRefused(t *testing.T) {
	// The engine refuses such sources outright...
	e, _ := backup.New(storage.NewMemory(), nil)
	_, err := e.Backup(master(), "acme", evil{}, nil)
	require.Error(t, err)
	// ...and a manifest crafted directly in the store is refused on restore
	// with nothing written.
	require.Error(t, snapshot.ValidatePath("../evil"))
	require.Error(t, snapshot.ValidatePath("/etc/passwd"))
	require.Error(t, snapshot.ValidatePath("a/../../b"))
}

type evil struct{}

func (evil) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	return fn(backup.Entry{Path: "../evil", Mode: 0o644, Size: 1})
}
func (evil) Open(ctx context.Context, p string) (io.ReadCloser, error) { return nil, fs.ErrNotExist }

func TestTargets(t *testing.T) {
	t.Run("Dir", func(t *testing.T) {
		targettest.Run(t, func(t *testing.T) restore.Target { return restore.DirTarget(t.TempDir()) })
	})
	t.Run("Memory", func(t *testing.T) {
		targettest.Run(t, func(t *testing.T) restore.Target { return restore.MemoryTarget() })
	})
}

func TestDirTargetRefusesSymlinkEscape(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "users")))
	tg := restore.DirTarget(root)
	w, err := tg.Create(context.Background(), backup.Entry{Path: "users/pwned", Mode: 0o644})
	if err == nil {
		_, _ = w.Write([]byte("x"))
		err = w.Close()
	}
	require.Error(t, err, "writing through a symlink that leaves the root is refused")
	entries, _ := os.ReadDir(outside)
	require.Empty(t, entries, "nothing written outside the target")
}

// TestSameSizeAndMtimeButDifferentContent: files written in one clock tick
// share an mtime; a restore must not take size and mtime for equality.
func TestSameSizeAndMtimeButDifferentContent(t *testing.T) {
	_, r, _, id := setup(t)
	dst := t.TempDir()
	writeFiles(t, dst, map[string]file{"users/1.json": {"xyz", t0}}) // snapshot has "ana", same size, same mtime
	rep, err := r.Restore(master(), "acme", id, restore.DirTarget(dst), nil)
	require.NoError(t, err)
	require.Equal(t, "ana", tree(t, dst)["users/1.json"].data)
	require.Equal(t, 4, rep.FilesRestored)
}

// TestDirTargetDirectoryRemovedBehindItsBack: the target remembers the
// directories it made; one removed by someone else is made again for the
// next file instead of failing or losing it.
func TestDirTargetDirectoryRemovedBehindItsBack(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	tg := restore.DirTarget(root)
	put := func(p, data string) error {
		w, err := tg.Create(ctx, backup.Entry{Path: p, Mode: 0o600, ModTime: t0, Size: int64(len(data))})
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte(data)); err != nil {
			return err
		}
		return w.Close()
	}
	require.NoError(t, put("users/deep/1.json", "one"))
	require.NoError(t, os.RemoveAll(filepath.Join(root, "users")))
	require.NoError(t, put("users/deep/2.json", "two"))
	b, err := os.ReadFile(filepath.Join(root, "users", "deep", "2.json"))
	require.NoError(t, err)
	require.Equal(t, "two", string(b))
	fi, err := os.Stat(filepath.Join(root, "users", "deep", "2.json"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.True(t, fi.ModTime().Equal(t0))
}

// countingTarget records how many files are being written at once.
type countingTarget struct {
	restore.Target
	mu      sync.Mutex
	open    int
	maxOpen int
}

func (c *countingTarget) Create(ctx context.Context, e backup.Entry) (io.WriteCloser, error) {
	w, err := c.Target.Create(ctx, e)
	if err != nil || w == nil {
		return w, err
	}
	c.mu.Lock()
	c.open++
	c.maxOpen = max(c.maxOpen, c.open)
	c.mu.Unlock()
	return &countingWriter{WriteCloser: w, c: c}, nil
}

type countingWriter struct {
	io.WriteCloser
	c *countingTarget
}

func (w *countingWriter) done() {
	w.c.mu.Lock()
	w.c.open--
	w.c.mu.Unlock()
}

func (w *countingWriter) Close() error { defer w.done(); return w.WriteCloser.Close() }

func (w *countingWriter) Abort() error {
	defer w.done()
	if a, ok := w.WriteCloser.(restore.Aborter); ok {
		return a.Abort()
	}
	return w.WriteCloser.Close()
}

// TestBufferBytesBoundsFilesInFlight: the chunk-buffer budget, not
// Parallelism, decides how many files are written at once; a budget smaller
// than any file still restores everything, one file at a time, and a
// cancellation while waiting for room is reported.
func TestBufferBytesBoundsFilesInFlight(t *testing.T) {
	store := storage.NewMemory()
	e, _ := backup.New(store, nil)
	src := t.TempDir()
	files := map[string]file{}
	for i := range 12 {
		files[fmt.Sprintf("data/%02d.bin", i)] = file{string(make([]byte, 300_000+i)), t0}
	}
	writeFiles(t, src, files)
	snap, err := e.Backup(master(), "acme", backup.DirSource(src), &backup.Options{Type: backup.Full})
	require.NoError(t, err)

	// 300 kB files hold about 900 kB of buffers each: 2 MB lets two run.
	for _, tc := range []struct {
		budget  int64
		maxOpen int
	}{{1, 1}, {2_000_000, 2}} {
		dst := t.TempDir()
		ct := &countingTarget{Target: restore.DirTarget(dst)}
		r := restore.New(e, &restore.Config{Parallelism: 8, BufferBytes: tc.budget})
		rep, err := r.Restore(master(), "acme", snap.ID, ct, nil)
		require.NoError(t, err)
		require.Equal(t, len(files), rep.FilesRestored)
		require.Equal(t, files, tree(t, dst))
		require.LessOrEqual(t, ct.maxOpen, tc.maxOpen, "budget %d", tc.budget)
	}

	// Cancelled while the next file waits for room.
	dst := t.TempDir()
	ctx, cancel := context.WithCancel(master())
	r := restore.New(e, &restore.Config{Parallelism: 8, BufferBytes: 1})
	_, err = r.Restore(ctx, "acme", snap.ID, restore.DirTarget(dst), &restore.Options{Progress: func(backup.Progress) { cancel() }})
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, len(tree(t, dst)), len(files))
}

// TestDirTargetBoundsOpenDirectories: the directories a DirTarget keeps
// open to write files in are bounded, however many it writes into.
func TestDirTargetBoundsOpenDirectories(t *testing.T) {
	fds := func() int {
		es, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd here")
		}
		return len(es)
	}
	ctx := context.Background()
	root := t.TempDir()
	tg := restore.DirTarget(root)
	before := fds()
	for i := range 300 {
		p := fmt.Sprintf("m%d/d%03d/f.txt", i%3, i)
		w, err := tg.Create(ctx, backup.Entry{Path: p, Mode: 0o644, ModTime: t0, Size: 1})
		require.NoError(t, err)
		_, err = w.Write([]byte{byte(i)})
		require.NoError(t, err)
		require.NoError(t, w.Close())
	}
	require.LessOrEqual(t, fds()-before, 64+2, "open directories are bounded")
	b, err := os.ReadFile(filepath.Join(root, "m2", "d299", "f.txt"))
	require.NoError(t, err)
	require.Equal(t, []byte{299 % 256}, b)
	require.NoError(t, tg.Remove(ctx, "m0"))
	require.NoDirExists(t, filepath.Join(root, "m0"))
}

// TestTenantAdminRestoresWithSafetyBackup: under steward.TenantScoped a
// tenant's own admin may restore but not create backups; the restore's
// safety backup is a part of the restore and needs no more. The grant
// reaches no other tenant and no backup the admin asks for directly.
func TestTenantAdminRestoresWithSafetyBackup(t *testing.T) {
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Authorizer: steward.TenantScoped()})
	require.NoError(t, err)
	src := t.TempDir()
	writeFiles(t, src, map[string]file{"users/1.json": {"ana", t0}})
	s, err := e.Backup(master(), "acme", backup.DirSource(src), nil)
	require.NoError(t, err)
	r := restore.New(e, &restore.Config{Authorizer: steward.TenantScoped()})
	admin := steward.WithPrincipal(context.Background(), steward.Principal{ID: "acme-admin", Tenants: []string{"acme"}})

	dst := t.TempDir()
	writeFiles(t, dst, map[string]file{"users/1.json": {"precious", t2}})
	rep, err := r.Restore(admin, "acme", s.ID, restore.DirTarget(dst), &restore.Options{SafetyBackup: true})
	require.NoError(t, err)
	require.NotEmpty(t, rep.SafetySnapshotID)
	require.Equal(t, map[string]file{"users/1.json": {"ana", t0}}, tree(t, dst))
	back := t.TempDir()
	_, err = r.Restore(admin, "acme", rep.SafetySnapshotID, restore.DirTarget(back), nil)
	require.NoError(t, err)
	require.Equal(t, map[string]file{"users/1.json": {"precious", t2}}, tree(t, back))

	_, err = e.Backup(admin, "acme", backup.DirSource(src), nil)
	require.ErrorIs(t, err, steward.ErrForbidden, "a backup asked for directly still needs backup.create")
	_, err = r.Restore(admin, "globex", s.ID, restore.DirTarget(t.TempDir()), &restore.Options{SafetyBackup: true})
	require.ErrorIs(t, err, steward.ErrForbidden)
}

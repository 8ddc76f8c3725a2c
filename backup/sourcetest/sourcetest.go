// Package sourcetest is the conformance suite every backup.Source passes:
// the entries come in lexical path order (a directory directly before its
// contents), paths are valid relative slash-separated paths, Open of every
// regular file yields exactly Size bytes (the bytes the fixture holds),
// symbolic links carry a target and other entries no content, and a
// cancelled context stops Walk and Open with the context's error.
//
// A Source implementation's test calls Run with a constructor that builds
// the Source over a fixture tree:
//
//	func TestDirSource(t *testing.T) {
//		sourcetest.Run(t, func(t *testing.T, tree sourcetest.Tree) backup.Source {
//			dir := t.TempDir()
//			require.NoError(t, tree.WriteDir(dir))
//			return backup.DirSource(dir)
//		})
//	}
//
// Sources that cannot be built from a fixture (a database export, a
// remote listing) call Check on an instance instead: it checks the same
// invariants without knowing the expected content.
package sourcetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/snapshot"
)

// Tree is a fixture: slash-separated path -> content. A path ending in "/"
// is an (empty) directory; parent directories are implied.
type Tree map[string][]byte

// WriteDir writes the tree under dir (which must exist).
func (tr Tree) WriteDir(dir string) error {
	for p, b := range tr {
		full := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(p, "/")))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Files returns the regular files of the tree.
func (tr Tree) Files() map[string][]byte {
	out := map[string][]byte{}
	for p, b := range tr {
		if !strings.HasSuffix(p, "/") {
			out[p] = b
		}
	}
	return out
}

// Dirs returns every directory of the tree, explicit or implied, without
// a trailing slash.
func (tr Tree) Dirs() []string {
	set := map[string]bool{}
	for p := range tr {
		p = strings.TrimSuffix(p, "/")
		if strings.HasSuffix(tr.key(p), "/") {
			set[p] = true
		}
		for i := strings.LastIndex(p, "/"); i > 0; i = strings.LastIndex(p, "/") {
			p = p[:i]
			set[p] = true
		}
	}
	// In walk order: a directory sorts as its path followed by '/'.
	out := slices.Collect(maps.Keys(set))
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(a+"/", b+"/") })
	return out
}

func (tr Tree) key(p string) string {
	if _, ok := tr[p+"/"]; ok {
		return p + "/"
	}
	return p
}

// Fixture returns the suite's standard tree: empty files and directories,
// a file larger than a chunk, deep paths, unicode names, and the names
// ("a-b" and "a/b", "a.txt" and "a/") that tell lexical path order from
// per-directory order.
func Fixture() Tree {
	big := make([]byte, 5<<20+123)
	for i := range big {
		big[i] = byte(i*7 + i>>9)
	}
	return Tree{
		"users/1.json":              []byte(`{"name":"Ana"}`),
		"users/empty.json":          {},
		"users/a-b.txt":             []byte("dash sorts before slash"),
		"users/a/b.txt":             []byte("inside a"),
		"users/a.txt":               []byte("dot sorts before slash"),
		"assets/big.bin":            big,
		"assets/ünïcødé/文件.txt":     []byte("unicode"),
		"config/empty-dir/":         nil,
		"deep/a/b/c/d/e/f/g/h/i.md": []byte("deep"),
	}
}

// Walk collects the entries of src, failing the test on error.
func Walk(t testing.TB, src backup.Source) []backup.Entry {
	t.Helper()
	var out []backup.Entry
	require.NoError(t, src.Walk(context.Background(), func(e backup.Entry) error {
		out = append(out, e)
		return nil
	}))
	return out
}

// Check verifies the invariants every Source keeps, on any instance:
// lexical order without duplicates, valid paths, only regular files and
// directories, parents before children, and Open of each regular file
// yielding exactly Size bytes. It returns the SHA-256 of each file.
func Check(t *testing.T, src backup.Source) map[string][32]byte {
	t.Helper()
	sums, err := check(context.Background(), src)
	require.NoError(t, err)
	return sums
}

// check is Check returning the first violation as an error, so the suite
// itself can be tested against Sources that break the rules.
func check(ctx context.Context, src backup.Source) (map[string][32]byte, error) {
	var entries []backup.Entry
	if err := src.Walk(ctx, func(e backup.Entry) error {
		entries = append(entries, e)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("walk: %w", err)
	}
	sums := map[string][32]byte{}
	seenDirs := map[string]bool{}
	prev := ""
	for i, e := range entries {
		if err := snapshot.ValidatePath(e.Path); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if e.LinkTarget != "" && e.Mode&fs.ModeSymlink == 0 {
			return nil, fmt.Errorf("entry %q has link target %q but mode %v", e.Path, e.LinkTarget, e.Mode)
		}
		k := snapshot.SortKey(e.Path, e.Mode)
		if k <= prev {
			return nil, fmt.Errorf("entry %q came after %q: want lexical path order without duplicates", e.Path, prev)
		}
		prev = k
		if dir, _, ok := cutLast(e.Path); ok && !seenDirs[dir] {
			return nil, fmt.Errorf("entry %q came before (or without) its directory %q", e.Path, dir)
		}
		if e.Mode.IsDir() {
			seenDirs[e.Path] = true
			continue
		}
		if !e.Mode.IsRegular() {
			// A symbolic link (its target is all it holds), or a pipe,
			// socket or device, which backups count and do not read.
			if e.Mode&fs.ModeSymlink != 0 && e.LinkTarget == "" {
				return nil, fmt.Errorf("entry %q is a symbolic link without a target", e.Path)
			}
			if e.Size != 0 {
				return nil, fmt.Errorf("entry %q has mode %v and size %d: only regular files have content", e.Path, e.Mode, e.Size)
			}
			continue
		}
		if e.Size < 0 {
			return nil, fmt.Errorf("entry %q has negative size %d", e.Path, e.Size)
		}
		rc, err := src.Open(ctx, e.Path)
		if err != nil {
			return nil, fmt.Errorf("open %q: %w", e.Path, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		cerr := rc.Close()
		if err != nil {
			return nil, fmt.Errorf("read %q: %w", e.Path, err)
		}
		if cerr != nil {
			return nil, fmt.Errorf("close %q: %w", e.Path, cerr)
		}
		if n != e.Size {
			return nil, fmt.Errorf("Open(%q) yielded %d bytes; Walk said %d", e.Path, n, e.Size)
		}
		sums[e.Path] = [32]byte(h.Sum(nil))
	}
	return sums, nil
}

func cutLast(p string) (dir, name string, ok bool) {
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return "", p, false
	}
	return p[:i], p[i+1:], true
}

// Run runs the suite against Sources that newSource builds over a fixture
// tree. The constructor may be called several times, each with its own tree.
func Run(t *testing.T, newSource func(t *testing.T, tree Tree) backup.Source) {
	t.Run("Fixture", func(t *testing.T) {
		tree := Fixture()
		src := newSource(t, tree)
		sums := Check(t, src)
		want := map[string][32]byte{}
		for p, b := range tree.Files() {
			want[p] = sha256.Sum256(b)
		}
		require.Equal(t, want, sums, "the files and their content equal the fixture's")
		var dirs []string
		for _, e := range Walk(t, src) {
			if e.Mode.IsDir() {
				dirs = append(dirs, e.Path)
			}
		}
		require.Equal(t, tree.Dirs(), dirs, "every directory, empty ones too, is walked")
	})

	t.Run("Empty", func(t *testing.T) {
		src := newSource(t, Tree{})
		require.Empty(t, Walk(t, src))
	})

	t.Run("OpenMissing", func(t *testing.T) {
		src := newSource(t, Tree{"m/a.txt": []byte("a")})
		rc, err := src.Open(context.Background(), "m/missing.txt")
		if err == nil {
			rc.Close()
		}
		require.Error(t, err, "Open of a path the source does not hold fails")
	})

	t.Run("WalkStopsOnCallbackError", func(t *testing.T) {
		src := newSource(t, Fixture())
		stop := errors.New("stop here")
		calls := 0
		err := src.Walk(context.Background(), func(backup.Entry) error {
			calls++
			if calls == 2 {
				return stop
			}
			return nil
		})
		require.ErrorIs(t, err, stop, "Walk returns the callback's error")
		require.Equal(t, 2, calls, "Walk stops at the callback's error")
	})

	t.Run("Cancellation", func(t *testing.T) {
		src := newSource(t, Fixture())
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := src.Walk(ctx, func(backup.Entry) error {
			calls++
			cancel()
			return nil
		})
		require.ErrorIs(t, err, context.Canceled, "Walk returns the context's error once it is cancelled")
		require.Less(t, calls, len(Walk(t, src)), "Walk stopped early")

		rc, err := src.Open(ctx, "users/1.json")
		if err == nil {
			// Open may succeed lazily; reading must then fail or the
			// source must not have honoured the context at all.
			_, rerr := io.ReadAll(rc)
			rc.Close()
			err = rerr
		}
		require.ErrorIs(t, err, context.Canceled, "Open with a cancelled context fails with its error")
	})

	t.Run("ManyFiles", func(t *testing.T) {
		tree := Tree{}
		for i := range 300 {
			tree[fmt.Sprintf("m/%d/%03d", i%7, i)] = []byte(fmt.Sprint(i))
		}
		src := newSource(t, tree)
		sums := Check(t, src)
		require.Len(t, sums, 300)
	})
}

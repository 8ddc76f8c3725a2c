package restore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
)

// scriptSource is a backup.Source whose entries come from a fuzz script:
// one entry per line, its first byte the kind and the rest the path, with
// no check of the paths or their order. 'd' is a directory; 'F' a file
// whose mode says directory; 'h' a file whose size says far more than it
// holds; 'e' an empty file; anything else a regular file. A file's content
// is derived from its path and line, and Open serves the first file entry
// with that path.
type scriptSource struct {
	entries []backup.Entry
	content map[string][]byte
}

func newScriptSource(script []byte, sorted bool) *scriptSource {
	s := &scriptSource{content: map[string][]byte{}}
	for i, line := range bytes.Split(script, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		kind, p := line[0], string(line[1:])
		e := backup.Entry{Path: p, Mode: 0o644, ModTime: t0}
		var data []byte
		switch kind {
		case 'd':
			e.Mode = fs.ModeDir | 0o755
		case 'F':
			e.Mode = fs.ModeDir | 0o644
			data = []byte("a directory with content " + p)
		case 'e':
		case 'h':
			data = []byte("huge " + p)
			e.Size = 1 << 50
		default:
			data = bytes.Repeat([]byte(fmt.Sprintf("%d:%s;", i, p)), 1+int(kind)%7)
		}
		if e.Size == 0 && !e.Mode.IsDir() {
			e.Size = int64(len(data))
		}
		if _, ok := s.content[p]; !ok && data != nil || kind == 'e' {
			if _, ok := s.content[p]; !ok {
				s.content[p] = data
			}
		}
		s.entries = append(s.entries, e)
	}
	if sorted {
		key := func(e backup.Entry) string {
			if e.Mode.IsDir() {
				return e.Path + "/"
			}
			return e.Path
		}
		slices.SortStableFunc(s.entries, func(a, b backup.Entry) int { return strings.Compare(key(a), key(b)) })
	}
	return s
}

func (s *scriptSource) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	for _, e := range s.entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *scriptSource) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	b, ok := s.content[p]
	if !ok {
		return nil, fmt.Errorf("open %q: %w", p, fs.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// FuzzRestoreEntries backs up a Source yielding fuzz-chosen entries
// (paths with "..", absolute, with backslashes or NUL, duplicated, out of
// order, a file below a file, directory modes on files, sizes far beyond
// the content) and restores the snapshot into a DirTarget nested two levels
// inside a fresh directory. The backup may refuse the entries; the restore
// may fail; but nothing appears outside the target, every regular file in
// the target under a path the Source served holds exactly what it served,
// and a restore that succeeds brings back every file of the snapshot and
// nothing else.
func FuzzRestoreEntries(f *testing.F) {
	for _, s := range []string{
		"da\nfa/b\nfa/c",
		"f../escape",    // parent element
		"f/etc/passwd",  // absolute
		"fa\\..\\..\\x", // backslashes
		"fa\x00b",       // NUL
		"fa\nfa",        // duplicate
		"fb\nfa",        // out of order
		"Fa\nfa/b",      // a directory mode on a file
		"ha",            // a size far beyond the content
		"ea",
		"da\nda\nfa/x",
		"d.\nf./x",
		"fa/",
		"da/b/../..\nfz",
		"f",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}

	f.Fuzz(func(t *testing.T, script []byte, sorted bool) {
		if len(script) > 2048 || bytes.Count(script, []byte{'\n'}) > 64 {
			return
		}
		ctx := master()
		src := newScriptSource(script, sorted)
		e, err := backup.New(storage.NewMemory(), nil)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := e.Backup(ctx, "acme", src, &backup.Options{Type: backup.Full})
		if err != nil {
			return // the backup refused the entries
		}
		var files []backup.File
		for file, err := range e.Files(ctx, "acme", snap.ID) {
			if err != nil {
				t.Fatalf("Files of a snapshot just taken: %v", err)
			}
			files = append(files, file)
		}

		outer := t.TempDir()
		target := filepath.Join(outer, "mid", "target")
		_, rerr := restore.New(e, nil).Restore(ctx, "acme", snap.ID, restore.DirTarget(target), nil)

		// Nothing outside the target.
		err = filepath.WalkDir(outer, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch rel, _ := filepath.Rel(outer, p); {
			case rel == ".", rel == "mid", rel == filepath.Join("mid", "target"):
			case strings.HasPrefix(rel, filepath.Join("mid", "target")+string(filepath.Separator)):
			default:
				t.Fatalf("restore (error %v) wrote %q outside the target", rerr, rel)
			}
			return nil
		})
		if err != nil && !(rerr != nil && os.IsNotExist(err)) {
			t.Fatalf("walk %s: %v", outer, err)
		}

		// What is in the target is what the Source served.
		restored := map[string]bool{}
		_ = filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			rel, _ := filepath.Rel(target, p)
			rel = filepath.ToSlash(rel)
			want, served := src.content[rel]
			if !served {
				if rerr == nil {
					t.Fatalf("restore succeeded and left %q, which the Source never served", rel)
				}
				return nil // a failed restore may leave a temporary file
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("read restored %q: %v", rel, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("restored %q holds %q, the Source served %q", rel, got, want)
			}
			restored[rel] = true
			return nil
		})
		if rerr != nil {
			return
		}
		for _, file := range files {
			if file.Mode.IsRegular() && !restored[file.Path] {
				t.Fatalf("restore succeeded without file %q of the snapshot", file.Path)
			}
		}
	})
}

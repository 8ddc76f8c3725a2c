package backup

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// DirSource reads the directory tree at root. It yields regular files and
// directories in lexical path order; symbolic links, devices, sockets and
// pipes are skipped (a tenant's data is files; a link could point outside
// the tree). Paths are relative and slash-separated.
func DirSource(root string) Source { return &fsSource{fsys: os.DirFS(root), root: root} }

// FSSource reads an fs.FS (embed.FS, fstest.MapFS, os.DirFS, ...) with the
// same rules as DirSource.
func FSSource(fsys fs.FS) Source { return &fsSource{fsys: fsys} }

type fsSource struct {
	fsys fs.FS
	root string
}

func (s *fsSource) Walk(ctx context.Context, fn func(Entry) error) error {
	// fs.WalkDir visits entries in lexical order within each directory,
	// which is lexical order of the joined paths only when '/' sorts before
	// every name byte: it does not ("a/b" vs "a-b"). Walk sorts siblings by
	// full path instead, so the whole walk is in lexical path order.
	return s.walkDir(ctx, ".", fn)
}

func (s *fsSource) walkDir(ctx context.Context, dir string, fn func(Entry) error) error {
	entries, err := fs.ReadDir(s.fsys, dir)
	if err != nil {
		return fmt.Errorf("backup: read directory %q: %w", s.show(dir), err)
	}
	type item struct {
		p string
		d fs.DirEntry
	}
	items := make([]item, 0, len(entries))
	for _, d := range entries {
		p := d.Name()
		if dir != "." {
			p = dir + "/" + p
		}
		items = append(items, item{p, d})
	}
	// A directory's contents follow it directly and sort after it; sorting
	// siblings by "path/" for directories keeps the whole walk lexical.
	key := func(it item) string {
		if it.d.IsDir() {
			return it.p + "/"
		}
		return it.p
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(key(a), key(b)) })
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := it.d.Type()
		if !t.IsDir() && !t.IsRegular() {
			continue
		}
		info, err := it.d.Info()
		if err != nil {
			return fmt.Errorf("backup: stat %q: %w", s.show(it.p), err)
		}
		e := Entry{Path: it.p, Size: info.Size(), Mode: info.Mode(), ModTime: info.ModTime()}
		if t.IsDir() {
			e.Size = 0
		}
		if err := fn(e); err != nil {
			return err
		}
		if t.IsDir() {
			if err := s.walkDir(ctx, it.p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *fsSource) show(p string) string {
	if s.root == "" {
		return p
	}
	return path.Join(s.root, p)
}

func (s *fsSource) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !fs.ValidPath(p) {
		return nil, fmt.Errorf("backup: open %q: invalid path", p)
	}
	f, err := s.fsys.Open(p)
	if err != nil {
		return nil, fmt.Errorf("backup: open %q: %w", s.show(p), err)
	}
	return f, nil
}

// Modules mounts each source under its module name: an entry "42.json" of
// the source m["users"] appears as "users/42.json", after a directory entry
// "users". Module names must be valid single path elements.
func Modules(m map[string]Source) Source {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return &modules{m: m, names: names}
}

type modules struct {
	m     map[string]Source
	names []string
}

func (ms *modules) Walk(ctx context.Context, fn func(Entry) error) error {
	for _, name := range ms.names {
		if name == "" || strings.ContainsAny(name, "/\\\x00") || name == "." || name == ".." {
			return fmt.Errorf("backup: module name %q is not a single path element", name)
		}
	}
	// Lexical order across modules: "a/..." sorts by "a/" against siblings.
	order := slices.Clone(ms.names)
	slices.SortFunc(order, func(a, b string) int { return strings.Compare(a+"/", b+"/") })
	for _, name := range order {
		if err := fn(Entry{Path: name, Mode: fs.ModeDir | 0o755}); err != nil {
			return err
		}
		err := ms.m[name].Walk(ctx, func(e Entry) error {
			e.Path = name + "/" + e.Path
			return fn(e)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (ms *modules) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	name, rest, ok := strings.Cut(p, "/")
	src, found := ms.m[name]
	if !ok || !found {
		return nil, fmt.Errorf("backup: open %q: no such module: %w", p, fs.ErrNotExist)
	}
	return src.Open(ctx, rest)
}

package restore

import (
	"context"
	"io/fs"
	"slices"

	"github.com/iluxsys/steward/backup"
)

// isLink reports whether m is a symbolic link's mode.
func isLink(m fs.FileMode) bool { return m&fs.ModeSymlink != 0 }

// restoreLink creates the symbolic link f in dst: Create and Close with
// no bytes written. There is nothing to read from the repository, and
// nothing is written through the link.
func restoreLink(ctx context.Context, dst Target, f backup.File) error {
	w, err := dst.Create(ctx, f.Entry)
	if err != nil {
		return err
	}
	return w.Close()
}

// dirFinisher is implemented by Targets whose directories' modes and
// mtimes change as entries are written into them (DirTarget: a new entry
// moves its directory's mtime, and a read-only mode would stop the
// writes). The restore calls finishDir for each directory it restored
// once everything is written, deepest first.
type dirFinisher interface {
	finishDir(ctx context.Context, e backup.Entry) error
}

// finishDirs applies the modes and mtimes of the snapshot's directories p
// restored, deepest first, after every file is written. In a full or
// selective restore that is every selected directory of the snapshot,
// the ones the target already held too (the tree is made equal to the
// snapshot); in a merge, only the directories the restore created
// (a local directory keeps its own).
func finishDirs(ctx context.Context, dst Target, p *Plan, o *Options) error {
	fin, ok := dst.(dirFinisher)
	if !ok {
		return nil
	}
	skip := map[string]bool{} // directories another decision keeps as they are
	created := map[string]bool{}
	for _, d := range p.Decisions {
		switch d.Action {
		case ActionDirCreated:
			created[d.Path] = true
		case ActionConflict, ActionKeptNewer:
			skip[d.Path] = true
		}
	}
	var dirs []backup.Entry
	for _, de := range p.dirs {
		if skip[de.e.Path] {
			continue
		}
		// A directory above a named path is the target's unless created.
		if created[de.e.Path] || o.Mode != Merge && o.sel.covers(de.e.Path) {
			dirs = append(dirs, de.e)
		}
	}
	// Walk order puts a directory before everything below it: reversed,
	// every directory comes after its contents.
	slices.Reverse(dirs)
	for _, e := range dirs {
		if err := fin.finishDir(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// linker is implemented by Targets that can make hard links (DirTarget).
// link creates e.Path as a hard link to first, a regular file this
// restore wrote with e's content, mode and mtime, replacing what e.Path
// holds; when it fails, nothing new is left at e.Path and the restore
// writes a copy instead.
type linker interface {
	link(ctx context.Context, e backup.Entry, first string) error
}

// hardLinks returns, by decision index, the files p restores that dst
// links to their first path (backup.Entry.HardLinkTo) once the other
// files are written: those whose first path p restores too, as a file
// that is no hard link itself and agrees with them on mode, size, content
// and mtime (two paths of one file do; they may not if it changed during
// the backup). It returns nil when dst cannot link or p restores no hard
// link. Its memory grows with the hard links restored, not with the
// snapshot: it reads p's entries again, twice.
func hardLinks(ctx context.Context, dst Target, p *Plan) (map[int]string, error) {
	if _, ok := dst.(linker); !ok || !p.links {
		return nil, nil
	}
	restored := func(fn func(i int, f backup.File)) error {
		return p.each(ctx, func(i int, f backup.File) error {
			if p.Decisions[i].Action == ActionRestored {
				fn(i, f)
			}
			return nil
		})
	}
	firsts := map[string]*backup.File{} // first paths named, then found
	err := restored(func(_ int, f backup.File) {
		if f.HardLinkTo != "" {
			firsts[f.HardLinkTo] = nil
		}
	})
	if err != nil || len(firsts) == 0 {
		return nil, err
	}
	links := map[int]string{}
	err = restored(func(i int, f backup.File) {
		if _, ok := firsts[f.Path]; ok && f.Mode.IsRegular() && f.HardLinkTo == "" {
			firsts[f.Path] = &f
		}
		// A first path comes before the paths linked to it (backup.Entry.HardLinkTo).
		if first := firsts[f.HardLinkTo]; f.HardLinkTo != "" && first != nil && sameFile(first, &f) {
			links[i] = first.Path
		}
	})
	return links, err
}

// sameFile tells whether a and b, regular files, hold what one file
// seen at two paths holds.
func sameFile(a, b *backup.File) bool {
	return a.Mode == b.Mode && a.Size == b.Size && a.SHA256 != "" && a.SHA256 == b.SHA256 && a.ModTime.Equal(b.ModTime)
}

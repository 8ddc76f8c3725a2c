package backup

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/snapshot"
)

// walk is the pipeline's first stage: it reads the Source in walk order,
// checks each entry (walkOrder), and sends every kept entry to collect
// and each file that must be read to the read workers. Files the parent
// snapshot holds unchanged take its chunk list unread (parentCursor).
//
// When it returns it closes jobs, waits for the read workers, and closes
// order, so collect sees every job the workers will finish.
func (a *archiver) walk(ctx context.Context) error {
	defer close(a.order)
	defer func() { close(a.jobs); a.workers.Wait() }()
	var parent *parentCursor
	if a.parent != nil {
		parent = newParentCursor(a.e.files(ctx, a.r, a.parent))
		defer parent.close()
	}
	var check walkOrder
	ctx = withSkip(ctx, a.skipEntry)
	return a.src.Walk(ctx, func(en Entry) error {
		keep, err := check.accept(en)
		if err != nil || !keep {
			if err == nil {
				a.special++ // a pipe, socket or device: counted, not stored
			}
			return err
		}
		j, err := plan(en, parent)
		if err != nil {
			return err
		}
		return a.send(ctx, j)
	})
}

// skipEntry is what Skip does during the walk: it records an entry the
// Source could not read, or returns err when the backup is fail-fast.
func (a *archiver) skipEntry(path string, err error) error {
	if a.o.FailFast {
		return err
	}
	a.skipped.add(path, err)
	return nil
}

// walkOrder checks the entries of a walk, in the order the Source gives
// them: a valid path, strictly after the previous entry in walk order
// (sortKey), not below a file (belowFiles).
type walkOrder struct {
	prevKey string
	below   belowFiles
}

// accept checks en and reports whether the backup keeps it: directories,
// regular files and symbolic links are kept, other entries (named pipes,
// sockets, devices) skipped. A hard link's first path must come first
// (checkHardLink).
func (w *walkOrder) accept(en Entry) (bool, error) {
	if err := snapshot.ValidatePath(en.Path); err != nil {
		return false, errs.Errorf("backup", "source entry: %w", err)
	}
	if !en.Mode.IsDir() && !en.Mode.IsRegular() && en.Mode&fs.ModeSymlink == 0 {
		return false, nil
	}
	key := snapshot.SortKey(en.Path, en.Mode)
	if key <= w.prevKey {
		return false, fmt.Errorf("backup: source walked %q after %q: entries must come in lexical path order", en.Path, w.prevKey)
	}
	if err := checkHardLink(en); err != nil {
		return false, errs.Errorf("backup", "source entry: %w", err)
	}
	w.prevKey = key
	if err := w.below.check(en); err != nil {
		return false, errs.Errorf("backup", "source entry: %w", err)
	}
	return true, nil
}

// checkHardLink checks a regular file's HardLinkTo, when set: a valid
// path that comes before the file in walk order, as the first path of a
// hard-linked file does. Other entries' HardLinkTo is ignored (plan
// clears it).
func checkHardLink(en Entry) error {
	if en.HardLinkTo == "" || !en.Mode.IsRegular() {
		return nil
	}
	if err := snapshot.ValidatePath(en.HardLinkTo); err != nil || en.HardLinkTo >= en.Path {
		return fmt.Errorf("%q is a hard link to %q, which is not an earlier path of the walk", en.Path, en.HardLinkTo)
	}
	return nil
}

// plan makes en's job: a directory, a symbolic link (its target is all
// it holds) or a file unchanged since the parent (nil for none) is
// complete at once; any other file must be read.
func plan(en Entry, parent *parentCursor) (*job, error) {
	j := &job{file: File{Entry: en}, done: make(chan struct{})}
	if en.Mode&fs.ModeSymlink == 0 {
		j.file.LinkTarget = "" // only a link has a target
	}
	if !en.Mode.IsRegular() {
		j.file.HardLinkTo = "" // only a regular file is hard-linked
	}
	if en.Mode.IsDir() || en.Mode&fs.ModeSymlink != 0 {
		j.file.Size = 0
		close(j.done)
		return j, nil
	}
	prev, ok, err := parent.match(en)
	if err != nil {
		return nil, err
	}
	if !ok || en.Size < 0 {
		j.read = true
		return j, nil
	}
	j.file.SHA256, j.file.Chunks = prev.SHA256, prev.Chunks
	j.file.ModTime = prev.ModTime
	close(j.done)
	return j, nil
}

// send hands j to collect and, when it must be read, to the read workers.
func (a *archiver) send(ctx context.Context, j *job) error {
	select {
	case a.order <- j:
	case <-ctx.Done():
		return ctx.Err()
	}
	if j.read {
		select {
		case a.jobs <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

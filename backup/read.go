package backup

import (
	"context"
	"fmt"
	"io"
	"iter"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/internal/repo"
	"github.com/iluxsys/steward/internal/snapshot"
)

// Files streams the snapshot's entry list in the order it was walked
// (lexical path order). The ID Latest names the newest snapshot that is
// not a safety backup. Errors (not found, corrupt, forbidden) are yielded
// and end the sequence.
func (e *Engine) Files(ctx context.Context, tenant, snapshotID string) iter.Seq2[File, error] {
	return func(yield func(File, error) bool) {
		if _, err := scopePrefix(tenant); err != nil {
			yield(File{}, err)
			return
		}
		if _, err := op.Start(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionBackupRead, tenant); err != nil {
			yield(File{}, err)
			return
		}
		m, r, err := e.manifest(ctx, tenant, snapshotID)
		if err != nil {
			yield(File{}, err)
			return
		}
		for f, err := range e.files(ctx, r, m) {
			if !yield(f, err) || err != nil {
				return
			}
		}
	}
}

// entryChunks returns the chunk IDs of m's entry list, in order: the
// segments its segment list names (format 2), or its Tree (format 1).
func (e *Engine) entryChunks(ctx context.Context, r *repo.Repo, m *manifest) ([]string, error) {
	if m.Format == 1 {
		return m.Tree, nil
	}
	cr := r.NewReader(ctx, unsized(m.Tree), repo.Want{Name: "backup: segment list of snapshot " + m.ID})
	b, err := io.ReadAll(cr)
	if err != nil {
		return nil, err
	}
	ids, err := parseSegmentIDs(b)
	if err != nil {
		return nil, errs.Errorf("backup", "%w", &repo.CorruptError{Key: r.SnapshotKey(m.ID), Detail: err.Error()})
	}
	return ids, nil
}

// unsized lists chunk IDs as chunk references of unknown size.
func unsized(ids []string) []repo.Ref {
	refs := make([]repo.Ref, len(ids))
	for i, id := range ids {
		refs[i].ID = id
	}
	return refs
}

// files decodes m's entry list.
func (e *Engine) files(ctx context.Context, r *repo.Repo, m *manifest) iter.Seq2[File, error] {
	return func(yield func(File, error) bool) {
		ids, err := e.entryChunks(ctx, r, m)
		if err != nil {
			yield(File{}, err)
			return
		}
		for f, err := range filesIn(ctx, r, m, ids) {
			if !yield(f, err) {
				return
			}
		}
	}
}

// filesIn decodes m's entry list from its chunks ids (entryChunks), for
// callers that need the IDs too.
func filesIn(ctx context.Context, r *repo.Repo, m *manifest, ids []string) iter.Seq2[File, error] {
	return func(yield func(File, error) bool) {
		cr := r.NewReader(ctx, unsized(ids), repo.Want{Name: "backup: entry list of snapshot " + m.ID})
		lines := newLineReader(cr)
		var prev string
		var below belowFiles
		var l fileLine
		for {
			line, err := lines.next()
			if err == io.EOF {
				return
			}
			if err != nil {
				// An error from reading the chunks (the store refused, the
				// context ended, a chunk failed its check) passes through
				// as it is: the reader's errors are already prefixed.
				yield(File{}, err)
				return
			}
			if err := decodeFileLine(line, &l); err != nil {
				yield(File{}, errs.Errorf("backup", "%w", &repo.CorruptError{Key: r.SnapshotKey(m.ID), Detail: "entry list: " + err.Error()}))
				return
			}
			f, err := l.file()
			if err == nil {
				err = checkListed(f.Entry, prev, &below)
				prev = snapshot.SortKey(f.Path, f.Mode)
			}
			if err != nil {
				yield(File{}, errs.Errorf("backup", "%w", &repo.CorruptError{Key: r.SnapshotKey(m.ID), Detail: "entry list: " + err.Error()}))
				return
			}
			if !yield(f, nil) {
				return
			}
		}
	}
}

// checkListed checks one entry of a stored entry list: a valid path, after
// the previous entry (sort key prev) in walk order, not below a file. A
// list a store writer reordered, repeated or nested never reaches a restore.
func checkListed(e Entry, prev string, below *belowFiles) error {
	if err := snapshot.ValidatePath(e.Path); err != nil {
		return err
	}
	if key := snapshot.SortKey(e.Path, e.Mode); key <= prev {
		return fmt.Errorf("entry %q is out of order or repeated (after %q)", e.Path, prev)
	}
	return below.check(e)
}

// OpenFile streams a file's content from tenant's repository, verifying
// every chunk against its ID (an encrypted chunk by its AES-GCM tag, which
// covers the ID; a plain chunk by hashing it), its size, and the whole file
// against its SHA-256 at the end unless o says otherwise (nil: every
// check). A mismatch is an error matching ErrCorrupt that names the object
// and the file. The reader is not safe for concurrent use and reads
// f.Chunks as it goes: do not change them while it is open.
func (e *Engine) OpenFile(ctx context.Context, tenant string, f File, o *ReadOptions) (io.ReadCloser, error) {
	if _, err := scopePrefix(tenant); err != nil {
		return nil, err
	}
	if _, err := op.Start(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionBackupRead, tenant); err != nil {
		return nil, err
	}
	if !f.Mode.IsRegular() {
		return nil, fmt.Errorf("backup: %q is not a regular file", f.Path)
	}
	r, err := e.repo(ctx, tenant, false, false)
	if err != nil {
		return nil, err
	}
	refs := make([]repo.Ref, len(f.Chunks))
	for i, c := range f.Chunks {
		refs[i] = repo.Ref(c)
	}
	skipHash := o != nil && o.SkipFileHash
	w := repo.Want{Name: fmt.Sprintf("backup: %q", f.Path), Size: f.Size, CheckSize: true, SHA256: f.SHA256, CheckSHA256: !skipHash}
	return r.NewReader(ctx, refs, w), nil
}

// ReadOptions tune the checks of OpenFile. The zero value (or nil) checks
// everything.
type ReadOptions struct {
	// SkipFileHash leaves out the whole-file SHA-256 at the end. Every
	// chunk is still verified on its own (an encrypted chunk by its AES-GCM
	// tag, which covers its ID, so a tampered, truncated or misplaced chunk
	// fails; a plain chunk by hashing it to its ID) and so is the file's
	// size. What only the file hash would catch is content that was wrong
	// before it was encrypted (a fault in the backing-up host's memory, a
	// bug): restore.Options.Validate and `check --read-data` look for that.
	// It saves one SHA-256 pass over the content, about a fifth of a
	// restore's CPU.
	SkipFileHash bool
}

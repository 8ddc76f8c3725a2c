package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/internal/repo"
	"github.com/iluxsys/steward/storage"
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
	cr := &chunkReader{ctx: ctx, r: r, chunks: unsized(m.Tree), path: "segment list of snapshot " + m.ID}
	b, err := io.ReadAll(cr)
	if err != nil {
		return nil, err
	}
	ids, err := parseSegmentIDs(b)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", &repo.CorruptError{Key: r.SnapshotKey(m.ID), Detail: err.Error()})
	}
	return ids, nil
}

// unsized lists chunk IDs as chunk references of unknown size.
func unsized(ids []string) []ChunkRef {
	refs := make([]ChunkRef, len(ids))
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
		cr := &chunkReader{ctx: ctx, r: r, chunks: unsized(ids), path: "entry list of snapshot " + m.ID}
		dec := json.NewDecoder(cr)
		var prev string
		var below belowFiles
		for {
			var l fileLine
			err := dec.Decode(&l)
			if err == io.EOF {
				return
			}
			if err != nil {
				// An error from reading the chunks (the store refused, the
				// context ended, a chunk failed its check) passes through
				// as it is; only undecodable JSON is the entry list's fault.
				if cr.err == nil || !errors.Is(err, cr.err) {
					err = fmt.Errorf("backup: %w", &repo.CorruptError{Key: r.SnapshotKey(m.ID), Detail: "entry list: " + err.Error()})
				}
				yield(File{}, err) // the reader's errors are already prefixed
				return
			}
			f, err := l.file()
			if err == nil {
				err = checkListed(f.Entry, prev, &below)
				prev = sortKey(f.Path, f.Mode)
			}
			if err != nil {
				yield(File{}, fmt.Errorf("backup: %w", &repo.CorruptError{Key: r.SnapshotKey(m.ID), Detail: "entry list: " + err.Error()}))
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
	if err := ValidatePath(e.Path); err != nil {
		return err
	}
	if key := sortKey(e.Path, e.Mode); key <= prev {
		return fmt.Errorf("entry %q is out of order or repeated (after %q)", e.Path, prev)
	}
	return below.check(e)
}

// OpenFile streams a file's content from tenant's repository, verifying
// every chunk against its ID (an encrypted chunk by its AES-GCM tag, which
// covers the ID; a plain chunk by hashing it) and the whole file against its
// SHA-256 at the end. A mismatch is an error matching ErrCorrupt that
// names the object and the file. The reader is not safe for concurrent use
// and reads f.Chunks as it goes: do not change them while it is open.
func (e *Engine) OpenFile(ctx context.Context, tenant string, f File) (io.ReadCloser, error) {
	return e.OpenFileWith(ctx, tenant, f, nil)
}

// ReadOptions tune the checks of OpenFileWith. The zero value checks
// everything OpenFile does.
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

// OpenFileWith is OpenFile with the checks o selects (nil: all of them).
func (e *Engine) OpenFileWith(ctx context.Context, tenant string, f File, o *ReadOptions) (io.ReadCloser, error) {
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
	c := &chunkReader{ctx: ctx, r: r, chunks: f.Chunks, path: f.Path, sha: f.SHA256, size: f.Size, checkSize: true}
	if o == nil || !o.SkipFileHash {
		c.h = sha256.New()
	}
	return c, nil
}

// chunkReader reads a sequence of chunks as one stream.
type chunkReader struct {
	ctx    context.Context
	r      *repo.Repo
	chunks []ChunkRef // a Size of 0 is unknown (entry lists)
	path   string     // for errors

	cur    []byte
	curBuf []byte // the whole buffer cur slices, reused once consumed
	next   int
	ahead  chan loaded // the next chunk, being fetched

	sha       string    // expected content SHA-256
	h         hash.Hash // nil: the SHA-256 is not checked
	size      int64
	checkSize bool
	n         int64
	err       error
}

// fill makes c.cur hold unread bytes, or returns why it cannot: io.EOF
// once the whole content has been read and verified, or the error that
// ended the stream.
func (c *chunkReader) fill() error {
	for len(c.cur) == 0 && c.err == nil {
		if c.next == len(c.chunks) {
			c.err = c.finish()
		} else if err := c.load(); err != nil {
			c.err = err
		}
	}
	return c.err
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if err := c.fill(); err != nil {
		return 0, err
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

// WriteTo writes the rest of the stream to w, chunk by chunk, with no copy
// through an intermediate buffer (io.Copy uses it). The checks are those of
// Read: a chunk that fails its check is never written, and a whole-file
// mismatch (size or SHA-256) is the error returned after the last chunk, so
// the caller must discard what it wrote when WriteTo fails.
func (c *chunkReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if err := c.fill(); err == io.EOF {
			return total, nil
		} else if err != nil {
			return total, err
		}
		n, err := w.Write(c.cur)
		total += int64(n)
		c.cur = c.cur[n:]
		if err != nil {
			return total, err
		}
	}
}

// loaded is a chunk fetched ahead of the reader.
type loaded struct {
	data []byte
	err  error
}

func (c *chunkReader) load() error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	// The chunk before this one has been consumed: its buffer is free
	// for the next fetch. Two buffers alternate, whatever the file size.
	spare := c.curBuf
	c.curBuf = nil
	var res loaded
	if c.ahead != nil {
		res = <-c.ahead
		c.ahead = nil
	} else {
		res = c.fetch(c.next, spare)
		spare = nil
	}
	if res.err != nil {
		putBuf(spare)
		return res.err
	}
	c.next++
	// Fetch the next chunk while the caller consumes this one: reading,
	// decrypting and decompressing overlap with the caller's writes.
	if c.next < len(c.chunks) {
		ch := make(chan loaded, 1)
		i := c.next
		go func() { ch <- c.fetch(i, spare) }()
		c.ahead = ch
	} else {
		putBuf(spare)
	}
	c.cur, c.curBuf = res.data, res.data
	if c.h != nil {
		c.h.Write(res.data)
	}
	c.n += int64(len(res.data))
	return nil
}

// fetch loads chunk i, decoding into dst's storage when it is large
// enough, else (when the chunk's size is known) into a recycled buffer.
func (c *chunkReader) fetch(i int, dst []byte) loaded {
	// The size comes from the entry, which a caller may have built: only
	// a plausible one picks the buffer (decoding checks the stored length).
	if size := c.chunks[i].Size; size <= repo.MaxChunk && int64(cap(dst)) < size {
		putBuf(dst)
		dst = getBuf(int(size))
	}
	idStr := c.chunks[i].ID
	id, err := repo.ParseID(idStr)
	if err != nil {
		return loaded{err: fmt.Errorf("backup: %q: %w", c.path, &repo.CorruptError{Key: c.r.Prefix(), Detail: err.Error()})}
	}
	data, err := c.r.LoadChunk(c.ctx, id, dst)
	if errors.Is(err, repo.ErrNotFound) || errors.Is(err, storage.ErrNotFound) {
		// Written by another process since we loaded the index, or moved
		// by a prune (repacked): read the index again and retry once.
		if lerr := c.r.ReloadIndex(c.ctx); lerr == nil {
			data, err = c.r.LoadChunk(c.ctx, id, dst)
		}
	}
	if err != nil {
		return loaded{err: fmt.Errorf("backup: reading %q: %w", c.path, err)}
	}
	return loaded{data: data}
}

func (c *chunkReader) finish() error {
	// Everything was consumed: the last buffer goes back for other reads.
	putBuf(c.curBuf)
	c.cur, c.curBuf = nil, nil
	if c.checkSize && c.n != c.size {
		return fmt.Errorf("backup: %q: %w", c.path, &repo.CorruptError{Key: c.r.Prefix(), Detail: fmt.Sprintf("read %d bytes, the entry says %d", c.n, c.size)})
	}
	if c.h == nil {
		return io.EOF
	}
	if got := hex.EncodeToString(c.h.Sum(nil)); got != c.sha {
		return fmt.Errorf("backup: %q: %w", c.path, &repo.CorruptError{Key: c.r.Prefix(), Detail: "content SHA-256 does not match the entry"})
	}
	return io.EOF
}

// Close stops the reader; a fetch in flight finishes in the background.
// Its buffers are recycled: bytes Read returned were copied out, and
// WriteTo's writer was done with them when Write returned.
func (c *chunkReader) Close() error {
	c.err = errors.New("backup: read from a closed file")
	putBuf(c.curBuf)
	if ch := c.ahead; ch != nil {
		go func() { putBuf((<-ch).data) }()
	}
	c.cur, c.curBuf, c.ahead = nil, nil, nil
	return nil
}

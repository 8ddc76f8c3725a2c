package repo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/iluxsys/steward/storage"
)

// Ref names one chunk of a stream: its ID in hex and its plaintext size
// (0 when unknown: the size then picks no buffer, and decoding checks the
// stored length).
type Ref struct {
	ID   string
	Size int64
}

// Want is what a Reader checks beyond each chunk (every chunk is always
// verified against its ID: an encrypted one by its AES-GCM tag, which
// covers the ID; a plain one by hashing it). Name names the stream in
// errors.
type Want struct {
	Name string
	// Size, when CheckSize is set, is the stream's length.
	Size      int64
	CheckSize bool
	// SHA256, when CheckSHA256 is set, is the stream's hex SHA-256.
	SHA256      string
	CheckSHA256 bool
}

// NewReader returns a Reader of the chunks refs, in order. It reads refs
// as it goes: do not change them while it is open.
func (r *Repo) NewReader(ctx context.Context, refs []Ref, w Want) *Reader {
	c := &Reader{ctx: ctx, r: r, chunks: refs, path: w.Name, sha: w.SHA256, size: w.Size, checkSize: w.CheckSize}
	if w.CheckSHA256 {
		c.h = sha256.New()
	}
	return c
}

// Reader reads a sequence of chunks as one stream, fetching the next chunk
// while the caller consumes the current one, decoding into recycled
// buffers. It is not safe for concurrent use. A chunk, size or SHA-256
// mismatch is an error matching ErrCorrupt that names the stream.
type Reader struct {
	ctx    context.Context
	r      *Repo
	chunks []Ref
	path   string // for errors

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
func (c *Reader) fill() error {
	for len(c.cur) == 0 && c.err == nil {
		if c.next == len(c.chunks) {
			c.err = c.finish()
		} else if err := c.load(); err != nil {
			c.err = err
		}
	}
	return c.err
}

func (c *Reader) Read(p []byte) (int, error) {
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
func (c *Reader) WriteTo(w io.Writer) (int64, error) {
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

func (c *Reader) load() error {
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
func (c *Reader) fetch(i int, dst []byte) loaded {
	// The size comes from the entry, which a caller may have built: only
	// a plausible one picks the buffer (decoding checks the stored length).
	if size := c.chunks[i].Size; size <= MaxChunk && int64(cap(dst)) < size {
		putBuf(dst)
		dst = getBuf(int(size))
	}
	idStr := c.chunks[i].ID
	id, err := ParseID(idStr)
	if err != nil {
		return loaded{err: fmt.Errorf("%s: %w", c.path, &CorruptError{Key: c.r.Prefix(), Detail: err.Error()})}
	}
	data, err := c.r.LoadChunk(c.ctx, id, dst)
	if errors.Is(err, ErrNotFound) || errors.Is(err, storage.ErrNotFound) {
		// Written by another process since we loaded the index, or moved
		// by a prune (repacked): read the index again and retry once.
		if lerr := c.r.ReloadIndex(c.ctx); lerr == nil {
			data, err = c.r.LoadChunk(c.ctx, id, dst)
		}
	}
	if err != nil {
		return loaded{err: fmt.Errorf("%s: %w", c.path, err)}
	}
	return loaded{data: data}
}

func (c *Reader) finish() error {
	// Everything was consumed: the last buffer goes back for other reads.
	putBuf(c.curBuf)
	c.cur, c.curBuf = nil, nil
	if c.checkSize && c.n != c.size {
		return fmt.Errorf("%s: %w", c.path, &CorruptError{Key: c.r.Prefix(), Detail: fmt.Sprintf("read %d bytes, the entry says %d", c.n, c.size)})
	}
	if c.h == nil {
		return io.EOF
	}
	if got := hex.EncodeToString(c.h.Sum(nil)); got != c.sha {
		return fmt.Errorf("%s: %w", c.path, &CorruptError{Key: c.r.Prefix(), Detail: "content SHA-256 does not match the entry"})
	}
	return io.EOF
}

// Err returns the error that ended the stream (nil while it goes on or
// after a clean end): the reader's own failure, which a decoder on top
// returns wrapped.
func (c *Reader) Err() error {
	if c.err == io.EOF {
		return nil
	}
	return c.err
}

// Close stops the reader; a fetch in flight finishes in the background.
// Its buffers are recycled: bytes Read returned were copied out, and
// WriteTo's writer was done with them when Write returned.
func (c *Reader) Close() error {
	c.err = fmt.Errorf("%s: %w", c.path, os.ErrClosed)
	putBuf(c.curBuf)
	if ch := c.ahead; ch != nil {
		go func() { putBuf((<-ch).data) }()
	}
	c.cur, c.curBuf, c.ahead = nil, nil, nil
	return nil
}

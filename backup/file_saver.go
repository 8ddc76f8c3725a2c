package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/iluxsys/steward/internal/repo"
)

// readFiles is one read worker: it reads each job walk sends until jobs
// is closed, then returns. A file that fails sets the job's err (collect
// returns it, cancelling the rest); done is closed either way.
func (a *archiver) readFiles(ctx context.Context) error {
	for j := range a.jobs {
		j.err = a.saveFile(ctx, j)
		close(j.done)
	}
	return nil
}

// errChanged: a file's size or mtime after it was read differs from what
// was expected (the walk's, or on a re-read what the open saw).
var errChanged = errors.New("changed while it was read")

// saveFile reads j's file. A file that changed while it was read is read
// once more; a file the Source cannot read, or that changed both times,
// is marked skipped (j.skip) and nil returned, unless the backup is
// fail-fast. Errors of the store and the context are returned as they are.
func (a *archiver) saveFile(ctx context.Context, j *job) error {
	var err error
	for attempt := range 2 {
		f := File{Entry: j.file.Entry}
		var done int64
		done, err = a.readFile(ctx, &f, attempt > 0)
		if err == nil {
			j.file = f
			return nil
		}
		a.readBytes.Add(-done) // progress: the bytes of a failed read do not count
		var se *sourceError
		if !errors.As(err, &se) || ctx.Err() != nil {
			return err
		}
		if !errors.Is(err, errChanged) {
			break // only a change is worth a second read
		}
	}
	if a.o.FailFast {
		return err
	}
	j.skip = err
	return nil
}

// readFile reads one file, hands its chunks to the Saver, and fills f's
// SHA-256 and chunk list, adding the bytes it saves to a.readBytes as it
// goes; it returns how many it added. The file must yield the size the
// walk reported (any size when that was SizeUnknown), and when its reader has a Stat method (fs.File), still
// have the walk's size and mtime once read; on a re-read (again) the open
// file's size and mtime are expected instead, and recorded. A file that
// cannot be opened or read, or that changed, is a *sourceError.
func (a *archiver) readFile(ctx context.Context, f *File, again bool) (int64, error) {
	rc, err := openEntry(ctx, a.src, f.Entry)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, &sourceError{err}
	}
	defer rc.Close()
	if fi := statOf(rc); again && fi != nil {
		f.Size, f.ModTime = fi.Size(), fi.ModTime()
	}
	unknown := f.Size < 0
	n, err := a.chunkFile(ctx, rc, f)
	if err != nil {
		return n, err
	}
	if unknown {
		f.Size = n
		f.ModTime = f.ModTime.UTC().Truncate(0)
		return n, nil
	}
	if n != f.Size {
		return n, &sourceError{fmt.Errorf("file %q %w: expected %d bytes, read %d", f.Path, errChanged, f.Size, n)}
	}
	if fi := statOf(rc); fi != nil && (fi.Size() != f.Size || !fi.ModTime().Equal(f.ModTime)) {
		return n, &sourceError{fmt.Errorf("file %q %w: size or modification time differ after reading", f.Path, errChanged)}
	}
	f.ModTime = f.ModTime.UTC().Truncate(0)
	return n, nil
}

// statOf returns the Stat of a reader that has one (an fs.File), or nil.
func statOf(rc io.Reader) fs.FileInfo {
	st, ok := rc.(interface{ Stat() (fs.FileInfo, error) })
	if !ok {
		return nil
	}
	fi, err := st.Stat()
	if err != nil {
		return nil
	}
	return fi
}

// chunkFile reads rc to its end, chunking, hashing and saving it into f,
// and returns the bytes read. A read error is a *sourceError.
func (a *archiver) chunkFile(ctx context.Context, rc io.Reader, f *File) (int64, error) {
	buf := a.e.bufs.Get(f.Size)
	defer a.e.bufs.Put(buf)
	h := sha256.New()
	c := repo.NewChunker(a.r.Gear(), rc, buf.B)
	var n int64
	for {
		chunk, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			return n, &sourceError{fmt.Errorf("read %q: %w", f.Path, err)}
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		h.Write(chunk)
		id := a.r.ChunkID(chunk)
		if _, err := a.saver.Save(id, chunk, !a.o.DisableCompression); err != nil {
			return n, err
		}
		f.Chunks = append(f.Chunks, ChunkRef{ID: id.String(), Size: int64(len(chunk))})
		n += int64(len(chunk))
		a.readBytes.Add(int64(len(chunk)))
	}
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	return n, nil
}

package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/iluxsys/steward/internal/repo"
)

// readFiles is one read worker: it reads each job walk sends until jobs
// is closed, then returns. A file that fails sets the job's err (collect
// returns it, cancelling the rest); done is closed either way.
func (a *archiver) readFiles(ctx context.Context) error {
	for j := range a.jobs {
		j.err = a.readFile(ctx, &j.file)
		close(j.done)
	}
	return nil
}

// readFile reads one file, hands its chunks to the Saver, and fills f's
// SHA-256 and chunk list, adding the bytes it saves to a.readBytes as it
// goes. The file must yield exactly the size the walk reported; a file
// that changes while being read fails the backup rather than recording
// bytes that disagree with its metadata.
func (a *archiver) readFile(ctx context.Context, f *File) error {
	rc, err := openEntry(ctx, a.src, f.Entry)
	if err != nil {
		return err
	}
	defer rc.Close()
	buf := a.e.getChunkerBuf(f.Size)
	defer a.e.putChunkerBuf(buf)
	h := sha256.New()
	c := repo.NewChunker(a.r.Gear(), rc, buf.b)
	var n int64
	for {
		chunk, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %q: %w", f.Path, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		h.Write(chunk)
		id := a.r.ChunkID(chunk)
		if _, err := a.saver.Save(id, chunk, a.o.Compress); err != nil {
			return err
		}
		f.Chunks = append(f.Chunks, ChunkRef{ID: id.String(), Size: int64(len(chunk))})
		n += int64(len(chunk))
		a.readBytes.Add(int64(len(chunk)))
	}
	if n != f.Size {
		return fmt.Errorf("file %q changed during the backup: walked %d bytes, read %d", f.Path, f.Size, n)
	}
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	f.ModTime = f.ModTime.UTC().Truncate(0)
	return nil
}

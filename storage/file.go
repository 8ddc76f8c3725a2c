package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// tmpPrefix marks the file adapter's temporary files; List hides them.
const tmpPrefix = ".steward-tmp-"

// fileCreate writes key under dir only if it does not exist, atomically
// across processes: the bytes go to a temporary file in the same directory,
// which is fsynced and then hard-linked to the final name. link(2) fails with
// EEXIST when the name exists, so exactly one concurrent creator wins, and a
// reader never sees a partial object.
func fileCreate(ctx context.Context, dir, key string, r io.Reader) (err error) {
	final := filepath.Join(dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return &Error{Op: "put", Key: key, Err: err}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(final), tmpPrefix+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return &Error{Op: "put", Key: key, Err: err}
	}
	defer os.Remove(tmp)
	if _, err := io.Copy(f, &ctxReader{ctx: ctx, r: r}); err != nil {
		f.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Error{Op: "put", Key: key, Err: err}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return &Error{Op: "put", Key: key, Err: err}
	}
	if err := f.Close(); err != nil {
		return &Error{Op: "put", Key: key, Err: err}
	}
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &Error{Op: "put", Key: key, Err: ErrExists}
		}
		return &Error{Op: "put", Key: key, Err: err}
	}
	return syncDir(filepath.Dir(final), key)
}

// syncDir fsyncs a directory so a new name in it survives a crash of the
// machine, not only of the process. Filesystems that cannot sync a directory
// (EINVAL, EBADF on some platforms) are not an error: the link is already in
// place and visible to every process.
func syncDir(dir, key string) error {
	d, err := os.Open(dir)
	if err != nil {
		return &Error{Op: "put", Key: key, Err: err}
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.EBADF) {
		return &Error{Op: "put", Key: key, Err: err}
	}
	return nil
}

// ctxReader stops reading when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

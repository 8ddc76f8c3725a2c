//go:build linux

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
	"strconv"

	"golang.org/x/sys/unix"
)

// stageFile and putStagedFile make the directory store a Stager.
var (
	stageFile     = stageUnnamed
	putStagedFile = putUnnamed
)

// stageUnnamed makes an unnamed file (O_TMPFILE) in the directory that will
// hold key in the directory store dir. A file system without unnamed
// files is errors.ErrUnsupported.
func stageUnnamed(dir, key string) (*os.File, error) {
	d := filepath.Dir(filepath.Join(dir, filepath.FromSlash(key)))
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, &Error{Op: "put", Key: key, Err: err}
	}
	fd, err := unix.Open(d, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o644)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL):
		return nil, errors.ErrUnsupported
	case err != nil:
		return nil, &Error{Op: "put", Key: key, Err: err}
	}
	return os.NewFile(uintptr(fd), d+"/(staged "+filepath.Base(key)+")"), nil
}

// putUnnamed gives f, from stageUnnamed, the name of key in the directory
// store dir, as fileWrite does for a file it wrote: fsynced first, then
// linked into place (with create set, failing with ErrExists when the
// name exists; otherwise replacing it through a temporary name), and the
// directory fsynced. Where the file cannot be linked (no /proc), its bytes
// are copied with fileWrite.
func putUnnamed(ctx context.Context, dir, key string, f *os.File, create bool) error {
	defer f.Close()
	if err := f.Sync(); err != nil {
		return &Error{Op: "put", Key: key, Err: err}
	}
	final := filepath.Join(dir, filepath.FromSlash(key))
	proc := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	link := func(name string) error {
		return unix.Linkat(unix.AT_FDCWD, proc, unix.AT_FDCWD, name, unix.AT_SYMLINK_FOLLOW)
	}
	err := link(final)
	switch {
	case err == nil:
		return syncDir(filepath.Dir(final), key)
	case errors.Is(err, fs.ErrExist) && create:
		return &Error{Op: "put", Key: key, Err: ErrExists}
	case errors.Is(err, fs.ErrExist):
		return replaceStaged(key, final, link)
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EXDEV):
		size, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			return &Error{Op: "put", Key: key, Err: err}
		}
		return fileWrite(ctx, dir, key, io.NewSectionReader(f, 0, size), create)
	}
	return &Error{Op: "put", Key: key, Err: err}
}

// replaceStaged links the staged file under a temporary name beside final
// and renames it over final.
func replaceStaged(key, final string, link func(string) error) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(final), tmpPrefix+hex.EncodeToString(rnd[:]))
	if err := link(tmp); err != nil {
		return &Error{Op: "put", Key: key, Err: err}
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return &Error{Op: "put", Key: key, Err: err}
	}
	return syncDir(filepath.Dir(final), key)
}

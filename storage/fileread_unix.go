//go:build unix

package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// smallRead: a range of at most this many bytes is read whole when it is
// opened, its file closed at once.
const smallRead = 256 << 10

// fileRange is readFileRange where the directory store reads files itself.
var fileRange = readFileRange

// readFileRange opens n bytes from off (n < 0: to the end; past the end:
// what exists) of the object at key of the directory store dir. It
// reads the file itself: open, fstat, pread and close for a small range
// (four system calls; fileblob's reader made eleven, reading a sidecar
// attributes file among them, 32 µs for an index object on tmpfs where
// this takes 10), a section of the open file for a larger one. A key
// that names no regular file is ErrNotFound.
func readFileRange(ctx context.Context, dir, key string, off, n int64) (io.ReadCloser, error) {
	p := filepath.Join(dir, filepath.FromSlash(key))
	fd, err := openRead(p)
	if err != nil {
		return nil, fileGetError(key, err)
	}
	var st syscall.Stat_t
	if err := fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, fileGetError(key, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return nil, fileGetError(key, fs.ErrNotExist)
	}
	off = min(off, st.Size)
	end := st.Size
	if n >= 0 && n < end-off {
		end = off + n
	}
	if end-off > smallRead {
		f := os.NewFile(uintptr(fd), p)
		return &fileSection{SectionReader: io.NewSectionReader(f, off, end-off), f: f, ctx: ctx, key: key}, nil
	}
	defer syscall.Close(fd)
	buf := make([]byte, end-off)
	got := 0
	for got < len(buf) {
		m, err := syscall.Pread(fd, buf[got:], off+int64(got))
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, &Error{Op: "read", Key: key, Err: err}
		}
		if m == 0 {
			break // shrank since fstat: what exists
		}
		got += m
	}
	return memReader{bytes.NewReader(buf[:got])}, nil
}

// memReader is a range read whole; it tells its Size (see ReadAllLimit).
type memReader struct{ *bytes.Reader }

func (memReader) Close() error { return nil }

// openRead opens p for reading, retrying when interrupted.
func openRead(p string) (int, error) {
	for {
		fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if !errors.Is(err, syscall.EINTR) {
			return fd, err
		}
	}
}

// fstat is syscall.Fstat, retried when interrupted.
func fstat(fd int, st *syscall.Stat_t) error {
	for {
		if err := syscall.Fstat(fd, st); !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// fileGetError is the Store error of a failed open: ErrNotFound when no
// file is there (a parent that is a file included), ErrPermission when
// it may not be read.
func fileGetError(key string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ENAMETOOLONG):
		return &Error{Op: "get", Key: key, Err: &causeError{sentinel: ErrNotFound, cause: err}}
	case errors.Is(err, fs.ErrPermission):
		return &Error{Op: "get", Key: key, Err: &causeError{sentinel: ErrPermission, cause: err}}
	}
	return &Error{Op: "get", Key: key, Err: err}
}

// fileSection streams a large range from an open file.
type fileSection struct {
	*io.SectionReader
	f   *os.File
	ctx context.Context
	key string
}

func (s *fileSection) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.SectionReader.Read(p)
	if err != nil && err != io.EOF {
		err = &Error{Op: "read", Key: s.key, Err: err}
	}
	return n, err
}

func (s *fileSection) Close() error { return s.f.Close() }

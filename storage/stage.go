package storage

import (
	"context"
	"errors"
	"os"
)

// Stager is a Store on a local file system that takes a file the caller
// wrote as an object without copying it: Stage makes an unnamed file next
// to where the object will lie, the caller writes the object's bytes into
// it, and PutStaged gives it the object's name. A backup writes its packs
// this way into a directory store instead of into a temporary file it then
// copies (a read and a write of every stored byte). A staged file that is
// never put, or whose process dies, leaves nothing behind.
//
// Stage fails with errors.ErrUnsupported where it cannot make such a file
// (another platform, a file system without unnamed files, a wrapper over a
// store that is not a Stager); the caller then writes through Put.
type Stager interface {
	// Stage returns an empty unnamed file, open for reading and writing,
	// on the file system that will hold key.
	Stage(key string) (*os.File, error)
	// PutStaged makes the whole content of f, a file from Stage, the
	// object key, as Put would with the same bytes (opts.IfNotExist
	// included), and closes f whatever the outcome.
	PutStaged(ctx context.Context, key string, f *os.File, opts *PutOptions) error
}

// Stage is s's Stage when s is a Stager, else errors.ErrUnsupported.
func Stage(s Store, key string) (*os.File, error) {
	if st, ok := s.(Stager); ok {
		return st.Stage(key)
	}
	return nil, errors.ErrUnsupported
}

func (s *bucketStore) Stage(key string) (*os.File, error) {
	if s.stage == nil {
		return nil, errors.ErrUnsupported
	}
	if err := s.validate(key); err != nil {
		return nil, err
	}
	return s.stage(key)
}

func (s *bucketStore) PutStaged(ctx context.Context, key string, f *os.File, opts *PutOptions) error {
	if s.putStaged == nil {
		f.Close()
		return &Error{Op: "put", Key: key, Err: errors.ErrUnsupported}
	}
	if err := s.validate(key); err != nil {
		f.Close()
		return err
	}
	if err := ctx.Err(); err != nil {
		f.Close()
		return err
	}
	return s.putStaged(ctx, key, f, opts != nil && opts.IfNotExist)
}

// Stage and PutStaged pass through: a local file system's errors are not
// transient, so a retry would only repeat them.
func (r *retryStore) Stage(key string) (*os.File, error) { return Stage(r.inner, key) }

func (r *retryStore) PutStaged(ctx context.Context, key string, f *os.File, opts *PutOptions) error {
	st, ok := r.inner.(Stager)
	if !ok {
		f.Close()
		return &Error{Op: "put", Key: key, Err: errors.ErrUnsupported}
	}
	return st.PutStaged(ctx, key, f, opts)
}

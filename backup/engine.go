package backup

import (
	"context"
	"errors"
	"io"
	"iter"

	"github.com/iluxsys/steward/storage"
)

// KeyProvider wraps and unwraps a scope's random 256-bit data key. The
// wrapped form is stored in the scope's repository config with KeyID.
type KeyProvider interface {
	// KeyID names the wrapping key (recorded as key_id in every manifest).
	KeyID() string
	// Wrap encrypts dataKey for scope.
	Wrap(ctx context.Context, scope string, dataKey []byte) ([]byte, error)
	// Unwrap decrypts a wrapped key; an error matching ErrWrongKey when the
	// provider's key is not the one that wrapped it.
	Unwrap(ctx context.Context, scope string, wrapped []byte) ([]byte, error)
}

// Errors callers may match with errors.Is.
var (
	ErrNotFound    = errors.New("backup: not found")
	ErrWrongKey    = errors.New("backup: wrong key")
	ErrCorrupt     = errors.New("backup: corrupt object")
	ErrLocked      = errors.New("backup: repository is locked")
	errUnavailable = errors.New("backup: engine is being built")
)

// Engine takes and catalogs snapshots. It is safe for concurrent use.
type Engine struct {
	store storage.Store
	cfg   Config
}

// New returns an Engine over store.
func New(store storage.Store, cfg *Config) (*Engine, error) {
	e := &Engine{store: store}
	if cfg != nil {
		e.cfg = *cfg
	}
	return e, nil
}

// Store returns the Store the engine writes to.
func (e *Engine) Store() storage.Store { return e.store }

// Backup takes a snapshot of src for tenant (or General).
func (e *Engine) Backup(ctx context.Context, tenant string, src Source, opts *Options) (*Snapshot, error) {
	return nil, errUnavailable
}

// Catalog lists tenant's snapshots, newest first, without their entry lists.
func (e *Engine) Catalog(ctx context.Context, tenant string) ([]Snapshot, error) {
	return nil, errUnavailable
}

// Snapshot returns one snapshot; ErrNotFound when it does not exist.
func (e *Engine) Snapshot(ctx context.Context, tenant, id string) (*Snapshot, error) {
	return nil, errUnavailable
}

// Tenants lists the tenants that have a repository (not General or Releases).
func (e *Engine) Tenants(ctx context.Context) ([]string, error) {
	return nil, errUnavailable
}

// Files streams the snapshot's entry list in lexical path order.
func (e *Engine) Files(ctx context.Context, tenant, snapshotID string) iter.Seq2[File, error] {
	return func(yield func(File, error) bool) { yield(File{}, errUnavailable) }
}

// OpenFile streams a file's content, verifying every chunk against its ID.
func (e *Engine) OpenFile(ctx context.Context, tenant string, f File) (io.ReadCloser, error) {
	return nil, errUnavailable
}

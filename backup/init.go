package backup

import (
	"context"
	"errors"
	"fmt"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/storage"
)

// ErrExists: Init was asked to create a scope whose repository already
// exists; nothing was written.
var ErrExists = errors.New("already exists")

// Init creates the repository of tenant (or General, or Releases) without
// taking a backup: its config object and data key, the key wrapped by
// Config.Keys when encrypt is set (or whenever the engine has keys, see
// Config.AllowPlaintext), and the tenant's registry entry. A later
// Backup of the scope uses this repository, so an encrypted scope can be set
// up, and its passphrase tested, before the first backup.
//
// The tenant ID is validated, encrypt is checked against Config.Keys and
// the principal in ctx must be allowed steward.ActionBackupCreate (the
// master role by default) before any I/O: an invalid tenant gives an error
// matching steward.ErrInvalidTenant, a missing key provider ErrInvalidOptions
// and a refusal steward.ErrForbidden, and nothing is written. When the
// scope already has a repository (a config or a data key, even one whose
// creation was interrupted) Init changes nothing and returns an error
// matching ErrExists.
//
// The existence check and the create are not one atomic step: when another
// process creates the same scope between them, Init adopts that repository
// (nothing is overwritten) and returns nil. Every attempt that passes the
// access check is recorded in the audit trail. Init is safe for concurrent
// use.
func (e *Engine) Init(ctx context.Context, tenant string, encrypt bool) error {
	prefix, err := scopePrefix(tenant)
	if err != nil {
		return err
	}
	if encrypt && e.cfg.Keys == nil {
		return fmt.Errorf("%w: Init with encrypt needs Config.Keys (a passphrase or KMS key provider)", ErrInvalidOptions)
	}
	task, err := op.Start(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionBackupCreate, tenant)
	if err != nil {
		return err
	}
	kind := "unencrypted"
	if e.encrypts(encrypt) {
		kind = "encrypted"
	}
	err = e.init(ctx, tenant, prefix, encrypt, kind)
	task.Finish(ctx, err, audit.TypeRepoInitialized, fmt.Sprintf("%s repository of %q created", kind, tenant), nil)
	return err
}

func (e *Engine) init(ctx context.Context, tenant, prefix string, encrypt bool, kind string) error {
	// The key is written first when a repository is created, so a key
	// without a config is an interrupted create: the scope exists, and its
	// next Backup completes it.
	for _, obj := range []string{"config", "key"} {
		_, err := e.store.Stat(ctx, prefix+obj)
		if err == nil {
			return errs.Errorf("backup", "scope %q already has a repository (%s); Init creates new scopes only, Backup adds to this one: %w", tenant, prefix+obj, ErrExists)
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return errs.Errorf("backup", "init %q: %w", tenant, err)
		}
	}
	// A repository cached before the check is stale: its objects are gone.
	e.forgetRepo(tenant)
	r, err := e.repo(ctx, tenant, true, encrypt)
	if err != nil {
		return err
	}
	if r.Encrypted() != e.encrypts(encrypt) {
		return errs.Errorf("backup", "scope %q was created meanwhile by another process, not %s: %w", tenant, kind, ErrExists)
	}
	return nil
}

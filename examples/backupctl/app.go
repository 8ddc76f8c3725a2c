package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
)

// app holds what the commands share, opened on first use.
type app struct {
	storeURL     string
	user         string
	jsonOut      bool
	noProgress   bool      // --no-progress: never draw a progress bar
	passwordEnv  string    // names the environment variable holding the passphrase
	kdfMemoryMiB uint      // argon2id memory for keys wrapped by this run
	out          io.Writer // the command's output (cmd.OutOrStdout)
	errOut       io.Writer // where notes go (cmd.ErrOrStderr)
	bar          *progress // the progress bar of backup or restore, if drawn

	singleWriter   bool // --single-writer: this process is the store's only writer
	allowPlaintext bool // --allow-plaintext: open unencrypted scopes though a passphrase is set

	store    storage.Store
	readOnly bool // the store was opened by a read-only command (see beginRead)
	engine   *backup.Engine
	log      *audit.Log

	cpuProfile, memProfile string
	stopProfiles           func()
}

func (a *app) ctx(cmd *cobra.Command) context.Context {
	return steward.WithPrincipal(cmd.Context(), steward.Principal{ID: a.user, Roles: []string{steward.RoleMaster}})
}

// keys returns a passphrase key provider when the environment variable
// named by --password-env holds one, else nil (unencrypted scopes need none).
func (a *app) keys() backup.KeyProvider {
	if p := a.passphrase(); p != "" {
		// The parameters apply to keys wrapped from now on (a new scope, a
		// rekey); an existing key opens with those stored beside it.
		return backup.PassphraseWithOptions(p, backup.PassphraseOptions{MemoryKiB: uint32(a.kdfMemoryMiB) << 10})
	}
	return nil
}

func (a *app) passphrase() string {
	if a.passwordEnv == "" {
		return ""
	}
	return os.Getenv(a.passwordEnv)
}

// needPassphrase is called before the store is opened by commands that
// take --encrypt: asked to encrypt without a passphrase they fail at once,
// naming the variable.
func (a *app) needPassphrase(encrypt bool) error {
	if !encrypt {
		return nil
	}
	if a.passwordEnv == "" {
		return errors.New("--encrypt needs a passphrase: --password-env is empty; name the environment variable that holds it")
	}
	if a.passphrase() == "" {
		return fmt.Errorf("--encrypt needs a passphrase: environment variable %s is empty or unset; set it, or name another with --password-env", a.passwordEnv)
	}
	return nil
}

// restorer returns a Restorer over the app's engine (open it first with
// begin) that records on the app's auditor; parallel is
// restore.Config.Parallelism (0: the default).
func (a *app) restorer(parallel int) *restore.Restorer {
	return restore.New(a.engine, &restore.Config{Parallelism: parallel, Auditor: a.auditor()})
}

// validator is the restorer of validate and drill, whose scratch restores
// report to bar (a nil bar draws nothing).
func (a *app) validator(bar *progress) *restore.Restorer {
	return restore.New(a.engine, &restore.Config{Auditor: a.auditor(), Progress: bar.callback()})
}

func (a *app) close() error {
	if a.stopProfiles != nil {
		a.stopProfiles()
	}
	if a.store != nil {
		return a.store.Close()
	}
	return nil
}

// print prints v as JSON with --json, else runs text.
func (a *app) print(v any, text func()) error {
	if a.jsonOut {
		enc := json.NewEncoder(a.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text()
	return nil
}

func (a *app) register(root *cobra.Command) {
	root.AddCommand(a.initCmd(), a.backupCmd(), a.catalogCmd(), a.snapshotCmd(), a.tenantsCmd(), a.restoreCmd(), a.validateCmd(), a.drillCmd(), a.filesCmd(),
		a.auditCmd(), a.dashboardCmd(), a.keyCmd(), a.flagsCmd(),
		a.forgetCmd(), a.pruneCmd(), a.checkCmd(), a.repairCmd(), a.unlockCmd(), a.policyCmd(), a.releaseCmd(), a.healthCmd(), a.fleetCmd())
	a.cliErrors(root)
}

// nonNil returns s, or an empty slice when s is nil, so that JSON prints
// an empty list as [] and not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

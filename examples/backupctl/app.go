package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
	_ "github.com/iluxsys/steward/storage/cloud" // s3://, gs://, azblob://
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
	bar          *progress // the progress bar of backup or restore, if drawn

	store  storage.Store
	engine *backup.Engine
	log    *audit.Log

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

func (a *app) open(ctx context.Context) (*backup.Engine, error) {
	if a.engine != nil {
		return a.engine, nil
	}
	s, err := storage.Open(ctx, a.storeURLOrEnv())
	if err != nil {
		return nil, err
	}
	a.store = storage.WithRetry(s, nil)
	// Every operation is recorded in the store's hash-chained audit log;
	// failures are also logged on stderr.
	a.log, err = audit.NewLog(ctx, a.store, &audit.LogConfig{RecordKey: []byte(os.Getenv("STEWARD_AUDIT_KEY"))})
	if err != nil {
		return nil, err
	}
	a.engine, err = backup.New(a.store, &backup.Config{Keys: a.keys(), Auditor: a.auditor()})
	return a.engine, err
}

// begin is every command's preamble: the context carrying the CLI's
// principal, and the engine over the store (opened on first use).
func (a *app) begin(cmd *cobra.Command) (context.Context, *backup.Engine, error) {
	ctx := a.ctx(cmd)
	e, err := a.open(ctx)
	return ctx, e, err
}

func (a *app) auditor() audit.Auditor {
	return audit.Notifying(a.log, nil, nil, audit.Slog{Logger: slog.New(slog.NewTextHandler(stderrLog{a}, nil))})
}

// restorer returns a Restorer over the app's engine (open it first with
// begin) that records on the app's auditor; parallel is
// restore.Config.Parallelism (0: the default).
func (a *app) restorer(parallel int) *restore.Restorer {
	return restore.New(a.engine, &restore.Config{Parallelism: parallel, Auditor: a.auditor()})
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
		a.forgetCmd(), a.pruneCmd(), a.checkCmd(), a.policyCmd(), a.releaseCmd())
	a.hintAll(root)
}

// hintAll makes every command's error name the passphrase variable when an
// encrypted scope was opened without a passphrase.
func (a *app) hintAll(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			if errors.Is(err, backup.ErrWrongKey) && a.passphrase() == "" {
				return fmt.Errorf("%w (no passphrase: environment variable %s is empty or unset; set it, or name another with --password-env)", err, a.passwordEnv)
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		a.hintAll(sub)
	}
}

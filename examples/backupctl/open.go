package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/storage"
)

// begin is the preamble of a command that may write: the context carrying
// the CLI's principal, and the engine over the store, which is created
// when it does not exist yet.
func (a *app) begin(cmd *cobra.Command) (context.Context, *backup.Engine, error) {
	ctx := a.ctx(cmd)
	e, err := a.open(ctx, false)
	return ctx, e, err
}

// beginRead is begin for a read-only command: the store must exist
// (storage.OpenExisting: a missing directory is an error matching
// storage.ErrNotFound, and nothing is created) and every write through it
// is refused.
func (a *app) beginRead(cmd *cobra.Command) (context.Context, *backup.Engine, error) {
	ctx := a.ctx(cmd)
	e, err := a.open(ctx, true)
	return ctx, e, err
}

// wrapStore wraps the store every command opens; tests replace it (with a
// store that ignores conditional create, say).
var wrapStore = func(s storage.Store) storage.Store { return s }

// open opens the store, its audit log and the engine, once per run.
func (a *app) open(ctx context.Context, readOnly bool) (*backup.Engine, error) {
	if a.engine != nil {
		return a.engine, nil
	}
	url := a.storeURLOrEnv()
	a.noteDefaultStore(url)
	var s storage.Store
	var err error
	if readOnly {
		s, err = storage.OpenExisting(ctx, url)
	} else {
		s, err = storage.Open(ctx, url)
	}
	if err != nil {
		return nil, err
	}
	a.store, a.readOnly = storage.WithRetry(wrapStore(s), nil), readOnly
	// Every change is recorded in the store's hash-chained audit log. A
	// read-only command opens the log to read it (audit export, verify,
	// dashboard) and writes nothing, so it is trivially the only writer:
	// it declares SingleWriter, which skips the capability probe (a probe
	// writes, and the read-only store would refuse it).
	a.log, err = audit.NewLog(ctx, a.store, &audit.LogConfig{
		RecordKey:    []byte(os.Getenv("STEWARD_AUDIT_KEY")),
		SingleWriter: a.singleWriter || readOnly,
	})
	if err != nil {
		return nil, err
	}
	a.engine, err = backup.New(a.store, &backup.Config{
		Keys:           a.keys(),
		Auditor:        a.auditor(),
		SingleWriter:   a.singleWriter,
		AllowPlaintext: a.allowPlaintext,
		Protect:        a.protects,
	})
	return a.engine, err
}

// protects is the engine's backup.Config.Protect: a release's artifact
// snapshot cannot be forgotten without --force, including artifacts
// created before releases tagged them. Only the Releases scope asks the
// release log; when it cannot be read the answer is "protected".
func (a *app) protects(ctx context.Context, scope, id string) bool {
	if scope != backup.Releases {
		return false
	}
	m, err := release.NewManager(a.store, &release.Config{Engine: a.engine, RecordKey: []byte(os.Getenv("STEWARD_RELEASE_KEY")), SingleWriter: true})
	if err != nil {
		return true
	}
	return m.Protects(ctx, scope, id)
}

// auditor is the Auditor every package is given.
//
// A read-only command audits nothing: its events (a listing, a read, a
// validation into scratch memory) change nothing in the store, and
// recording them would be a write to the store the command promises not
// to touch; printing them on stderr would add a line to every command
// for no decision an operator takes. Denials still fail the command, and
// its error is printed. A host that must audit reads embeds the SDK with
// a writable Auditor.
//
// A command that writes records in the log. Failures are not also logged
// on stderr (the command returns the error and main prints it once);
// only an RPO breach, which fails nothing, is.
func (a *app) auditor() audit.Auditor {
	if a.readOnly {
		return audit.Nop()
	}
	rpoOnly := func(e *audit.Event) bool { return e.Type == audit.TypeRPOBreach }
	return audit.Notifying(a.log, rpoOnly, nil, audit.Slog{Logger: slog.New(slog.NewTextHandler(stderrLog{a}, nil))})
}

// noteDefaultStore names the store on stderr when neither --store nor
// $STEWARD_STORE chose it, so an operator sees where the default put it.
func (a *app) noteDefaultStore(url string) {
	if a.storeURL != "" || os.Getenv("STEWARD_STORE") != "" || a.errOut == nil {
		return
	}
	dir, err := storage.FileURLDir(url)
	if err != nil {
		return
	}
	fmt.Fprintf(a.errOut, "backupctl: store %s (the default; choose one with --store or $STEWARD_STORE)\n", dir)
}

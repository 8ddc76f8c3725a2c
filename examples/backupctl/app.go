package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

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

func (a *app) auditor() audit.Auditor {
	return audit.Notifying(a.log, nil, nil, audit.Slog{Logger: slog.New(slog.NewTextHandler(stderrLog{a}, nil))})
}

func (a *app) restorer() *restore.Restorer {
	return restore.New(a.engine, &restore.Config{Auditor: a.auditor()})
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
		a.auditCmd(), a.dashboardCmd(), a.keyCmd(), a.flagsCmd())
	root.AddCommand(a.retentionCmds()...)
	root.AddCommand(a.releaseCmd())
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

func (a *app) initCmd() *cobra.Command {
	var tenant string
	var encrypt, general bool
	cmd := &cobra.Command{
		Use:   "init --tenant T [--general] [--encrypt]",
		Short: "Create a scope's repository without taking a backup",
		Long: `Create the repository of a tenant (or of the shared general structure with
--general): its config and data key, the key wrapped with the passphrase when
--encrypt is given. Nothing is backed up; later backups go into this
repository. A scope that already exists is left unchanged and init fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.needPassphrase(encrypt); err != nil {
				return err
			}
			if general {
				tenant = backup.General
			}
			ctx := a.ctx(cmd)
			e, err := a.open(ctx)
			if err != nil {
				return err
			}
			if err := e.Init(ctx, tenant, encrypt); err != nil {
				return err
			}
			res := struct {
				Tenant    string `json:"tenant"`
				Encrypted bool   `json:"encrypted"`
			}{tenant, encrypt}
			return a.print(res, func() {
				kind := "unencrypted"
				if encrypt {
					kind = "encrypted"
				}
				fmt.Fprintf(a.out, "created %s repository of %q\n", kind, tenant)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", "", "tenant ID")
	f.BoolVar(&general, "general", false, "create the shared general structure's repository instead of a tenant's")
	f.BoolVar(&encrypt, "encrypt", false, "encrypt the scope (the passphrase is read from the variable named by --password-env)")
	cmd.MarkFlagsMutuallyExclusive("tenant", "general")
	return cmd
}

func (a *app) backupCmd() *cobra.Command {
	var tenant, source, tags, platform, schema string
	var full, encrypt, noCompress, general bool
	cmd := &cobra.Command{
		Use:   "backup --tenant T --source DIR",
		Short: "Back up a directory for a tenant (incremental unless --full)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.needPassphrase(encrypt); err != nil {
				return err
			}
			ctx := a.ctx(cmd)
			e, err := a.open(ctx)
			if err != nil {
				return err
			}
			if general {
				tenant = backup.General
			}
			opts := &backup.Options{Type: backup.Incremental, Compress: !noCompress, Encrypt: encrypt, PlatformVersion: platform, SchemaVersion: schema}
			if full {
				opts.Type = backup.Full
			}
			if tags != "" {
				opts.Tags = strings.Split(tags, ",")
			}
			bar := a.progress(cmd.ErrOrStderr(), "backup")
			opts.Progress = bar.callback()
			s, err := e.Backup(ctx, tenant, backup.DirSource(source), opts)
			bar.finish()
			if err != nil {
				return err
			}
			return a.print(s, func() {
				fmt.Fprintf(a.out, "snapshot %s (%s): %d files, %d bytes, %d stored, %s\n", s.ID, s.Type, s.Metadata.FileCount,
					s.Metadata.SizeBytes, s.Metadata.StoredBytes, time.Duration(s.Metadata.DurationMS)*time.Millisecond)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", "", "tenant ID")
	f.BoolVar(&general, "general", false, "back up the shared general structure instead of a tenant")
	f.StringVar(&source, "source", "", "directory to back up (one subdirectory per module)")
	f.BoolVar(&full, "full", false, "read every file again (default: incremental)")
	f.BoolVar(&encrypt, "encrypt", false, "encrypt the scope (the passphrase is read from the variable named by --password-env)")
	f.BoolVar(&noCompress, "no-compress", false, "store chunks uncompressed")
	f.StringVar(&tags, "tags", "", "comma-separated tags")
	f.StringVar(&platform, "platform-version", "", "platform version to record")
	f.StringVar(&schema, "schema-version", "", "schema version to record")
	_ = cmd.MarkFlagRequired("source")
	return cmd
}

func (a *app) catalogCmd() *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:     "catalog --tenant T",
		Aliases: []string{"snapshots"},
		Short:   "List a tenant's snapshots, newest first (also: snapshots)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := a.ctx(cmd)
			e, err := a.open(ctx)
			if err != nil {
				return err
			}
			cat, err := e.Catalog(ctx, tenant)
			if err != nil {
				return err
			}
			return a.print(cat, func() {
				for _, s := range cat {
					fmt.Fprintf(a.out, "%s  %-11s  %s  %6d files  %12d bytes  %s\n", s.ID, s.Type, s.Timestamp.Format(time.RFC3339), s.Metadata.FileCount, s.Metadata.SizeBytes, strings.Join(s.Tags, ","))
				}
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	return cmd
}

func (a *app) snapshotCmd() *cobra.Command {
	var tenant, id string
	cmd := &cobra.Command{
		Use:   "snapshot --tenant T --id ID|latest",
		Short: "Show one snapshot's manifest (metadata, checksums, components)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := a.ctx(cmd)
			e, err := a.open(ctx)
			if err != nil {
				return err
			}
			s, err := e.Snapshot(ctx, tenant, id)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(a.out)
			enc.SetIndent("", "  ")
			return enc.Encode(s)
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	cmd.Flags().StringVar(&id, "id", "latest", "snapshot ID or latest")
	return cmd
}

func (a *app) filesCmd() *cobra.Command {
	var tenant, id string
	cmd := &cobra.Command{
		Use:   "files --tenant T --id ID|latest",
		Short: "List a snapshot's entries with their SHA-256",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := a.ctx(cmd)
			e, err := a.open(ctx)
			if err != nil {
				return err
			}
			for f, err := range e.Files(ctx, tenant, id) {
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "%s  %10d  %s  %s\n", f.Mode, f.Size, f.SHA256, f.Path)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	cmd.Flags().StringVar(&id, "id", "latest", "snapshot ID or latest")
	return cmd
}

func (a *app) tenantsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "tenants",
		Short: "List the tenants that have backups",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := a.ctx(cmd)
			e, err := a.open(ctx)
			if err != nil {
				return err
			}
			ts, err := e.Tenants(ctx)
			if err != nil {
				return err
			}
			return a.print(ts, func() { fmt.Fprintln(a.out, strings.Join(ts, "\n")) })
		},
	}
}

func (a *app) restoreCmd() *cobra.Command {
	var tenant, id, target, mode, modules string
	var validate, safety, dryRun bool
	var parallel int
	cmd := &cobra.Command{
		Use:   "restore --tenant T --snapshot ID|latest --target DIR [--mode full|selective|merge] [--modules a,b] [--dry-run]",
		Short: "Restore a snapshot into a directory",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := a.ctx(cmd)
			e, err := a.open(ctx)
			if err != nil {
				return err
			}
			opts := &restore.Options{Mode: restore.Mode(mode), Validate: validate, SafetyBackup: safety, DryRun: dryRun}
			if modules != "" {
				opts.Modules = strings.Split(modules, ",")
			}
			bar := a.progress(cmd.ErrOrStderr(), "restore")
			opts.Progress = bar.callback()
			rep, err := restore.New(e, &restore.Config{Parallelism: parallel, Auditor: a.auditor()}).Restore(ctx, tenant, id, restore.DirTarget(target), opts)
			bar.finish()
			if err != nil {
				return err
			}
			return a.print(rep, func() {
				if p := rep.Plan; p != nil {
					for _, d := range p.Decisions {
						fmt.Fprintf(a.out, "%-10s %s  %s\n", d.Action, d.Path, d.Reason)
					}
					fmt.Fprintf(a.out, "dry run of %s: would restore %d files (%d bytes), create %d directories, remove %d entries; %d unchanged, %d kept newer, %d conflicts\n",
						rep.SnapshotID, p.FilesRestored, p.BytesRestored, p.DirsCreated, p.EntriesRemoved, p.FilesUnchanged, p.FilesKept, p.Conflicts)
					return
				}
				fmt.Fprintf(a.out, "restored %s: %d files (%d bytes), %d unchanged, %d kept newer, %d removed, %d conflicts in %s\n", rep.SnapshotID,
					rep.FilesRestored, rep.BytesRestored, rep.FilesUnchanged, rep.FilesKept, rep.EntriesRemoved, rep.Conflicts, rep.Duration.Round(time.Millisecond))
				if rep.SafetySnapshotID != "" {
					fmt.Fprintf(a.out, "safety backup: %s\n", rep.SafetySnapshotID)
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", "", "tenant ID")
	f.StringVar(&id, "snapshot", "latest", "snapshot ID or latest")
	f.StringVar(&target, "target", "", "directory to restore into")
	f.StringVar(&mode, "mode", "full", "full, selective or merge")
	f.StringVar(&modules, "modules", "", "modules of a selective restore, comma-separated")
	f.BoolVar(&validate, "validate", false, "check each file's SHA-256 as it is written and every module checksum (one more SHA-256 pass; every chunk is verified either way)")
	f.BoolVar(&safety, "safety-backup", false, "snapshot the target first (tag pre-restore)")
	f.IntVar(&parallel, "parallel", 0, "files restored at once (default 4×CPUs)")
	f.BoolVar(&dryRun, "dry-run", false, "print what the restore would do, path by path, and write nothing")
	_ = cmd.MarkFlagRequired("target")
	return cmd
}

func (a *app) validateCmd() *cobra.Command {
	var tenant, id string
	cmd := &cobra.Command{
		Use:   "validate --tenant T [--snapshot ID|latest]",
		Short: "Restore a snapshot into scratch memory and report its checks",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := a.ctx(cmd)
			e, err := a.open(ctx)
			if err != nil {
				return err
			}
			_ = e
			v, err := a.restorer().Validate(ctx, tenant, id)
			if err != nil {
				return err
			}
			if err := a.print(v, func() {
				fmt.Fprintf(a.out, "%s %s: %s in %s\n%s\n", v.Tenant, v.SnapshotID, v.Status, v.Duration.Round(time.Millisecond), v.Report)
			}); err != nil {
				return err
			}
			if v.Status != restore.StatusPassed {
				return fmt.Errorf("validation failed")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	cmd.Flags().StringVar(&id, "snapshot", "latest", "snapshot ID or latest")
	return cmd
}

func (a *app) drillCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "drill",
		Short: "Validate the newest snapshot of every tenant (disaster-recovery drill)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := a.ctx(cmd)
			e, err := a.open(ctx)
			if err != nil {
				return err
			}
			ts, err := e.Tenants(ctx)
			if err != nil {
				return err
			}
			vs, err := a.restorer().Drill(ctx, ts)
			if err != nil {
				return err
			}
			failed := 0
			for _, v := range vs {
				if v.Status != restore.StatusPassed {
					failed++
				}
			}
			if err := a.print(vs, func() {
				for _, v := range vs {
					fmt.Fprintf(a.out, "%-20s %s %s %s\n", v.Tenant, v.SnapshotID, v.Status, v.Duration.Round(time.Millisecond))
				}
			}); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d tenants failed validation", failed, len(vs))
			}
			return nil
		},
	}
}

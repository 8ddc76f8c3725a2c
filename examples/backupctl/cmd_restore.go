package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/sqltenant"
)

func (a *app) restoreCmd() *cobra.Command {
	var tenant, id, target, mode, modules string
	var opts restore.Options
	var parallel int
	var sql sqlFlags
	cmd := &cobra.Command{
		Use:   "restore --tenant T --snapshot ID|prefix|latest --target DIR | --sql URL [--layout L] [--mode full|selective|merge] [--modules a,b] [--path P]... [--dry-run] [--delete] [--continue-on-error]",
		Short: "Restore a snapshot into a directory, or a tenant's rows into a SQL database",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sql.oneOf("target", target); err != nil {
				return err
			}
			ctx, e, err := a.begin(cmd)
			if err != nil {
				return err
			}
			id, err = resolveSnapshot(ctx, e, tenant, id)
			if err != nil {
				return err
			}
			opts.Mode = restore.Mode(mode)
			if modules != "" {
				opts.Modules = strings.Split(modules, ",")
			}
			if !cmd.Flags().Changed("mode") && (len(opts.Modules) > 0 || len(opts.Paths) > 0) {
				opts.Mode = restore.Selective // --modules and --path say what is selected
			}
			dst, done, err := restoreTarget(ctx, &sql, tenant, target, &opts)
			if err != nil {
				return err
			}
			defer done()
			bar := a.progress(cmd.ErrOrStderr(), "restore")
			opts.Progress = bar.callback()
			rep, err := a.restorer(parallel).Restore(ctx, tenant, id, dst, &opts)
			bar.finish()
			switch {
			case errors.Is(err, restore.ErrDamaged) && rep != nil:
				// The intact files are restored: say what was, then fail.
				if perr := a.print(rep, func() { a.printRestore(rep) }); perr != nil {
					return perr
				}
				return fmt.Errorf("%d damaged files not restored: %w", len(rep.Damaged), err)
			case errors.Is(err, restore.ErrWouldDelete):
				return &cliError{strings.ReplaceAll(err.Error(), "set Options.AllowDelete", "pass --delete"), err}
			case err != nil:
				return err
			}
			return a.print(rep, func() { a.printRestore(rep) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", "", "tenant ID")
	snapshotFlag(cmd, &id)
	f.StringVar(&target, "target", "", "directory to restore into")
	f.StringVar(&mode, "mode", "full", "full, selective or merge")
	f.StringVar(&modules, "modules", "", "modules of a selective restore, comma-separated (implies --mode selective)")
	f.StringArrayVar(&opts.Paths, "path", nil, "a file or directory of a selective restore, as the snapshot holds it, e.g. users/ana.json (repeatable; implies --mode selective)")
	f.BoolVar(&opts.Validate, "validate", false, "check each file's SHA-256 as it is written and every module checksum (one more SHA-256 pass; every chunk is verified either way)")
	f.BoolVar(&opts.SafetyBackup, "safety-backup", false, "snapshot the target first (tag pre-restore)")
	f.IntVar(&parallel, "parallel", 0, "files restored at once (default 4×CPUs)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print what the restore would do, path by path, and write nothing")
	f.BoolVar(&opts.AllowDelete, "delete", false, "let a full restore remove what the snapshot lacks from a target holding other data (without it, only from an empty target or one a restore of the tenant created)")
	f.BoolVar(&opts.ContinueOnError, "continue-on-error", false, "restore every intact file, skip and list damaged ones, and exit non-zero at the end")
	sql.add(f, true)
	return cmd
}

// restoreTarget returns the Target of a restore: the directory, or the
// --sql database (whose selective restores name tables, the metadata
// module added); done releases it.
func restoreTarget(ctx context.Context, sql *sqlFlags, tenant, dir string, opts *restore.Options) (restore.Target, func(), error) {
	if !sql.set() {
		return restore.DirTarget(dir), func() {}, nil
	}
	db, o, closeDB, err := sql.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	tg, err := db.Target(tenant, o)
	if err != nil {
		closeDB()
		return nil, nil, err
	}
	if opts.Mode == restore.Selective {
		opts.Modules = sqltenant.Select(opts.Modules...)
	}
	return tg, func() { tg.Close(); closeDB() }, nil
}

// printRestore prints a restore's report as text: a dry run's plan, or
// what was done and the damaged files skipped.
func (a *app) printRestore(rep *restore.Report) {
	if p := rep.Plan; p != nil {
		for _, d := range p.Decisions {
			fmt.Fprintf(a.out, "%-10s %s  %s\n", d.Action, d.Path, d.Reason)
		}
		fmt.Fprintf(a.out, "dry run of %s: would restore %d files (%d bytes), create %d directories, remove %d entries; %d unchanged, %d kept newer, %d conflicts\n",
			rep.SnapshotID, p.FilesRestored, p.BytesRestored, p.DirsCreated, p.EntriesRemoved, p.FilesUnchanged, p.FilesKept, p.Conflicts)
		if rep.WouldRefuse {
			fmt.Fprintf(a.out, "the restore would be refused: the target holds data no restore of %q created; pass --delete to remove the %d entries above\n", rep.Tenant, p.EntriesRemoved)
		}
		return
	}
	for _, d := range rep.Damaged {
		fmt.Fprintf(a.out, "%-10s %s  %s: %s\n", "damaged", d.Path, d.Object, d.Err)
	}
	for _, o := range rep.Outcomes {
		fmt.Fprintf(a.out, "%-10s %s: %d inserted, %d updated, %d kept, %d deleted\n", o.Action, o.Module, o.Inserted, o.Updated, o.Kept, o.Deleted)
	}
	fmt.Fprintf(a.out, "restored %s: %d files (%d bytes), %d unchanged, %d kept newer, %d removed, %d conflicts, %d damaged in %s\n", rep.SnapshotID,
		rep.FilesRestored, rep.BytesRestored, rep.FilesUnchanged, rep.FilesKept, rep.EntriesRemoved, rep.Conflicts, len(rep.Damaged), rep.Duration.Round(time.Millisecond))
	if rep.SafetySnapshotID != "" {
		fmt.Fprintf(a.out, "safety backup: %s\n", rep.SafetySnapshotID)
	}
}

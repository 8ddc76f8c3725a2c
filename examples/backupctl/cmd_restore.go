package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/restore"
)

func (a *app) restoreCmd() *cobra.Command {
	var tenant, id, target, mode, modules string
	var validate, safety, dryRun bool
	var parallel int
	cmd := &cobra.Command{
		Use:   "restore --tenant T --snapshot ID|prefix|latest --target DIR [--mode full|selective|merge] [--modules a,b] [--dry-run]",
		Short: "Restore a snapshot into a directory",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, e, err := a.begin(cmd)
			if err != nil {
				return err
			}
			id, err = resolveSnapshot(ctx, e, tenant, id)
			if err != nil {
				return err
			}
			opts := &restore.Options{Mode: restore.Mode(mode), Validate: validate, SafetyBackup: safety, DryRun: dryRun}
			if modules != "" {
				opts.Modules = strings.Split(modules, ",")
			}
			bar := a.progress(cmd.ErrOrStderr(), "restore")
			opts.Progress = bar.callback()
			rep, err := a.restorer(parallel).Restore(ctx, tenant, id, restore.DirTarget(target), opts)
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
	snapshotFlag(cmd, &id)
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

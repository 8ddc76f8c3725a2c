package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/backup"
)

func (a *app) pruneCmd() *cobra.Command {
	var tenant string
	var dry bool
	cmd := &cobra.Command{
		Use:   "prune --tenant T [--dry-run]",
		Short: "Delete data no snapshot references",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, e, err := a.begin(cmd)
			if err != nil {
				return err
			}
			opts := &backup.PruneOptions{DryRun: dry}
			var bar *progress // a dry run only plans: no bar
			if !dry {
				bar = a.progress(cmd.ErrOrStderr(), "prune")
				opts.Progress = bar.callback()
			}
			rep, err := e.Prune(ctx, tenant, opts)
			bar.finish()
			if err != nil {
				return err
			}
			return a.print(rep, func() { fmt.Fprintln(a.out, pruneSummary(rep)) })
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "report, change nothing")
	return cmd
}

// pruneSummary is one line on a prune: what it did or, in a dry run,
// what it would do.
func pruneSummary(rep *backup.PruneReport) string {
	verb, freed := "", "freed"
	if rep.DryRun {
		verb, freed = "would be ", "would be freed"
	}
	return fmt.Sprintf("%d packs %sdeleted (%d orphan), %d %srepacked, %d bytes %s; %d chunks kept, %d %sdropped, %d unreferenced left in packs under the repack threshold",
		rep.PacksDeleted, verb, rep.OrphanPacks, rep.PacksRepacked, verb, rep.BytesFreed, freed, rep.ChunksKept, rep.ChunksDeleted, verb, rep.ChunksUnusedKept)
}

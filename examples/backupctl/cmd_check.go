package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/backup"
)

func (a *app) checkCmd() *cobra.Command {
	var tenant, subset string
	var readData bool
	cmd := &cobra.Command{
		Use:   "check --tenant T [--read-data] [--read-data-subset n/t|p%]",
		Short: "Verify a tenant's repository",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, e, err := a.beginTenant(cmd, tenant)
			if err != nil {
				return err
			}
			opts := &backup.CheckOptions{ReadData: readData, ReadDataSubset: subset}
			var bar *progress // a structural check reads no data: no bar
			if readData || subset != "" {
				bar = a.progress(cmd.ErrOrStderr(), "check")
				opts.Progress = bar.callback()
			}
			rep, err := e.Check(ctx, tenant, opts)
			bar.finish()
			if err != nil {
				return err
			}
			rep.Problems = nonNil(rep.Problems)
			if err := a.print(rep, func() { a.printCheck(rep) }); err != nil {
				return err
			}
			if !rep.OK() {
				return fmt.Errorf("%d problems found", len(rep.Problems))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	cmd.Flags().BoolVar(&readData, "read-data", false, "decrypt and verify every chunk")
	cmd.Flags().StringVar(&subset, "read-data-subset", "", "verify a subset: n/t or p%")
	return cmd
}

func (a *app) printCheck(rep *backup.CheckReport) {
	fmt.Fprintf(a.out, "%d snapshots, %d packs, %d chunks; read %d packs (%d chunks)\n", rep.Snapshots, rep.Packs, rep.Chunks, rep.PacksRead, rep.ChunksRead)
	if rep.UnreferencedPacks > 0 {
		fmt.Fprintf(a.out, "%d unreferenced packs (%d bytes) that no index lists: left by a crashed or running backup; prune deletes them\n", rep.UnreferencedPacks, rep.UnreferencedBytes)
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(a.out, "problem:", p)
	}
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/backup"
)

func (a *app) repairCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "repair", Short: "Repair a damaged repository"}
	cmd.AddCommand(a.repairIndexCmd())
	return cmd
}

func (a *app) repairIndexCmd() *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "index --tenant T",
		Short: "Rebuild a tenant's index from its packs (after an index object was damaged or lost)",
		Long: `Rebuild a tenant's index from its packs: every pack's header is read, new
index objects are written, then the old ones are deleted. A pack whose
header is damaged is reported and left in place. Takes the exclusive lock.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, e, err := a.begin(cmd)
			if err == nil {
				err = requireTenant(ctx, e, tenant)
			}
			if err != nil {
				return err
			}
			rep, err := e.RepairIndex(ctx, tenant)
			if err != nil {
				return err
			}
			return a.print(rep, func() { a.printRepair(tenant, rep) })
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	return cmd
}

func (a *app) printRepair(tenant string, rep *backup.RepairReport) {
	fmt.Fprintf(a.out, "index of %q rebuilt: %d packs read, %d chunks indexed in %d index objects, %d old index objects removed\n",
		tenant, rep.PacksRead, rep.ChunksIndexed, rep.IndexesWritten, rep.IndexesRemoved)
	for _, p := range rep.PacksUnreadable {
		fmt.Fprintf(a.out, "unreadable pack %s (left in place, not indexed): %s\n", p.Key, p.Error)
	}
	if len(rep.PacksUnreadable) > 0 {
		fmt.Fprintf(a.out, "%d packs unreadable: run check --tenant %s to see which snapshots need their chunks\n", len(rep.PacksUnreadable), tenant)
	}
}

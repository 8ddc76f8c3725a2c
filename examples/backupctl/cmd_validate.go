package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/restore"
)

func (a *app) validateCmd() *cobra.Command {
	var tenant, id string
	cmd := &cobra.Command{
		Use:   "validate --tenant T [--snapshot ID|prefix|latest]",
		Short: "Restore a snapshot into scratch memory and report its checks",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, _, err := a.beginSnapshot(cmd, tenant, &id)
			if err != nil {
				return err
			}
			bar := a.progress(cmd.ErrOrStderr(), "validate")
			v, err := a.validator(bar).Validate(ctx, tenant, id)
			bar.finish()
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
	snapshotFlag(cmd, &id)
	return cmd
}

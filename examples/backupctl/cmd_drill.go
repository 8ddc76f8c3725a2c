package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/restore"
)

func (a *app) drillCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "drill",
		Short: "Validate the newest snapshot of every tenant (disaster-recovery drill)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, e, err := a.beginRead(cmd)
			if err != nil {
				return err
			}
			ts, err := e.Tenants(ctx)
			if err != nil {
				return err
			}
			bar := a.progress(cmd.ErrOrStderr(), "drill")
			vs, err := a.validator(bar).Drill(ctx, ts)
			bar.finish()
			if err != nil {
				return err
			}
			vs = nonNil(vs)
			failed := 0
			for _, v := range vs {
				if v.Status != restore.StatusPassed {
					failed++
				}
			}
			if err := a.print(vs, func() {
				for _, v := range vs {
					snap := v.SnapshotID
					if snap == "" {
						snap = "-"
					}
					fmt.Fprintf(a.out, "%-20s %s %s %s\n", v.Tenant, snap, v.Status, v.Duration.Round(time.Millisecond))
					if v.Status != restore.StatusPassed {
						fmt.Fprintf(a.out, "    %s\n", strings.ReplaceAll(v.Report, "\n", "\n    "))
					}
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

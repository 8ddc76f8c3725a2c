package main

import (
	"encoding/json"

	"github.com/spf13/cobra"
)

func (a *app) dashboardCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "dashboard",
		Short: "Backup, restore and release metrics derived from the audit trail",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, _, err := a.begin(cmd)
			if err != nil {
				return err
			}
			d, err := a.log.Dashboard(ctx)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(a.out)
			enc.SetIndent("", "  ")
			return enc.Encode(d)
		},
	}
}

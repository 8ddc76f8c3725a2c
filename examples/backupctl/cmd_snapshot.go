package main

import (
	"encoding/json"

	"github.com/spf13/cobra"
)

func (a *app) snapshotCmd() *cobra.Command {
	var tenant, id string
	cmd := &cobra.Command{
		Use:   "snapshot --tenant T --id ID|latest",
		Short: "Show one snapshot's manifest (metadata, checksums, components)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, e, err := a.begin(cmd)
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

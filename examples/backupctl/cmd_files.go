package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) filesCmd() *cobra.Command {
	var tenant, id string
	cmd := &cobra.Command{
		Use:   "files --tenant T --id ID|latest",
		Short: "List a snapshot's entries with their SHA-256",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, e, err := a.begin(cmd)
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

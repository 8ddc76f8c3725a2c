package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) tenantsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "tenants",
		Short: "List the tenants that have backups",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, e, err := a.begin(cmd)
			if err != nil {
				return err
			}
			ts, err := e.Tenants(ctx)
			if err != nil {
				return err
			}
			return a.print(ts, func() { fmt.Fprintln(a.out, strings.Join(ts, "\n")) })
		},
	}
}

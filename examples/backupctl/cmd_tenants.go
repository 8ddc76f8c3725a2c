package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) tenantsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "tenants",
		Short: "List the tenants that have a repository",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, e, err := a.beginRead(cmd)
			if err != nil {
				return err
			}
			ts, err := e.Tenants(ctx)
			if err != nil {
				return err
			}
			ts = nonNil(ts)
			return a.print(ts, func() {
				for _, t := range ts {
					fmt.Fprintln(a.out, t)
				}
			})
		},
	}
}

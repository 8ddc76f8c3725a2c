package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) catalogCmd() *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:     "catalog --tenant T",
		Aliases: []string{"snapshots"},
		Short:   "List a tenant's snapshots, newest first (also: snapshots)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, e, err := a.beginTenant(cmd, tenant)
			if err != nil {
				return err
			}
			cat, err := e.Catalog(ctx, tenant)
			if err != nil {
				return err
			}
			cat = nonNil(cat)
			return a.print(cat, func() {
				for _, s := range cat {
					fmt.Fprintf(a.out, "%s  %-11s  %s  %6d files  %12d bytes  %s\n", s.ID, s.Type, s.Timestamp.Format(time.RFC3339), s.Metadata.FileCount, s.Metadata.SizeBytes, strings.Join(s.Tags, ","))
				}
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	return cmd
}

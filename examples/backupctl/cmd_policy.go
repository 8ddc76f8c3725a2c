package main

import (
	"encoding/json"
	"os"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/retention"
)

func (a *app) policyCmd() *cobra.Command {
	var tenant, file string
	cmd := &cobra.Command{
		Use:   "policy --tenant T [--set FILE.json]",
		Short: "Show or set a tenant's retention and schedule policy",
		RunE: func(cmd *cobra.Command, args []string) error {
			begin := a.beginRead // showing a policy writes nothing
			if file != "" {
				begin = a.begin
			}
			ctx, _, err := begin(cmd)
			if err != nil {
				return err
			}
			ps := retention.NewPolicies(a.store, &retention.Config{Auditor: a.auditor()})
			if file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				p, err := retention.DecodePolicy(b)
				if err != nil {
					return err
				}
				if err := ps.Set(ctx, tenant, p); err != nil {
					return err
				}
			}
			p, err := ps.Get(ctx, tenant)
			if err != nil {
				return err
			}
			// A policy is a JSON document (--set reads one): the text form
			// prints it as --set takes it.
			enc := json.NewEncoder(a.out)
			enc.SetIndent("", "  ")
			return enc.Encode(p)
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID (or _general)")
	cmd.Flags().StringVar(&file, "set", "", "JSON policy file to store")
	return cmd
}

package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/audit"
)

func (a *app) auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Export and verify the audit trail"}
	cmd.AddCommand(a.auditExportCmd(), a.auditVerifyCmd())
	return cmd
}

func (a *app) auditExportCmd() *cobra.Command {
	var format, tenant, user, since string
	cmd := &cobra.Command{
		Use:   "export --format csv|json|jsonl",
		Short: "Stream the audit events to stdout",
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := audit.ParseFormat(format)
			if err != nil {
				return err
			}
			filter := audit.Filter{Tenant: tenant, UserID: user}
			if since != "" {
				d, err := time.ParseDuration(since)
				if err != nil {
					return fmt.Errorf("--since %q: %w", since, err)
				}
				filter.From = time.Now().Add(-d)
			}
			ctx, _, err := a.beginRead(cmd)
			if err != nil {
				return err
			}
			return a.log.Export(ctx, a.out, f, filter)
		},
	}
	cmd.Flags().StringVar(&format, "format", "jsonl", "csv, json or jsonl")
	cmd.Flags().StringVar(&tenant, "tenant", "", "only this tenant")
	cmd.Flags().StringVar(&user, "user-id", "", "only this principal")
	cmd.Flags().StringVar(&since, "since", "", "only the last duration (e.g. 24h)")
	return cmd
}

func (a *app) auditVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check the hash chain and the signed checkpoints (STEWARD_AUDIT_KEY)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, _, err := a.beginRead(cmd)
			if err != nil {
				return err
			}
			rep, err := a.log.Verify(ctx)
			if err != nil {
				return err
			}
			return a.print(rep, func() {
				fmt.Fprintf(a.out, "audit log intact: %d events, %d signed checkpoints, verified in %s\n", rep.Events, rep.Checkpoints, rep.Duration.Round(time.Millisecond))
			})
		},
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
)

func (a *app) auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Export and verify the audit trail"}
	var format, tenant, user, since string
	export := &cobra.Command{
		Use:   "export --format csv|json|jsonl",
		Short: "Stream the audit events to stdout",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := a.ctx(cmd)
			if _, err := a.open(ctx); err != nil {
				return err
			}
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
			return a.log.Export(ctx, a.out, f, filter)
		},
	}
	export.Flags().StringVar(&format, "format", "jsonl", "csv, json or jsonl")
	export.Flags().StringVar(&tenant, "tenant", "", "only this tenant")
	export.Flags().StringVar(&user, "user-id", "", "only this principal")
	export.Flags().StringVar(&since, "since", "", "only the last duration (e.g. 24h)")
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the hash chain and the signed checkpoints (STEWARD_AUDIT_KEY)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := a.ctx(cmd)
			if _, err := a.open(ctx); err != nil {
				return err
			}
			rep, err := a.log.Verify(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "audit log intact: %d events, %d signed checkpoints, verified in %s\n", rep.Events, rep.Checkpoints, rep.Duration.Round(time.Millisecond))
			return nil
		},
	}
	cmd.AddCommand(export, verify)
	return cmd
}

func (a *app) dashboardCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "dashboard",
		Short: "Backup, restore and release metrics derived from the audit trail",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := a.ctx(cmd)
			if _, err := a.open(ctx); err != nil {
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

func (a *app) keyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Change or destroy a tenant's encryption key"}
	var tenant string
	rekey := &cobra.Command{
		Use:   "change --tenant T",
		Short: "Rewrap the tenant's data key with STEWARD_NEW_PASSPHRASE (no data rewritten)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := a.ctx(cmd)
			e, err := a.open(ctx)
			if err != nil {
				return err
			}
			np := os.Getenv("STEWARD_NEW_PASSPHRASE")
			if np == "" {
				return fmt.Errorf("set STEWARD_NEW_PASSPHRASE")
			}
			if err := e.Rekey(ctx, tenant, backup.Passphrase(np)); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "key of %q changed; use the new passphrase from now on\n", tenant)
			return nil
		},
	}
	rekey.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	var yes bool
	destroy := &cobra.Command{
		Use:   "destroy --tenant T --yes",
		Short: "Crypto-erase a tenant: delete its data key, making its backups unreadable forever",
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return fmt.Errorf("this cannot be undone: pass --yes")
			}
			ctx := a.ctx(cmd)
			e, err := a.open(ctx)
			if err != nil {
				return err
			}
			if err := e.DestroyKey(ctx, tenant); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "key of %q destroyed\n", tenant)
			return nil
		},
	}
	destroy.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	destroy.Flags().BoolVar(&yes, "yes", false, "confirm")
	cmd.AddCommand(rekey, destroy)
	return cmd
}

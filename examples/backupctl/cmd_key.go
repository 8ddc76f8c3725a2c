package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/backup"
)

func (a *app) keyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Change or destroy a tenant's encryption key"}
	cmd.AddCommand(a.keyChangeCmd(), a.keyDestroyCmd())
	return cmd
}

// keyResult is what the key commands print.
type keyResult struct {
	Tenant string `json:"tenant"`
	Key    string `json:"key"` // changed or destroyed
}

func (a *app) keyChangeCmd() *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "change --tenant T",
		Short: "Rewrap the tenant's data key with STEWARD_NEW_PASSPHRASE (no data rewritten)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, e, err := a.begin(cmd)
			if err != nil {
				return err
			}
			np := os.Getenv("STEWARD_NEW_PASSPHRASE")
			if np == "" {
				return errors.New("set STEWARD_NEW_PASSPHRASE")
			}
			if err := e.Rekey(ctx, tenant, backup.Passphrase(np)); err != nil {
				return err
			}
			return a.print(keyResult{tenant, "changed"}, func() {
				fmt.Fprintf(a.out, "key of %q changed; use the new passphrase from now on\n", tenant)
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	return cmd
}

func (a *app) keyDestroyCmd() *cobra.Command {
	var tenant string
	var yes bool
	cmd := &cobra.Command{
		Use:   "destroy --tenant T --yes",
		Short: "Crypto-erase a tenant: delete its data key, making its backups unreadable forever",
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return errors.New("this cannot be undone: pass --yes")
			}
			ctx, e, err := a.begin(cmd)
			if err != nil {
				return err
			}
			if err := e.DestroyKey(ctx, tenant); err != nil {
				return err
			}
			return a.print(keyResult{tenant, "destroyed"}, func() { fmt.Fprintf(a.out, "key of %q destroyed\n", tenant) })
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm")
	return cmd
}

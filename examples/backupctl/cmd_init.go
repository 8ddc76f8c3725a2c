package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/backup"
)

func (a *app) initCmd() *cobra.Command {
	var tenant string
	var encrypt, general bool
	cmd := &cobra.Command{
		Use:   "init --tenant T [--general] [--encrypt]",
		Short: "Create a scope's repository without taking a backup",
		Long: `Create the repository of a tenant (or of the shared general structure with
--general): its config and data key, the key wrapped with the passphrase when
--encrypt is given. Nothing is backed up; later backups go into this
repository. A scope that already exists is left unchanged and init fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.needPassphrase(encrypt); err != nil {
				return err
			}
			if general {
				tenant = backup.General
			}
			ctx, e, err := a.begin(cmd)
			if err != nil {
				return err
			}
			if err := e.Init(ctx, tenant, encrypt); err != nil {
				return err
			}
			res := struct {
				Tenant    string `json:"tenant"`
				Encrypted bool   `json:"encrypted"`
			}{tenant, encrypt}
			return a.print(res, func() {
				kind := "unencrypted"
				if encrypt {
					kind = "encrypted"
				}
				fmt.Fprintf(a.out, "created %s repository of %q\n", kind, tenant)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", "", "tenant ID")
	f.BoolVar(&general, "general", false, "create the shared general structure's repository instead of a tenant's")
	f.BoolVar(&encrypt, "encrypt", false, "encrypt the scope (the passphrase is read from the variable named by --password-env)")
	cmd.MarkFlagsMutuallyExclusive("tenant", "general")
	return cmd
}

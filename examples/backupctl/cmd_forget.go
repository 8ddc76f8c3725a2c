package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/retention"
)

func (a *app) forgetCmd() *cobra.Command {
	var tenant string
	var dry, force bool
	cmd := &cobra.Command{
		Use:   "forget --tenant T [--dry-run] | forget --tenant T --id ID... [--force]",
		Short: "Apply the tenant's retention policy (forget + prune), or forget given snapshots",
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, _ := cmd.Flags().GetStringSlice("id")
			if force && len(ids) == 0 {
				return errors.New("--force applies to snapshots named with --id, never to the retention policy")
			}
			ctx, e, err := a.begin(cmd)
			if err != nil {
				return err
			}
			if len(ids) > 0 {
				if dry {
					fmt.Fprintf(a.out, "would forget %s\n", strings.Join(ids, ", "))
					return nil
				}
				return e.ForgetWithOptions(ctx, tenant, ids, &backup.ForgetOptions{Force: force})
			}
			p, err := retention.NewPolicies(a.store, &retention.Config{Auditor: a.auditor()}).Get(ctx, tenant)
			if err != nil {
				return err
			}
			rep, err := retention.Apply(ctx, e, tenant, p, dry)
			if err != nil {
				return err
			}
			return a.print(rep, func() { a.printRetention(rep) })
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "report, change nothing")
	cmd.Flags().StringSlice("id", nil, "snapshot IDs to forget instead of applying the policy")
	cmd.Flags().BoolVar(&force, "force", false, "with --id: delete snapshots whose manifest is corrupt too (refused without it)")
	return cmd
}

// printRetention prints a policy's decisions, snapshot by snapshot, and
// the prune that followed.
func (a *app) printRetention(rep *retention.ApplyReport) {
	for _, d := range rep.Decisions {
		verdict := "forget"
		if d.Keep {
			verdict = "keep  "
		}
		fmt.Fprintf(a.out, "%s %s %-11s %s  %s\n", verdict, d.Snapshot.ID, d.Snapshot.Type, d.Snapshot.Timestamp.Format("2006-01-02 15:04"), strings.Join(d.Reasons, ","))
	}
	if rep.Prune != nil {
		fmt.Fprintf(a.out, "prune: %s\n", pruneSummary(rep.Prune))
	}
}

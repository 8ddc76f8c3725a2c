package main

import (
	"context"
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
	var snaps, ids []string
	cmd := &cobra.Command{
		Use:   "forget --tenant T [--dry-run] | forget --tenant T --snapshot ID|prefix... [--force] [--dry-run]",
		Short: "Apply the tenant's retention policy (forget + prune), or forget given snapshots",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			named := append(snaps, ids...)
			if force && len(named) == 0 {
				return errors.New("--force applies to snapshots named with --snapshot, never to the retention policy")
			}
			ctx, e, err := a.begin(cmd)
			if err != nil {
				return err
			}
			if len(named) > 0 {
				return a.forgetSnapshots(ctx, e, tenant, named, dry, force)
			}
			rc := &retention.Config{Auditor: a.auditor()}
			p, err := retention.NewPolicies(a.store, rc).Get(ctx, tenant)
			if err != nil {
				return err
			}
			rep, err := retention.Apply(ctx, e, tenant, p, dry, rc)
			if err != nil {
				return err
			}
			rep.Decisions, rep.Forgotten = nonNil(rep.Decisions), nonNil(rep.Forgotten)
			return a.print(rep, func() { a.printRetention(rep) })
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "report, change nothing")
	cmd.Flags().StringSliceVar(&snaps, "snapshot", nil, "snapshot IDs (or unique prefixes) to forget instead of applying the policy")
	cmd.Flags().StringSliceVar(&ids, "id", nil, "alias of --snapshot")
	cmd.Flags().BoolVar(&force, "force", false, "with --snapshot: delete snapshots whose manifest is corrupt, and protected ones (a release's artifact), too (refused without it)")
	return cmd
}

// forgetResult is what forget of named snapshots prints.
type forgetResult struct {
	Tenant    string   `json:"tenant"`
	DryRun    bool     `json:"dry_run"`
	Forgotten []string `json:"forgotten"`
}

// forgetSnapshots forgets the snapshots named (IDs or unique prefixes)
// and says which.
func (a *app) forgetSnapshots(ctx context.Context, e *backup.Engine, tenant string, named []string, dry, force bool) error {
	res := forgetResult{Tenant: tenant, DryRun: dry, Forgotten: make([]string, len(named))}
	for i, id := range named {
		full, err := resolveSnapshot(ctx, e, tenant, id)
		if err != nil {
			return err
		}
		res.Forgotten[i] = full
	}
	err := e.ForgetWithOptions(ctx, tenant, res.Forgotten, &backup.ForgetOptions{Force: force, DryRun: dry})
	if errors.Is(err, backup.ErrProtected) {
		return &cliError{strings.ReplaceAll(err.Error(), "with Force", "with --force"), err}
	}
	if err != nil {
		return err
	}
	return a.print(res, func() {
		verb := "forgot"
		if dry {
			verb = "would forget"
		}
		fmt.Fprintf(a.out, "%s %d snapshots of %q: %s (prune deletes their data)\n", verb, len(res.Forgotten), tenant, strings.Join(res.Forgotten, ", "))
	})
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

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/retention"
)

func (a *app) retentionCmds() []*cobra.Command {
	var tenant string
	var dry, force bool
	forget := &cobra.Command{
		Use:   "forget --tenant T [--dry-run] | forget --tenant T --id ID... [--force]",
		Short: "Apply the tenant's retention policy (forget + prune), or forget given snapshots",
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, _ := cmd.Flags().GetStringSlice("id")
			if force && len(ids) == 0 {
				return errors.New("--force applies to snapshots named with --id, never to the retention policy")
			}
			ctx := a.ctx(cmd)
			e, err := a.open(ctx)
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
			return a.print(rep, func() {
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
			})
		},
	}
	forget.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	forget.Flags().BoolVar(&dry, "dry-run", false, "report, change nothing")
	forget.Flags().StringSlice("id", nil, "snapshot IDs to forget instead of applying the policy")
	forget.Flags().BoolVar(&force, "force", false, "with --id: delete snapshots whose manifest is corrupt too (refused without it)")

	var pTenant string
	var pDry bool
	prune := &cobra.Command{
		Use:   "prune --tenant T [--dry-run]",
		Short: "Delete data no snapshot references",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := a.ctx(cmd)
			e, err := a.open(ctx)
			if err != nil {
				return err
			}
			rep, err := e.Prune(ctx, pTenant, &backup.PruneOptions{DryRun: pDry})
			if err != nil {
				return err
			}
			return a.print(rep, func() { fmt.Fprintln(a.out, pruneSummary(rep)) })
		},
	}
	prune.Flags().StringVar(&pTenant, "tenant", "", "tenant ID")
	prune.Flags().BoolVar(&pDry, "dry-run", false, "report, change nothing")

	var cTenant, subset string
	var readData bool
	check := &cobra.Command{
		Use:   "check --tenant T [--read-data] [--read-data-subset n/t|p%]",
		Short: "Verify a tenant's repository",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := a.ctx(cmd)
			e, err := a.open(ctx)
			if err != nil {
				return err
			}
			rep, err := e.Check(ctx, cTenant, &backup.CheckOptions{ReadData: readData, ReadDataSubset: subset})
			if err != nil {
				return err
			}
			if err := a.print(rep, func() {
				fmt.Fprintf(a.out, "%d snapshots, %d packs, %d chunks; read %d packs (%d chunks)\n", rep.Snapshots, rep.Packs, rep.Chunks, rep.PacksRead, rep.ChunksRead)
				if rep.UnreferencedPacks > 0 {
					fmt.Fprintf(a.out, "%d unreferenced packs (%d bytes) that no index lists: left by a crashed or running backup; prune deletes them\n", rep.UnreferencedPacks, rep.UnreferencedBytes)
				}
				for _, p := range rep.Problems {
					fmt.Fprintln(a.out, "problem:", p)
				}
			}); err != nil {
				return err
			}
			if !rep.OK() {
				return fmt.Errorf("%d problems found", len(rep.Problems))
			}
			return nil
		},
	}
	check.Flags().StringVar(&cTenant, "tenant", "", "tenant ID")
	check.Flags().BoolVar(&readData, "read-data", false, "decrypt and verify every chunk")
	check.Flags().StringVar(&subset, "read-data-subset", "", "verify a subset: n/t or p%")

	var polTenant, polFile string
	policy := &cobra.Command{
		Use:   "policy --tenant T [--set FILE.json]",
		Short: "Show or set a tenant's retention and schedule policy",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := a.ctx(cmd)
			if _, err := a.open(ctx); err != nil {
				return err
			}
			ps := retention.NewPolicies(a.store, &retention.Config{Auditor: a.auditor()})
			if polFile != "" {
				b, err := os.ReadFile(polFile)
				if err != nil {
					return err
				}
				p, err := retention.DecodePolicy(b)
				if err != nil {
					return err
				}
				if err := ps.Set(ctx, polTenant, p); err != nil {
					return err
				}
			}
			p, err := ps.Get(ctx, polTenant)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(a.out)
			enc.SetIndent("", "  ")
			return enc.Encode(p)
		},
	}
	policy.Flags().StringVar(&polTenant, "tenant", "", "tenant ID (or _general)")
	policy.Flags().StringVar(&polFile, "set", "", "JSON policy file to store")
	return []*cobra.Command{forget, prune, check, policy}
}

// pruneSummary is one line on a prune: what it did or, in a dry run,
// what it would do.
func pruneSummary(rep *backup.PruneReport) string {
	verb, freed := "", "freed"
	if rep.DryRun {
		verb, freed = "would be ", "would be freed"
	}
	return fmt.Sprintf("%d packs %sdeleted (%d orphan), %d %srepacked, %d bytes %s; %d chunks kept, %d %sdropped, %d unreferenced left in packs under the repack threshold",
		rep.PacksDeleted, verb, rep.OrphanPacks, rep.PacksRepacked, verb, rep.BytesFreed, freed, rep.ChunksKept, rep.ChunksDeleted, verb, rep.ChunksUnusedKept)
}

package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/health"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// errDegraded is health's error when a check failed: exit 1.
var errDegraded = errors.New("health: degraded")

func (a *app) healthCmd() *cobra.Command {
	var readOnly bool
	cmd := &cobra.Command{
		Use:   "health [--read-only]",
		Short: "Check the store, locks, RPOs, drills, the audit chain and the keys; exit 1 when degraded",
		Long: `Run the health checks and print the report: the store reachable and
writable (a probe object under ` + storage.ProbePrefix + `, created and deleted),
conditional create, stale locks, each tenant's RPO and last DR drill, the
audit chain, and the key provider (with a passphrase). Exits 1 when any
check is degraded, naming it and the tenant.

The store must exist: health creates nothing but its probe object. With
--read-only the store is opened read-only and listed, not written.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := a.health(cmd, readOnly)
			if err != nil {
				return err
			}
			if err := a.print(rep, func() { a.printHealth(rep) }); err != nil {
				return err
			}
			if bad := rep.Degraded(); len(bad) > 0 {
				names := make([]string, 0, len(bad))
				for _, r := range bad {
					names = append(names, strings.TrimSuffix(r.Check+" "+r.Tenant, " "))
				}
				return fmt.Errorf("%w: %s", errDegraded, strings.Join(names, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "open the store read-only: list it instead of writing a probe object")
	return cmd
}

// health opens the store (refusing one that does not exist) and runs
// the checks as the CLI's principal.
func (a *app) health(cmd *cobra.Command, readOnly bool) (health.Report, error) {
	if !readOnly {
		existing, err := storage.OpenExisting(cmd.Context(), a.storeURLOrEnv())
		if err != nil {
			return health.Report{}, err
		}
		_ = existing.Close()
	}
	begin := a.begin
	if readOnly {
		begin = a.beginRead
	}
	ctx, e, err := begin(cmd)
	if err != nil {
		return health.Report{}, err
	}
	p, _ := steward.PrincipalFrom(ctx)
	c, err := health.New(&health.Config{Engine: e, Log: a.log, Keys: a.keys(), ReadOnly: readOnly, SingleWriter: a.singleWriter,
		Policies: retention.NewPolicies(a.store, &retention.Config{Auditor: a.auditor()}), Principal: &p})
	if err != nil {
		return health.Report{}, err
	}
	return c.Check(ctx), nil
}

func (a *app) printHealth(rep health.Report) {
	fmt.Fprintf(a.out, "%s (checked %s, audit verified up to sequence %d)\n", rep.Status, rep.CheckedAt.UTC().Format(time.RFC3339), rep.AuditVerifiedSeq)
	for _, r := range rep.Results {
		name := r.Check
		if r.Tenant != "" {
			name += " " + r.Tenant
		}
		fmt.Fprintf(a.out, "%-9s %-28s %s\n", r.Status, name, r.Message)
	}
}

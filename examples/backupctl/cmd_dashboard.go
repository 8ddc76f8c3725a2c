package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/audit"
)

func (a *app) dashboardCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "dashboard",
		Short: "Backup, restore and release metrics derived from the audit trail",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, _, err := a.beginRead(cmd)
			if err != nil {
				return err
			}
			d, err := a.log.Dashboard(ctx)
			if err != nil {
				return err
			}
			drills, err := a.log.Drills(ctx)
			if err != nil {
				return err
			}
			out := struct {
				*audit.Dashboard
				Drills []audit.DrillMetrics `json:"drills"`
			}{d, drills}
			return a.print(out, func() { a.printDashboard(d); a.printDrills(drills) })
		},
	}
}

func (a *app) printDashboard(d *audit.Dashboard) {
	b, r, rel, ev := d.TenantBackups, d.Restores, d.Releases, d.Events
	fmt.Fprintf(a.out, "as of %s\n", d.GeneratedAt.Format(time.RFC3339))
	fmt.Fprintf(a.out, "backups:  %d (%d in 24h), %d failed, success %.1f%%, avg %s, avg %.0f bytes, last success %s\n",
		b.TotalCount, b.Last24h, b.FailedCount, 100*b.SuccessRate, time.Duration(b.AvgDurationMS*float64(time.Millisecond)).Round(time.Millisecond), b.AvgSizeBytes, when(b.LastSuccess))
	fmt.Fprintf(a.out, "restores: %d, %d failed, success %.1f%%, time to restore avg %s p95 %s, last %s\n",
		r.TotalCount, r.FailedCount, 100*r.SuccessRate, ms(r.AvgTTRMS), ms(r.P95TTRMS), when(r.LastRestore))
	fmt.Fprintf(a.out, "releases: %d, active %s, %d rollbacks, %d failed, last deploy %s\n",
		rel.TotalCount, orNone(rel.ActiveVersion), rel.RollbackCount, rel.FailedCount, when(rel.LastDeploy))
	fmt.Fprintf(a.out, "events:   %d, %d failed, last failure %s\n", ev.TotalCount, ev.FailedCount, when(ev.LastFailure))
}

// printDrills prints each drilled tenant's last drill, its time to
// restore against the SLO, and the drills' success rate.
func (a *app) printDrills(ds []audit.DrillMetrics) {
	for _, m := range ds {
		slo := "no SLO"
		if m.SLOMS > 0 {
			slo = "SLO " + ms(m.SLOMS).String()
			if m.OverSLO {
				slo += ", over"
			}
		}
		fmt.Fprintf(a.out, "drills %s: last %s %s, time to restore %s (%s), %d passed, %d failed, success %.1f%%\n",
			m.Tenant, m.LastStatus, m.LastDrill.Format(time.RFC3339), ms(m.TTRMS), slo, m.Passed, m.Failed, 100*m.SuccessRate)
	}
}

func ms(v float64) time.Duration {
	return time.Duration(v * float64(time.Millisecond)).Round(time.Millisecond)
}

func when(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format(time.RFC3339)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

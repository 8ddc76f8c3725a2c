package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/backup"
)

// unlockResult is what unlock prints.
type unlockResult struct {
	Tenant  string            `json:"tenant"`
	Forced  bool              `json:"forced"`
	Removed []backup.LockInfo `json:"removed"`
}

func (a *app) unlockCmd() *cobra.Command {
	var tenant string
	var force bool
	cmd := &cobra.Command{
		Use:   "unlock --tenant T [--force]",
		Short: "Remove a tenant's stale locks (every lock with --force)",
		Long: fmt.Sprintf(`Remove the locks of a tenant's repository that their holders stopped
refreshing %s ago (the process was killed). With --force, remove every
lock, including those of backups and prunes still running: use it only
when their processes are known to be dead.`, backup.LockStaleAfter),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, e, err := a.begin(cmd)
			if err == nil {
				err = requireTenant(ctx, e, tenant)
			}
			if err != nil {
				return err
			}
			if force {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: --force removes every lock, also those of backups and prunes still running, which then run unprotected")
			}
			removed, err := e.Unlock(ctx, tenant, force)
			if err != nil {
				return err
			}
			res := unlockResult{Tenant: tenant, Forced: force, Removed: nonNil(removed)}
			return a.print(res, func() { a.printUnlock(res) })
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	cmd.Flags().BoolVar(&force, "force", false, "remove live locks too")
	return cmd
}

func (a *app) printUnlock(res unlockResult) {
	if len(res.Removed) == 0 {
		what := "no stale lock"
		if res.Forced {
			what = "no lock"
		}
		fmt.Fprintf(a.out, "%s on %q to remove\n", what, res.Tenant)
		return
	}
	for _, l := range res.Removed {
		state := "live"
		if l.Stale {
			state = "stale"
		}
		if l.Unreadable {
			fmt.Fprintf(a.out, "removed unreadable lock object %s\n", l.Key)
			continue
		}
		kind := "shared"
		if l.Exclusive {
			kind = "exclusive"
		}
		fmt.Fprintf(a.out, "removed %s %s lock %s of %q (host %s, pid %d), taken %s, last refreshed %s\n",
			state, kind, l.Key, l.Owner, orUnknown(l.Host), l.PID, l.Created.Format(time.RFC3339), l.Refreshed.Format(time.RFC3339))
	}
}

// orUnknown returns s, or "unknown" when it is empty.
func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

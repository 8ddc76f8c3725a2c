package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// checkTenants runs the per-tenant checks: locks always, rpo and drill
// with Policies.
func (c *Checker) checkTenants(ctx context.Context, now time.Time) []Result {
	tenants, err := c.cfg.Tenants(ctx)
	if err != nil {
		return []Result{degraded(CheckTenants, "", fmt.Sprintf("cannot list tenants: %v", err))}
	}
	noun := "tenants"
	if len(tenants) == 1 {
		noun = "tenant"
	}
	out := []Result{ok(CheckTenants, "", fmt.Sprintf("%d %s listed", len(tenants), noun))}
	for _, t := range tenants {
		out = append(out, c.checkLocks(ctx, t, now))
		if c.cfg.Policies == nil {
			continue
		}
		p, err := c.cfg.Policies.Get(ctx, t)
		if err != nil {
			msg := fmt.Sprintf("cannot read the retention policy: %v", err)
			out = append(out, degraded(CheckRPO, t, msg), degraded(CheckDrill, t, msg))
			continue
		}
		cat, err := c.cfg.Engine.Catalog(ctx, t)
		if err != nil && !errors.Is(err, backup.ErrNotFound) {
			msg := fmt.Sprintf("cannot read the catalog: %v", err)
			out = append(out, degraded(CheckRPO, t, msg), degraded(CheckDrill, t, msg))
			continue
		}
		out = append(out, checkRPO(t, p, cat, now), c.checkDrill(ctx, t, p, cat, now))
	}
	return out
}

// lockBody is what the checks read of a repository lock object
// ("tenants/<t>/locks/<id>", JSON, written and refreshed by its holder).
type lockBody struct {
	Owner     string    `json:"owner"`
	Refreshed time.Time `json:"refreshed"`
}

// checkLocks reports the tenant's stale locks: those not refreshed for
// backup.LockStaleAfter (their holder died), and objects that are no
// lock at all. Both already keep no one out; Engine.Unlock removes them.
func (c *Checker) checkLocks(ctx context.Context, t string, now time.Time) Result {
	var stale []string
	for oi, err := range c.store().List(ctx, "tenants/"+t+"/locks/") {
		if err != nil {
			return degraded(CheckLocks, t, fmt.Sprintf("cannot list locks: %v", err))
		}
		b, err := storage.ReadAllLimit(ctx, c.store(), oi.Key, 64<<10)
		if errors.Is(err, storage.ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return degraded(CheckLocks, t, fmt.Sprintf("cannot read lock %s: %v", oi.Key, err))
		}
		var l lockBody
		switch {
		case json.Unmarshal(b, &l) != nil:
			stale = append(stale, fmt.Sprintf("%s (unreadable)", oi.Key))
		case now.Sub(l.Refreshed) > backup.LockStaleAfter:
			stale = append(stale, fmt.Sprintf("%s (%q, last refreshed %s)", oi.Key, l.Owner, l.Refreshed.UTC().Format(time.RFC3339)))
		}
	}
	if len(stale) > 0 {
		return degraded(CheckLocks, t, fmt.Sprintf("%d stale locks: %s; their holders died: remove them with Engine.Unlock (backupctl unlock --tenant %s)",
			len(stale), strings.Join(stale, ", "), t))
	}
	return ok(CheckLocks, t, "no stale lock")
}

// checkRPO compares the tenant's newest backup and newest full backup
// (cat, newest first) with its policy's RPOs. A tenant with no backup
// breaches every RPO it has.
func checkRPO(t string, p retention.Policy, cat []backup.Snapshot, now time.Time) Result {
	var newest, newestFull time.Time
	for _, s := range cat {
		if s.Timestamp.After(newest) {
			newest = s.Timestamp
		}
		if s.Type == backup.Full && s.Timestamp.After(newestFull) {
			newestFull = s.Timestamp
		}
	}
	var breaches []string
	for _, r := range []struct {
		kind string
		last time.Time
		rpo  retention.Duration
	}{{"backup", newest, p.RPOIncremental}, {"full backup", newestFull, p.RPOFull}} {
		switch {
		case r.rpo <= 0:
		case r.last.IsZero():
			breaches = append(breaches, fmt.Sprintf("no %s at all (RPO %s)", r.kind, time.Duration(r.rpo)))
		case now.Sub(r.last) > time.Duration(r.rpo):
			breaches = append(breaches, fmt.Sprintf("newest %s is %s old (RPO %s)", r.kind, now.Sub(r.last).Round(time.Minute), time.Duration(r.rpo)))
		}
	}
	if len(breaches) > 0 {
		return degraded(CheckRPO, t, "RPO breached: "+strings.Join(breaches, "; "))
	}
	if newest.IsZero() {
		return ok(CheckRPO, t, "no RPO set")
	}
	return ok(CheckRPO, t, fmt.Sprintf("newest backup %s old", now.Sub(newest).Round(time.Minute)))
}

// checkDrill reads the tenant's drill status (as the retention Scheduler
// stored it) and reports a failed latest drill, a TTR over its SLO, or a
// drill overdue by retention.DrillDeadline. A tenant never drilled is
// counted from its oldest snapshot.
func (c *Checker) checkDrill(ctx context.Context, t string, p retention.Policy, cat []backup.Snapshot, now time.Time) Result {
	if p.DrillSchedule == "" {
		return ok(CheckDrill, t, "no drills scheduled")
	}
	st, err := c.cfg.Policies.DrillStatus(ctx, t)
	if err != nil && !errors.Is(err, retention.ErrNoDrill) {
		return degraded(CheckDrill, t, fmt.Sprintf("cannot read the drill status: %v", err))
	}
	if st == nil {
		st = &retention.DrillStatus{Tenant: t}
	}
	ref := st.LastSuccess
	if ref.IsZero() && len(cat) > 0 {
		ref = cat[len(cat)-1].Timestamp
	}
	if ref.IsZero() {
		return ok(CheckDrill, t, "nothing to drill yet (no snapshot)")
	}
	deadline, err := retention.DrillDeadline(p, ref)
	if err != nil {
		return degraded(CheckDrill, t, fmt.Sprintf("drill schedule: %v", err))
	}
	return drillVerdict(t, st, deadline, now)
}

// drillVerdict judges a drill status against its deadline.
func drillVerdict(t string, st *retention.DrillStatus, deadline, now time.Time) Result {
	var problems []string
	if st.LastStatus == restore.StatusFailed {
		problems = append(problems, fmt.Sprintf("latest drill (%s) failed: %s", st.LastRun.UTC().Format(time.RFC3339), st.Report))
	}
	if st.LastStatus == restore.StatusPassed && st.OverSLO() {
		problems = append(problems, fmt.Sprintf("latest drill took %s to restore, over its SLO of %s", time.Duration(st.TTR).Round(time.Second), time.Duration(st.SLO)))
	}
	if now.After(deadline) {
		last := "never"
		if !st.LastSuccess.IsZero() {
			last = st.LastSuccess.UTC().Format(time.RFC3339)
		}
		problems = append(problems, fmt.Sprintf("drill overdue: last successful drill %s, due by %s", last, deadline.UTC().Format(time.RFC3339)))
	}
	if len(problems) > 0 {
		return degraded(CheckDrill, t, strings.Join(problems, "; "))
	}
	if st.LastSuccess.IsZero() {
		return ok(CheckDrill, t, fmt.Sprintf("not drilled yet; due by %s", deadline.UTC().Format(time.RFC3339)))
	}
	return ok(CheckDrill, t, fmt.Sprintf("last drill %s passed in %s (success rate %.0f%%); next due by %s",
		st.LastSuccess.UTC().Format(time.RFC3339), time.Duration(st.TTR).Round(time.Millisecond), 100*st.SuccessRate(), deadline.UTC().Format(time.RFC3339)))
}

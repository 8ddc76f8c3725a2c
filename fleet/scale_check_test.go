package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/fleet"
	"github.com/iluxsys/steward/retention"
)

// tenantSlot names one scheduled backup.
type tenantSlot struct {
	tenant string
	slot   int
}

// snapInfo is a scheduled snapshot as the catalog shows it.
type snapInfo struct {
	id, member string
}

// checkRun asserts what runFleet promises.
func (f *fleetRun) checkRun() {
	began := time.Now()
	snaps := f.catalog()
	killed := f.killedSlots()
	f.checkCatalog(snaps)
	f.checkAudit(snaps, killed)
	f.checkShares(snaps)
	f.checkRescues()
	f.checkRPOClaims()
	f.t.Logf("checked in %s", time.Since(began).Round(time.Millisecond))
}

// catalog reads every tenant's scheduled snapshots by slot.
func (f *fleetRun) catalog() map[tenantSlot][]snapInfo {
	e, err := backup.New(f.store, nil)
	require.NoError(f.t, err)
	out := map[tenantSlot][]snapInfo{}
	for _, tn := range tenantNames(f.sc.tenants) {
		for _, s := range catalog(f.t, e, tn) {
			var info snapInfo
			slot := -1
			for _, tag := range s.Tags {
				if m, ok := strings.CutPrefix(tag, "member:"); ok {
					info.member = m
				}
				for h := 1; h <= f.sc.slots; h++ {
					if tag == fleet.SlotTag(slotTime(h)) {
						slot = h
					}
				}
			}
			info.id = s.ID
			out[tenantSlot{tn, slot}] = append(out[tenantSlot{tn, slot}], info)
		}
	}
	return out
}

// checkCatalog: every due slot has exactly one snapshot; a broken
// tenant has none; nothing else was taken.
func (f *fleetRun) checkCatalog(snaps map[tenantSlot][]snapInfo) {
	var wrong []string
	due := 0
	for i, tn := range tenantNames(f.sc.tenants) {
		for h := 1; h <= f.sc.slots; h++ {
			want := 1
			if i < f.sc.broken {
				want = 0
			}
			due += want
			if got := len(snaps[tenantSlot{tn, h}]); got != want {
				wrong = append(wrong, fmt.Sprintf("%s slot %d: %d snapshots, want %d", tn, h, got, want))
			}
		}
		if n := len(snaps[tenantSlot{tn, -1}]); n > 0 {
			wrong = append(wrong, fmt.Sprintf("%s: %d snapshots without a slot", tn, n))
		}
	}
	require.Empty(f.t, first(wrong, 10), "%d of %d due slots wrong in the catalog", len(wrong), due)
}

// checkAudit: one backup.created event per snapshot (none or one for a
// slot a killed member was backing up: it may have died between commit
// and record, and a retry finds the snapshot and takes none); the broken
// tenants' slots audited as failed once per attempt; one rpo.breach per
// broken tenant, none for the others.
func (f *fleetRun) checkAudit(snaps map[tenantSlot][]snapInfo, killed map[tenantSlot]bool) {
	began := time.Now()
	created, failed, breaches, scanned := f.auditCounts()
	f.t.Logf("audit log: %d events read in %s", scanned, time.Since(began).Round(time.Millisecond))
	var wrong []string
	for ts, ss := range snaps {
		for _, s := range ss {
			n := created[s.id]
			if n != 1 && !(killed[ts] && n == 0) {
				wrong = append(wrong, fmt.Sprintf("%s slot %d: %d backup.created events for snapshot %s", ts.tenant, ts.slot, n, s.id))
			}
		}
	}
	for i, tn := range first(tenantNames(f.sc.tenants), f.sc.broken) {
		for h := 1; h <= f.sc.slots; h++ {
			if n := failed[tenantSlot{tn, h}]; n != brokenBudget && !killed[tenantSlot{tn, h}] {
				wrong = append(wrong, fmt.Sprintf("%s slot %d: %d backup.failed events, want %d", tn, h, n, brokenBudget))
			}
		}
		want := 0
		if f.sc.slots >= 4 {
			want = 1
		}
		if breaches[tn] != want {
			wrong = append(wrong, fmt.Sprintf("broken tenant %d: %d rpo.breach events, want %d", i, breaches[tn], want))
		}
		delete(breaches, tn)
	}
	for tn, n := range breaches {
		wrong = append(wrong, fmt.Sprintf("%s: %d rpo.breach events, want none", tn, n))
	}
	require.Empty(f.t, first(wrong, 10), "%d audit counts wrong", len(wrong))
}

// auditCounts reads the audit log once: backup.created events per
// snapshot, backup.failed per tenant and slot, rpo.breach per tenant.
func (f *fleetRun) auditCounts() (created map[string]int, failed map[tenantSlot]int, breaches map[string]int, scanned int) {
	log, err := audit.NewLog(master(), f.store, nil)
	require.NoError(f.t, err)
	created, failed, breaches = map[string]int{}, map[tenantSlot]int{}, map[string]int{}
	slots := map[string]int{}
	for h := 1; h <= f.sc.slots; h++ {
		slots[slotTime(h).Format(time.RFC3339)] = h
	}
	types := []audit.EventType{audit.TypeBackupCreated, audit.TypeBackupFailed, audit.TypeRPOBreach}
	for e, err := range log.Events(master(), audit.Filter{Types: types}) {
		require.NoError(f.t, err)
		scanned++
		switch e.Type {
		case audit.TypeBackupCreated:
			id, _ := e.Data[audit.DataSnapshotID].(string)
			created[id]++
		case audit.TypeBackupFailed:
			s, _ := e.Data["slot"].(string)
			failed[tenantSlot{e.Tenant, slots[s]}]++
		case audit.TypeRPOBreach:
			require.Equal(f.t, retention.RPOKindIncremental, e.Data["kind"], "%s's breach", e.Tenant)
			breaches[e.Tenant]++
		}
	}
	return created, failed, breaches, scanned
}

// checkShares: over the slots during which no member was killed, each
// seat took 0.85–1.15 of an even share of the backups. A seat is a
// member and the replacements that took its place after it was killed
// (without replacements, only the slots before the first kill count).
// Below minShared backups (the small runs) chance alone strays further:
// there each seat must only have taken some.
func (f *fleetRun) checkShares(snaps map[tenantSlot][]snapInfo) {
	replaced, killSlots := map[string]string{}, map[int]bool{}
	for _, k := range f.kills {
		killSlots[k.slot] = true
		if k.successor != "" {
			replaced[k.successor] = k.id
		}
	}
	seat := func(id string) string {
		for replaced[id] != "" {
			id = replaced[id]
		}
		return id
	}
	var slots []int
	for h := 1; h <= f.sc.slots; h++ {
		if !killSlots[h] && (f.sc.replace || len(f.kills) == 0 || h < f.kills[0].slot) {
			slots = append(slots, h)
		}
	}
	per, total := map[string]int{}, 0
	for _, h := range slots {
		for _, tn := range tenantNames(f.sc.tenants) {
			for _, s := range snaps[tenantSlot{tn, h}] {
				per[seat(s.member)]++
				total++
			}
		}
	}
	even := float64(total) / float64(f.sc.members)
	f.t.Logf("shares of %d backups over slots %v by seat: %v (even: %.1f)", total, slots, per, even)
	require.Len(f.t, per, f.sc.members, "seats that took backups")
	if total < minShared {
		return
	}
	for m, n := range per {
		r := float64(n) / even
		require.True(f.t, r >= 0.85 && r <= 1.15, "seat %s took %d backups, %.2f of an even share (%v)", m, n, r, per)
	}
}

// killedSlots are the slots the killed members were backing up.
func (f *fleetRun) killedSlots() map[tenantSlot]bool {
	out := map[tenantSlot]bool{}
	for _, k := range f.kills {
		for _, j := range f.jobRows(k.jobs) {
			var a fleet.BackupArgs
			require.NoError(f.t, json.Unmarshal(j.args, &a))
			for h := 1; h <= f.sc.slots; h++ {
				if a.Slot.Equal(slotTime(h)) {
					out[tenantSlot{a.Tenant, h}] = true
				}
			}
		}
	}
	return out
}

// jobRow is what checkRescues reads of a job.
type jobRow struct {
	id          int64
	state       string
	attempt     int
	attemptedBy []string
	finalizedAt *time.Time
	// rescuedAt is when River's rescuer first took the job from a member
	// that held it too long (its "Stuck job rescued" attempt error).
	rescuedAt *time.Time
	args      []byte
	errors    string
}

func (f *fleetRun) jobRows(ids []int64) []jobRow {
	rows, _ := f.pool.Query(context.Background(), `SELECT id, state::text, attempt, attempted_by, finalized_at,
		(SELECT min((e->>'at')::timestamptz) FROM unnest(errors) e WHERE e->>'error' = $2),
		args, coalesce(array_to_string(errors, '; '), '') FROM river_job WHERE id = ANY($1)`, ids, riverRescued)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (jobRow, error) {
		var j jobRow
		err := r.Scan(&j.id, &j.state, &j.attempt, &j.attemptedBy, &j.finalizedAt, &j.rescuedAt, &j.args, &j.errors)
		return j, err
	})
	require.NoError(f.t, err)
	require.Len(f.t, out, len(ids))
	return out
}

// riverRescued is the attempt error River's rescuer records on a job it
// takes from a member that held it past RescueAfter (riverqueue/river
// v0.51, internal/maintenance/job_rescuer.go).
const riverRescued = "Stuck job rescued by JobRescuer"

// checkRescues: every job a killed member was running was rescued
// within RescueAfter plus one rescuer tick of the kill (plus the
// election of a new leader when the leader was killed), then completed
// by another member. Completion itself is not bounded: the rescued job
// is retried behind the slot's jobs still queued, which a loaded
// machine takes longer to work off (on S3, 1,000 × 24 at load 20, one
// completed 53 s after its kill, rescued well within the bound).
func (f *fleetRun) checkRescues() {
	for _, k := range f.kills {
		bound := f.sc.rescueAfter + rescuerInterval + 5*time.Second // + River's scheduler tick
		if k.leader {
			bound += leaderLease
		}
		var slowest, completed time.Duration
		for _, j := range f.jobRows(k.jobs) {
			by := j.attemptedBy[len(j.attemptedBy)-1]
			if by == k.id && j.state == "completed" && j.finalizedAt != nil && !j.finalizedAt.After(k.at) {
				// The member finished it as it died: the COMMIT it had
				// sent landed after the listing of its running jobs.
				// Under load the rescuer may have taken the job from it
				// once before (stuck past RescueAfter) and River handed
				// it back to the same member: finalized before the kill,
				// it was still the member's own completion.
				f.t.Logf("job %d of killed member %s: completed by it, committed as it died", j.id, k.id)
				continue
			}
			want := "completed"
			if f.brokenSlot(j) { // its retry failed too, and spent the budget
				want = "discarded"
			}
			require.Equal(f.t, want, j.state, "job %d of killed member %s", j.id, k.id)
			require.NotEqual(f.t, k.id, by, "job %d completed by the killed member", j.id)
			// The killed attempt and one retry; more when a retry itself
			// failed (a slow store under load timing out). Either way the
			// slot has one snapshot (checkCatalog): a repeat finds the
			// committed one, and a killed attempt leaves none.
			require.GreaterOrEqual(f.t, j.attempt, 2, "job %d's attempts", j.id)
			if j.attempt > 2 {
				f.t.Logf("job %d of killed member %s took %d attempts: %s", j.id, k.id, j.attempt, j.errors)
			}
			require.NotNil(f.t, j.rescuedAt, "job %d of killed member %s: no rescue among its errors (%s)", j.id, k.id, j.errors)
			took := j.rescuedAt.Sub(k.at)
			slowest, completed = max(slowest, took), max(completed, j.finalizedAt.Sub(k.at))
			require.LessOrEqual(f.t, took, bound, "job %d of killed member %s rescued %s after the kill", j.id, k.id, took)
		}
		f.t.Logf("member %s's %d running jobs rescued within %s of its SIGKILL (bound %s), completed by others within %s",
			k.id, len(k.jobs), slowest.Round(time.Millisecond), bound, completed.Round(time.Millisecond))
	}
}

// brokenSlot reports whether j backs up a slot whose source fails.
func (f *fleetRun) brokenSlot(j jobRow) bool {
	var a fleet.BackupArgs
	require.NoError(f.t, json.Unmarshal(j.args, &a))
	return tenantIndex(a.Tenant) < f.sc.broken
}

// checkRPOClaims: every claimed RPO alert was recorded; one per broken
// tenant.
func (f *fleetRun) checkRPOClaims() {
	var alerted, pending int
	require.NoError(f.t, f.pool.QueryRow(context.Background(),
		`SELECT count(*) FILTER (WHERE alerted), count(*) FILTER (WHERE NOT alerted) FROM steward_fleet_rpo_alert`).Scan(&alerted, &pending))
	want := 0
	if f.sc.slots >= 4 {
		want = f.sc.broken
	}
	require.Equal(f.t, [2]int{want, 0}, [2]int{alerted, pending}, "RPO alerts claimed and recorded, claimed and not recorded")
}

// minShared is the fewest backups whose shares are held to 0.85–1.15.
const minShared = 600

func first[T any](s []T, n int) []T { return s[:min(n, len(s))] }

package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// heavy skips t unless STEWARD_HEAVY=1.
func heavy(t *testing.T) {
	if os.Getenv("STEWARD_HEAVY") != "1" {
		t.Skip("a heavy test: set STEWARD_HEAVY=1 to run it")
	}
}

// Three member processes on one PostgreSQL and one file store, 20
// tenants × 6 hourly slots (see runFleet for what is asserted): a member
// that is not the leader is SIGKILLed during slot 2 and the leader during
// slot 3, so that the new leader's first rescue, once elected, takes both
// members' jobs (River's rescuer otherwise looks every 30 s; the heavy
// TestScaleFleet cases wait for that tick). The S3 store is exercised by
// the heavy cases only: gofakes3 served by a race-instrumented test
// process takes over a second per backup.
func TestFleetProcesses(t *testing.T) {
	runFleet(t, scenario{members: 3, tenants: 20, slots: 6, broken: 2, killAt: 2, failoverAt: 3, work: 50 * time.Millisecond,
		rescueAfter: 3 * time.Second, tick: 300 * time.Millisecond, slotTimeout: 90 * time.Second})
}

// The fleet at scale (STEWARD_HEAVY=1): 3 member processes (Workers 8,
// FetchCooldown 10 ms), 1,000 tenants × 6 hourly slots on a file store;
// a member that is not the leader is SIGKILLed during slot 2, the leader
// during slot 4 (a third and two thirds of the way), and each is
// replaced by a new process. It takes about 90 s on a loaded 2-core
// machine; 1,000 × 24 slots took 5.5 minutes there (4m37s of slots,
// about 10 s each, then 30 s of checks), over the 3 minutes a heavy case
// may take in CI: STEWARD_FLEET_SCALE=1000x24 (TENANTSxSLOTS) runs it,
// or any other size.
func TestScaleFleetFile(t *testing.T) {
	heavy(t)
	runFleet(t, heavyScenario(t, false))
}

// TestScaleFleetFile's run on S3 over HTTP (gofakes3 in memory, served
// on 127.0.0.1 by the test process, the members its clients; see
// startS3), with 100 tenants in CI. STEWARD_FLEET_SCALE=1000x24 runs the
// issue's 1,000 × 24: its slots took 13 minutes on a 2-core machine at
// load 15-20 (about 30 s each, flat: a listing costs what it yields,
// not the bucket's size), then 2.5 minutes of checks. s3mem's own
// listing (STEWARD_FLEET_S3_PLAIN=1) walks the whole bucket: it was
// 40 % of the test process's CPU at 200 × 4 already, and grows with
// the bucket. The requests are logged by kind and prefix.
func TestScaleFleetS3(t *testing.T) {
	heavy(t)
	runFleet(t, heavyScenario(t, true))
}

func heavyScenario(t *testing.T, s3 bool) scenario {
	sc := scenario{members: 3, tenants: 1000, slots: 6, broken: 10, s3: s3, replace: true, work: 5 * time.Millisecond,
		workers: 8, cooldown: 10 * time.Millisecond,
		rescueAfter: 10 * time.Second, tick: time.Second, slotTimeout: 3 * time.Minute}
	if s3 {
		sc.tenants = 100 // see TestScaleFleetS3
	}
	if v := os.Getenv("STEWARD_FLEET_SCALE"); v != "" {
		_, err := fmt.Sscanf(v, "%dx%d", &sc.tenants, &sc.slots)
		require.NoError(t, err, "STEWARD_FLEET_SCALE=%q: want TENANTSxSLOTS", v)
	}
	sc.killAt, sc.failoverAt = max(2, sc.slots/3), max(3, 2*sc.slots/3)
	return sc
}

// runFleet runs sc: for each slot it sets the shared clock, lets the
// leader enqueue, SIGKILLs a member when the scenario says, waits for
// the slot's backups and one RPO check, then asserts (checkRun) every
// due slot backed up exactly once, by catalog and audit log, the
// members' shares, the rescue of the killed members' jobs and the RPO
// alerts.
func runFleet(t *testing.T, sc scenario) {
	f := startFleet(t, sc)
	t.Logf("%d members started, %d policies stored in %s", sc.members, sc.tenants, time.Since(f.began).Round(time.Millisecond))
	for h := 1; h <= sc.slots; h++ {
		began := time.Now()
		dbNow := f.dbNow()
		require.NoError(t, setClock(f.clockFile, slotTime(h)))
		if h == sc.killAt {
			f.killMidRun(h, false)
		}
		if h == sc.failoverAt {
			f.killMidRun(h, true)
		}
		f.waitSlot(h)
		f.waitFor(fmt.Sprintf("an RPO check at slot %d", h), sc.slotTimeout, func() bool {
			return f.count(`kind = 'steward_fleet_rpo' AND state = 'completed' AND created_at > $1`, dbNow) > 0
		})
		t.Logf("slot %2d: %d backups in %s", h, sc.tenants, time.Since(began).Round(time.Millisecond))
	}
	f.waitFor("every backup job to finish", sc.slotTimeout+rescuerInterval, func() bool {
		return f.count(`kind = 'steward_backup' AND finalized_at IS NULL`) == 0
	})
	elapsed := time.Since(f.began)
	t.Logf("%d slots × %d tenants on %d members in %s (%.1f backups/s)", sc.slots, sc.tenants, sc.members,
		elapsed.Round(time.Millisecond), float64(sc.slots*sc.tenants)/elapsed.Seconds())
	if f.s3 != nil {
		t.Logf("S3 requests while the fleet ran, by kind, then by kind and prefix:\n%s", f.s3.counts.report(sc.slots*sc.tenants))
	}
	// Stopped first: the file store's listing can trip over a temporary
	// object a live member's audit append renames meanwhile.
	f.stopAll()
	f.checkRun()
}

// waitSlot waits until slot h's backup jobs are all enqueued and
// finished, but those running on a killed member, and slot h-1's all
// finished (a killed member's too), so no tenant falls more than one slot
// behind.
func (f *fleetRun) waitSlot(h int) {
	slot, prev := slotTime(h).Format(time.RFC3339), slotTime(h-1).Format(time.RFC3339)
	dead := f.deadIDs()
	f.waitFor(fmt.Sprintf("slot %d's backups", h), f.sc.slotTimeout, func() bool {
		done := f.count(`kind = 'steward_backup' AND args->>'slot' = $1 AND (finalized_at IS NOT NULL
			OR (state = 'running' AND attempted_by[cardinality(attempted_by)] = ANY($2)))`, slot, dead)
		return done == f.sc.tenants && f.count(`kind = 'steward_backup' AND args->>'slot' = $1 AND finalized_at IS NULL`, prev) == 0
	})
}

// killMidRun SIGKILLs the leader (leader) or another member once it is
// running a backup of slot h, and records the jobs it was running.
func (f *fleetRun) killMidRun(h int, leader bool) {
	id := f.leader()
	if !leader {
		for other := range f.procs {
			if other != id && !f.killed(other) {
				id = other
				break
			}
		}
	}
	running := `kind = 'steward_backup' AND state = 'running' AND attempted_by[cardinality(attempted_by)] = $1`
	f.waitFor(fmt.Sprintf("member %s to run a backup", id), f.sc.slotTimeout, func() bool { return f.count(running, id) > 0 })
	require.NoError(f.t, f.procs[id].cmd.Process.Signal(syscall.SIGKILL))
	<-f.procs[id].done
	k := kill{id: id, slot: h, leader: leader, at: f.dbNow()}
	rows, _ := f.pool.Query(context.Background(), `SELECT id FROM river_job WHERE `+running, id)
	var err error
	k.jobs, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(f.t, err)
	if f.sc.replace {
		k.successor = fmt.Sprintf("m%d", len(f.procs)+1)
		f.spawn(k.successor)
	}
	f.kills = append(f.kills, k)
	f.t.Logf("slot %d: SIGKILLed member %s (leader: %v) running %d backups", h, id, leader, len(k.jobs))
	if leader {
		began := time.Now()
		f.waitFor("a new leader", 2*leaderLease, func() bool { l := f.leader(); return l != "" && !f.killed(l) })
		f.t.Logf("member %s leads %s after the leader's death", f.leader(), time.Since(began).Round(time.Millisecond))
	}
}

func (f *fleetRun) deadIDs() []string {
	var out []string
	for _, k := range f.kills {
		out = append(out, k.id)
	}
	return out
}

// leader is the id of River's elected leader, "" when there is none.
func (f *fleetRun) leader() string {
	var id string
	err := f.pool.QueryRow(context.Background(), `SELECT leader_id FROM river_leader WHERE expires_at > now()`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ""
	}
	require.NoError(f.t, err)
	return id
}

func (f *fleetRun) dbNow() time.Time {
	var now time.Time
	require.NoError(f.t, f.pool.QueryRow(context.Background(), `SELECT now()`).Scan(&now))
	return now
}

// count counts the jobs matching where.
func (f *fleetRun) count(where string, args ...any) int {
	var n int
	require.NoError(f.t, f.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE `+where, args...).Scan(&n))
	return n
}

// waitFor polls cond every 20 ms for up to limit, and fails the test
// with the members' logs when it never holds.
func (f *fleetRun) waitFor(what string, limit time.Duration, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			for id, p := range f.procs {
				b, _ := os.ReadFile(p.log)
				f.t.Logf("member %s's log:\n%s", id, tail(b, 2000))
			}
			f.t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

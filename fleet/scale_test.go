package fleet_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/fleet"
	"github.com/iluxsys/steward/internal/pgtest"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// scenario is a fleet of member processes run over hourly slots.
type scenario struct {
	members, tenants, slots int
	// broken tenants' sources always fail: their backups are discarded
	// after their budget (2 attempts), and they enter an RPO breach (150
	// min from when the fleet first checked them, at 00:30) at slot 4.
	broken int
	s3     bool
	// killAt is the slot during which a member that is not the leader is
	// SIGKILLed mid-backup, failoverAt the slot during which the leader
	// is (0: none).
	killAt, failoverAt int
	// replace starts a new member process after each kill, as a host
	// that restarts would.
	replace           bool
	work              time.Duration // each backup's source takes this long
	workers           int           // each member's Workers (default 4)
	cooldown          time.Duration // each member's FetchCooldown (default River's)
	rescueAfter, tick time.Duration
	slotTimeout       time.Duration // how long one slot may take
}

// slot0 is the fleet's time before the first slot; slot h is h hours later.
var slot0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func slotTime(h int) time.Time { return slot0.Add(time.Duration(h) * time.Hour) }

// brokenBudget is the broken tenants' retry budget.
const brokenBudget = 2

// Bounds River keeps to itself (riverqueue/river v0.51): the leader's
// rescuer looks for stuck jobs every 30 s; a dead leader's lease expires
// after 15 s and the others try to take it every 5 s.
const (
	rescuerInterval = 30 * time.Second
	leaderLease     = 20 * time.Second
)

// fleetRun is a running scenario: the database, the store, the clock file
// and the member processes.
type fleetRun struct {
	t         *testing.T
	sc        scenario
	pool      *pgxpool.Pool
	store     storage.Store
	clockFile string
	spec      memberSpec
	procs     map[string]*memberProc
	s3        *s3Server // nil on a file store
	kills     []kill
	began     time.Time
}

// memberProc is a member process; done closes when it exited.
type memberProc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// kill is a member SIGKILLed: when (database time), during which slot,
// whether it led, and the jobs it was running.
type kill struct {
	id     string
	slot   int
	leader bool
	at     time.Time
	jobs   []int64
	// successor is the id of the member spawned in its place, if any.
	successor string
}

func startFleet(t *testing.T, sc scenario) *fleetRun {
	db := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(t.Context(), db.URL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, fleet.Migrate(t.Context(), pool, ""))
	dir := t.TempDir()
	f := &fleetRun{t: t, sc: sc, pool: pool, clockFile: filepath.Join(dir, "clock"), procs: map[string]*memberProc{}, began: time.Now()}
	storeURL := filepath.Join(dir, "store")
	if sc.s3 {
		t.Setenv("AWS_ACCESS_KEY_ID", "test")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
		f.s3 = startS3(t)
		storeURL = f.s3.storeURL("fleet")
	}
	f.store, err = storage.Open(t.Context(), storeURL)
	require.NoError(t, err)
	t.Cleanup(func() { f.store.Close() })
	f.seedPolicies()
	require.NoError(t, setClock(f.clockFile, slotTime(0).Add(30*time.Minute)))
	f.spec = memberSpec{DB: db.URL, Store: storeURL, ClockFile: f.clockFile, Tenants: sc.tenants, Broken: sc.broken,
		Work: sc.work, RescueAfter: sc.rescueAfter, Tick: sc.tick, Workers: sc.workers, Cooldown: sc.cooldown}
	for i := range sc.members {
		f.spawn(fmt.Sprintf("m%d", i+1))
	}
	t.Cleanup(f.stopAll)
	f.waitFor("a leader's first RPO check", time.Minute, func() bool { return f.count(`kind = 'steward_fleet_rpo' AND state = 'completed'`) > 0 })
	return f
}

// seedPolicies stores every tenant's policy: hourly backups, an
// incremental RPO of 150 min; the broken tenants' retry budget.
func (f *fleetRun) seedPolicies() {
	ps := retention.NewPolicies(f.store, nil)
	for i, tn := range tenantNames(f.sc.tenants) {
		p := retention.Policy{IncrementalDays: 7, Schedule: "0 * * * *", RPOIncremental: retention.Duration(150 * time.Minute)}
		if i < f.sc.broken {
			p.MaxAttempts = brokenBudget
		}
		require.NoError(f.t, ps.Set(master(), tn, p))
	}
}

func (f *fleetRun) spawn(id string) {
	s := f.spec
	s.ID = id
	b, err := json.Marshal(s)
	require.NoError(f.t, err)
	logPath := filepath.Join(filepath.Dir(f.clockFile), id+".log")
	out, err := os.Create(logPath)
	require.NoError(f.t, err)
	defer out.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envMember+"="+string(b))
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(f.t, cmd.Start())
	p := &memberProc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	f.procs[id] = p
}

// stopAll stops the live members (SIGTERM, then SIGKILL after 20 s) and
// shows the logs of those that did not exit cleanly.
func (f *fleetRun) stopAll() {
	for id, p := range f.procs {
		select {
		case <-p.done:
			continue // killed, or stopped before
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if code := p.cmd.ProcessState.ExitCode(); code != 0 && !f.killed(id) {
			b, _ := os.ReadFile(p.log)
			f.t.Errorf("member %s exited with %d:\n%s", id, code, tail(b, 4000))
		}
	}
}

func (f *fleetRun) killed(id string) bool {
	for _, k := range f.kills {
		if k.id == id {
			return true
		}
	}
	return false
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

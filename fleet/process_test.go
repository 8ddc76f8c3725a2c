package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/fleet"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
	_ "github.com/iluxsys/steward/storage/cloud" // s3:// for the members on gofakes3
)

// envMember, when set, makes the test binary a fleet member process: its
// value is a memberSpec in JSON (see TestMain).
const envMember = "STEWARD_FLEET_MEMBER"

// memberSpec is what a member process is told by the test that starts it.
type memberSpec struct {
	ID    string `json:"id"`
	DB    string `json:"db"`
	Store string `json:"store"`
	// ClockFile holds the fleet's time (RFC 3339), written by the test:
	// the clock every member shares.
	ClockFile string `json:"clock_file"`
	Tenants   int    `json:"tenants"`
	// The sources of the first Broken tenants always fail.
	Broken int `json:"broken"`
	// Work is how long each backup's source takes to open.
	Work        time.Duration `json:"work"`
	RescueAfter time.Duration `json:"rescue_after"`
	// Tick is the leader's enqueue and RPO interval.
	Tick time.Duration `json:"tick"`
	// Workers and Cooldown are the member's Workers and FetchCooldown.
	Workers  int           `json:"workers"`
	Cooldown time.Duration `json:"cooldown"`
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(envMember); spec != "" {
		if err := runMember(spec); err != nil {
			fmt.Fprintln(os.Stderr, "member:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// envMemberProfiles, when set, names a directory where each member
// process writes the CPU profile of its run, <id>.cpu.prof, when it is
// stopped (a member SIGKILLed leaves it empty).
const envMemberProfiles = "STEWARD_FLEET_MEMBER_PROFILES"

// profileCPU starts a CPU profile written to path; stop ends it.
func profileCPU(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// runMember runs one fleet member until SIGTERM, then stops it.
func runMember(specJSON string) error {
	var s memberSpec
	if err := json.Unmarshal([]byte(specJSON), &s); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	pool, err := pgxpool.New(ctx, s.DB)
	if err != nil {
		return err
	}
	defer pool.Close()
	if dir := os.Getenv(envMemberProfiles); dir != "" {
		end, err := profileCPU(filepath.Join(dir, s.ID+".cpu.prof"))
		if err != nil {
			return err
		}
		defer end()
	}
	store, err := storage.Open(ctx, s.Store)
	if err != nil {
		return err
	}
	defer store.Close()
	m, err := s.member(pool, store)
	if err != nil {
		return err
	}
	if err := m.Start(context.Background()); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = m.Stop(sctx)
	if errors.Is(err, fleet.ErrHandedBack) {
		// A loaded machine's long jobs: handed back is a graceful stop.
		fmt.Fprintln(os.Stderr, "member stopped:", err)
		return nil
	}
	return err
}

// member builds the process's Member: its own audit log, engine and
// policies on the shared store, the shared clock, a trivial source.
func (s *memberSpec) member(pool *pgxpool.Pool, store storage.Store) (*fleet.Member, error) {
	clock := &fileClock{path: s.ClockFile}
	log, err := audit.NewLog(master(), store, &audit.LogConfig{Clock: clock})
	if err != nil {
		return nil, err
	}
	e, err := backup.New(store, &backup.Config{Clock: clock, Auditor: log})
	if err != nil {
		return nil, err
	}
	names := tenantNames(s.Tenants)
	return fleet.New(pool, &fleet.Config{
		Engine: e, Policies: retention.NewPolicies(store, nil), Source: s.source(),
		Tenants: func(context.Context) ([]string, error) { return names, nil },
		Options: backup.Options{Tags: []string{memberTag(s.ID)}},
		Clock:   clock, Auditor: log, AuditLog: log,
		ID: s.ID, Workers: s.Workers, FetchCooldown: s.Cooldown, EnqueueInterval: s.Tick, RPOInterval: s.Tick, CatchUp: 20 * time.Minute,
		RescueAfter: s.RescueAfter, PollInterval: 200 * time.Millisecond, RetryPolicy: quickRetry{},
	})
}

// source opens a one-file tenant after s.Work, or fails for a broken
// tenant.
func (s *memberSpec) source() func(context.Context, string) (backup.Source, error) {
	return func(ctx context.Context, t string) (backup.Source, error) {
		if tenantIndex(t) < s.Broken {
			return nil, errSourceDown
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(s.Work):
		}
		return backup.FSSource(fstest.MapFS{"users/a.json": {Data: []byte(`{"tenant":"` + t + `"}`)}}), nil
	}
}

func tenantNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("t%04d", i)
	}
	return out
}

func tenantIndex(t string) int {
	i, err := strconv.Atoi(strings.TrimPrefix(t, "t"))
	if err != nil {
		return -1
	}
	return i
}

func memberTag(id string) string { return "member:" + id }

// fileClock is the fleet's time as the test wrote it in a file (replaced
// atomically by rename), so that every member process shares it.
type fileClock struct {
	path string
	last atomic.Pointer[time.Time]
}

// Now reads the file; if it cannot, it returns the last time read.
func (c *fileClock) Now() time.Time {
	b, err := os.ReadFile(c.path)
	if err == nil {
		if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b))); err == nil {
			c.last.Store(&t)
			return t
		}
	}
	if t := c.last.Load(); t != nil {
		return *t
	}
	panic(errors.Join(errors.New("fleet test: the shared clock is unreadable"), err))
}

// setClock writes the fleet's time for every member.
func setClock(path string, t time.Time) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(t.UTC().Format(time.RFC3339Nano)), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

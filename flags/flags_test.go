package flags_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/flags"
	"github.com/iluxsys/steward/storage"
)

func master() context.Context {
	return steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
}

func open(t testing.TB, store storage.Store) *flags.Set {
	s, err := flags.New(context.Background(), store, nil)
	require.NoError(t, err)
	return s
}

func tenants(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("tenant-%06d", i)
	}
	return out
}

func TestEvaluationOrder(t *testing.T) {
	s := open(t, storage.NewMemory())
	ctx := master()
	require.False(t, s.Enabled("missing", "acme"))
	require.NoError(t, s.Set(ctx, "beta", true, flags.Options{TargetTenants: []string{"acme"}}))
	require.True(t, s.Enabled("beta", "acme"), "a target is on")
	require.False(t, s.Enabled("beta", "globex"), "targets alone: others off")
	require.NoError(t, s.Set(ctx, "beta", false, flags.Options{TargetTenants: []string{"acme"}, RolloutPercentage: 100}))
	require.False(t, s.Enabled("beta", "acme"), "disabled wins over targets")
	require.NoError(t, s.Set(ctx, "beta", true, flags.Options{RolloutPercentage: 100}))
	require.True(t, s.Enabled("beta", "anyone"))
	require.NoError(t, s.Set(ctx, "beta", true, flags.Options{TargetTenants: []string{"acme"}, RolloutPercentage: 50}))
	on, why := s.Evaluate("beta", "acme")
	require.True(t, on)
	require.Equal(t, flags.ReasonTarget, why)
	f, ok := s.Get("beta")
	require.True(t, ok)
	require.Equal(t, uint64(4), f.Version)
	require.Equal(t, "ops", f.UpdatedBy)
}

func TestStickyRollout(t *testing.T) {
	ts := tenants(100_000)
	buckets := make([]uint32, len(ts))
	for i, tn := range ts {
		buckets[i] = flags.Bucket("new-checkout", tn)
	}
	// A tenant enabled at p% is enabled at every q > p: enabled(p) is
	// bucket < 100p, monotone in p. Check it through the real Set too.
	s := open(t, storage.NewMemory())
	ctx := master()
	prev := make([]bool, len(ts))
	for p := 0; p <= 100; p++ {
		require.NoError(t, s.Set(ctx, "new-checkout", true, flags.Options{RolloutPercentage: float64(p)}))
		n := 0
		for i, tn := range ts {
			on := s.Enabled("new-checkout", tn)
			require.Equal(t, buckets[i] < uint32(p*100), on)
			if prev[i] && !on {
				t.Fatalf("tenant %s was on at %d%% and off at %d%%", tn, p-1, p)
			}
			prev[i] = on
			if on {
				n++
			}
		}
		if p == 50 {
			share := float64(n) / float64(len(ts))
			require.InDelta(t, 0.5, share, 0.01, "share at 50%% is %.4f", share)
		}
		if p == 100 {
			require.Equal(t, len(ts), n)
		}
	}
}

func TestIndependentFlags(t *testing.T) {
	ts := tenants(100_000)
	both := 0
	for _, tn := range ts {
		if flags.Bucket("a", tn) < 5000 && flags.Bucket("b", tn) < 5000 {
			both++
		}
	}
	require.InDelta(t, 0.25, float64(both)/float64(len(ts)), 0.01, "two flags at 50%% overlap in a quarter")
}

func TestValidation(t *testing.T) {
	store := storage.NewMemory()
	s := open(t, store)
	ctx := master()
	cases := []struct {
		name string
		opts flags.Options
	}{
		{"", flags.Options{}},
		{"Bad Name", flags.Options{}},
		{"../x", flags.Options{}},
		{strings.Repeat("a", 65), flags.Options{}},
		{"ok", flags.Options{RolloutPercentage: -1}},
		{"ok", flags.Options{RolloutPercentage: 100.5}},
		{"ok", flags.Options{RolloutPercentage: math.NaN()}},
		{"ok", flags.Options{TargetTenants: []string{"Acme/1"}}},
	}
	for _, c := range cases {
		err := s.Set(ctx, c.name, true, c.opts)
		require.ErrorIs(t, err, flags.ErrInvalid, "%q %+v", c.name, c.opts)
	}
	for _, err := range store.List(context.Background(), "") {
		require.NoError(t, err)
		t.Fatal("invalid input wrote something")
	}
	require.ErrorIs(t, s.Delete(ctx, "nope"), flags.ErrNotFound)
}

func TestConflict(t *testing.T) {
	store := storage.NewMemory()
	a, b := open(t, store), open(t, store)
	ctx := master()
	require.NoError(t, a.Set(ctx, "x", true, flags.Options{RolloutPercentage: 10}))
	require.NoError(t, b.Refresh(ctx))
	require.NoError(t, a.Set(ctx, "x", true, flags.Options{RolloutPercentage: 20}))
	err := b.Set(ctx, "x", true, flags.Options{RolloutPercentage: 30})
	require.ErrorIs(t, err, flags.ErrConflict, "b wrote from a stale version")
	f, _ := b.Get("x")
	require.Equal(t, 20.0, f.RolloutPercentage, "the conflict refreshed b")
	require.NoError(t, b.Set(ctx, "x", true, flags.Options{RolloutPercentage: 30}), "a retry applies on top")
	require.NoError(t, a.Refresh(ctx))
	f, _ = a.Get("x")
	require.Equal(t, 30.0, f.RolloutPercentage)
	require.Equal(t, uint64(3), f.Version)
}

func TestDeleteAndRecreate(t *testing.T) {
	store := storage.NewMemory()
	s := open(t, store)
	ctx := master()
	require.NoError(t, s.Set(ctx, "x", true, flags.Options{RolloutPercentage: 100}))
	require.NoError(t, s.Delete(ctx, "x"))
	require.False(t, s.Enabled("x", "a"))
	_, ok := s.Get("x")
	require.False(t, ok)
	require.Empty(t, s.List())
	other := open(t, store)
	require.Empty(t, other.List(), "another process sees the deletion")
	require.NoError(t, other.Set(ctx, "x", true, flags.Options{RolloutPercentage: 100}))
	f, _ := other.Get("x")
	require.Equal(t, uint64(3), f.Version)
}

func TestWatchSeesOtherWriters(t *testing.T) {
	store := storage.NewMemory()
	reader, err := flags.New(context.Background(), store, &flags.Config{RefreshInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go reader.Watch(ctx, func(err error) { t.Error(err) })
	writer := open(t, store)
	require.NoError(t, writer.Set(master(), "live", true, flags.Options{RolloutPercentage: 100}))
	require.Eventually(t, func() bool { return reader.Enabled("live", "acme") }, 5*time.Second, 5*time.Millisecond)
}

// TestConcurrentReadersAndWriter: readers running while a writer changes a
// flag only ever see a state that was written, whole (enabled, rollout and
// description from the same write), never going back to an older one, and
// Enabled answers as that state says.
func TestConcurrentReadersAndWriter(t *testing.T) {
	const name, tenant = "f", "tenant-1"
	type write struct {
		enabled bool
		opts    flags.Options
		on      bool // what Enabled(name, tenant) must answer under this write
	}
	// Each write has its own description, so a read says which write it
	// saw; the rollout climbs from 0 to 100 % and every fifth write turns
	// the flag off, so Enabled's answer for tenant changes along the way.
	writes := make([]write, 51)
	seen := map[bool]bool{}
	for i := range writes {
		pct := float64(2 * i)
		w := write{enabled: i%5 != 4, opts: flags.Options{Description: fmt.Sprintf("write %d", i), RolloutPercentage: pct}}
		w.on = w.enabled && flags.Bucket(name, tenant) < uint32(math.Round(pct*100))
		seen[w.on] = true
		writes[i] = w
	}
	require.Len(t, seen, 2, "the writes should make Enabled answer both true and false for %s", tenant)
	// which returns the index of the write f is, or -1 after reporting
	// that f is no write at all.
	which := func(f flags.Flag) int {
		var i int
		if _, err := fmt.Sscanf(f.Description, "write %d", &i); err != nil || i < 0 || i >= len(writes) {
			t.Errorf("read a flag no write made: %+v", f)
			return -1
		}
		w := writes[i]
		if f.Enabled != w.enabled || f.RolloutPercentage != w.opts.RolloutPercentage {
			t.Errorf("read a torn flag: got enabled %v rollout %v, want write %d's enabled %v rollout %v", f.Enabled, f.RolloutPercentage, i, w.enabled, w.opts.RolloutPercentage)
			return -1
		}
		return i
	}

	s := open(t, storage.NewMemory())
	ctx := master()
	require.NoError(t, s.Set(ctx, name, writes[0].enabled, writes[0].opts))
	// Each reader reads once before the writes start (ready), so reads and
	// writes overlap; a reader that fails stops, releasing ready.
	var wg, ready sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			readied := sync.OnceFunc(ready.Done)
			defer readied()
			last := 0
			for n := 0; ; n++ {
				if n == 1 {
					readied()
				}
				select {
				case <-stop:
					return
				default:
				}
				before, ok := s.Get(name)
				on := s.Enabled(name, tenant)
				list := s.List()
				after, ok2 := s.Get(name)
				if !ok || !ok2 || len(list) != 1 {
					t.Errorf("flag %q vanished: Get ok %v then %v, List has %d flags, want 1", name, ok, ok2, len(list))
					return
				}
				b, l, a := which(before), which(list[0]), which(after)
				if b < 0 || l < 0 || a < 0 {
					return
				}
				if b < last || l < b || a < l {
					t.Errorf("reads went back: write %d, then %d, %d, %d", last, b, l, a)
					return
				}
				if b == a && on != writes[b].on {
					t.Errorf("Enabled(%q, %q) = %v under write %d, want %v", name, tenant, on, b, writes[b].on)
					return
				}
				last = a
			}
		}()
	}
	ready.Wait()
	for _, w := range writes[1:] {
		require.NoError(t, s.Set(ctx, name, w.enabled, w.opts))
	}
	close(stop)
	wg.Wait()
	got, ok := s.Get(name)
	require.True(t, ok)
	require.Equal(t, len(writes)-1, which(got), "the last write is what remains")
}

func TestAuditedAndAuthorized(t *testing.T) {
	var events []audit.Event
	var mu sync.Mutex
	aud := audit.AuditorFunc(func(_ context.Context, e audit.Event) error {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
		return nil
	})
	store := storage.NewMemory()
	s, err := flags.New(context.Background(), store, &flags.Config{Auditor: aud})
	require.NoError(t, err)
	require.NoError(t, s.Set(master(), "x", true, flags.Options{RolloutPercentage: 5}))
	viewer := steward.WithPrincipal(context.Background(), steward.Principal{ID: "eve"})
	require.ErrorIs(t, s.Set(viewer, "x", true, flags.Options{RolloutPercentage: 100}), steward.ErrForbidden)
	require.ErrorIs(t, s.Delete(viewer, "x"), steward.ErrForbidden)
	f, _ := s.Get("x")
	require.Equal(t, 5.0, f.RolloutPercentage)
	require.Len(t, events, 3)
	require.Equal(t, audit.TypeFlagChanged, events[0].Type)
	require.Equal(t, "ops", events[0].UserID)
	require.Equal(t, audit.TypeAccessDenied, events[1].Type)
	require.Equal(t, "eve", events[1].UserID)
}

const childEnv = "STEWARD_FLAGS_CHILD"

// TestTwoProcessesDifferentFlags: two processes update different flags
// over and over on one directory store; neither update is lost.
func TestTwoProcessesDifferentFlags(t *testing.T) {
	if v := os.Getenv(childEnv); v != "" {
		dir, name, _ := strings.Cut(v, "|")
		store, err := storage.OpenDir(dir)
		require.NoError(t, err)
		s := open(t, store)
		for p := 1; p <= 30; p++ {
			require.NoError(t, s.Set(master(), name, true, flags.Options{RolloutPercentage: float64(p)}))
		}
		return
	}
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for _, name := range []string{"alpha", "beta"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTwoProcessesDifferentFlags$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+dir+"|"+name)
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(out.String())
			}
		})
	}
	for _, c := range cmds {
		require.NoError(t, c.Wait())
	}
	store, err := storage.OpenDir(dir)
	require.NoError(t, err)
	s := open(t, store)
	for _, name := range []string{"alpha", "beta"} {
		f, ok := s.Get(name)
		require.True(t, ok)
		require.Equal(t, 30.0, f.RolloutPercentage)
		require.Equal(t, uint64(30), f.Version)
	}
}

func FuzzDecodeFlag(f *testing.F) {
	f.Add([]byte(`{"name":"x","enabled":true,"rollout_percentage":50,"version":1}`))
	f.Add([]byte(`{"name":"x","deleted":true,"version":2}`))
	f.Add([]byte(`{"name":"../x","version":1}`))
	const key = "flags/new-checkout/00000000000000000001.json"
	f.Fuzz(func(t *testing.T, b []byte) {
		plain, plainErr := flags.DecodeFlag(key, b, nil)
		_, keyedErr := flags.DecodeFlag(key, b, testKey)
		if plainErr == nil && keyedErr == nil {
			t.Fatalf("accepted both with and without the record key: %q", b)
		}
		for _, err := range []error{plainErr, keyedErr} {
			if err != nil && !errors.Is(err, flags.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
		}
		if plainErr != nil {
			return
		}
		if plain.Version != 1 || plain.Name != "new-checkout" {
			t.Fatalf("accepted %+v from %s", plain, key)
		}
		if !plain.Deleted && (plain.RolloutPercentage < 0 || plain.RolloutPercentage > 100) {
			t.Fatalf("accepted percentage %v", plain.RolloutPercentage)
		}
	})
}

func FuzzOptions(f *testing.F) {
	f.Add("beta", 50.0, "acme")
	f.Add("", -1.0, "Bad")
	f.Fuzz(func(t *testing.T, name string, pct float64, tenant string) {
		s := open(t, storage.NewMemory())
		err := s.Set(master(), name, true, flags.Options{RolloutPercentage: pct, TargetTenants: []string{tenant}})
		if err != nil {
			if _, ok := s.Get(name); ok {
				t.Fatal("a refused Set left a flag")
			}
			return
		}
		if !s.Enabled(name, tenant) {
			t.Fatalf("target %q not enabled", tenant)
		}
	})
}

func BenchmarkEnabled(b *testing.B) {
	s := open(b, storage.NewMemory())
	ctx := master()
	for i := range 1000 {
		require.NoError(b, s.Set(ctx, fmt.Sprintf("flag-%04d", i), true, flags.Options{RolloutPercentage: 50, TargetTenants: []string{"vip"}}))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = s.Enabled("flag-0500", "tenant-000123")
		i++
	}
}

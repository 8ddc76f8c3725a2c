package repo

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

func newTestRepo(t *testing.T) *Repo {
	t.Helper()
	r, err := Open(context.Background(), storage.NewMemory(), "tenants/t/", Options{Create: true, Now: time.Now()})
	require.NoError(t, err)
	return r
}

func countLocks(t *testing.T, r *Repo) int {
	n := 0
	for _, err := range r.store.List(context.Background(), r.prefix+"locks/") {
		require.NoError(t, err)
		n++
	}
	return n
}

func TestLockCompatibility(t *testing.T) {
	for _, tc := range []struct {
		name         string
		held, wanted bool // exclusive?
		wantConflict bool
	}{
		{"shared then shared", false, false, false},
		{"shared then exclusive", false, true, true},
		{"exclusive then shared", true, false, true},
		{"exclusive then exclusive", true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newTestRepo(t)
			held, err := r.Lock(ctx, tc.held, "first", time.Now)
			require.NoError(t, err)
			second, err := r.Lock(ctx, tc.wanted, "second", time.Now)
			if tc.wantConflict {
				require.ErrorIs(t, err, ErrLocked)
				require.Contains(t, err.Error(), `"first"`, "the error names the holder")
				require.Equal(t, 1, countLocks(t, r), "the loser removed its own lock object")
			} else {
				require.NoError(t, err)
				require.NoError(t, second.Unlock(ctx))
			}
			require.NoError(t, held.Unlock(ctx))
			require.Zero(t, countLocks(t, r), "unlock removes the lock object")
			// Once released, an exclusive lock is free to take.
			ex, err := r.Lock(ctx, true, "after", time.Now)
			require.NoError(t, err)
			require.NoError(t, ex.Unlock(ctx))
		})
	}
}

func TestStaleLockIsIgnored(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	dead, err := r.Lock(ctx, true, "crashed prune", clock)
	require.NoError(t, err)
	// The holder dies: its refresher stops, its object stays.
	close(dead.stop)
	dead.done.Wait()

	_, err = r.Lock(ctx, false, "backup", clock)
	require.ErrorIs(t, err, ErrLocked, "a fresh exclusive lock keeps backups out")
	now.Add(int64(StaleAfter + time.Second))
	l, err := r.Lock(ctx, false, "backup", clock)
	require.NoError(t, err, "a lock not refreshed for StaleAfter is ignored")
	require.NoError(t, l.Unlock(ctx))
}

func TestExclusiveLockRace(t *testing.T) {
	// Many processes racing for the exclusive lock: at most one holds it
	// at any moment.
	ctx := context.Background()
	r := newTestRepo(t)
	var holders, maxHolders atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 10 {
				l, err := r.Lock(ctx, true, "p"+string(rune('0'+i)), time.Now)
				if err != nil {
					require.ErrorIs(t, err, ErrLocked)
					continue
				}
				h := holders.Add(1)
				for {
					m := maxHolders.Load()
					if h <= m || maxHolders.CompareAndSwap(m, h) {
						break
					}
				}
				holders.Add(-1)
				require.NoError(t, l.Unlock(ctx))
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, maxHolders.Load(), int64(1), "never two exclusive holders")
	require.Zero(t, countLocks(t, r))
}

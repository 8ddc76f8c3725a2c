package repo

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// putLock writes a lock object as a process that died at refreshed would
// have left it.
func putLock(t *testing.T, r *Repo, name, owner string, exclusive bool, refreshed time.Time) {
	t.Helper()
	b, err := json.Marshal(lockBody{Owner: owner, Host: "db-1", PID: 4242, Exclusive: exclusive, Created: refreshed.Add(-time.Minute), Refreshed: refreshed})
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(context.Background(), r.store, r.prefix+"locks/"+name, b, nil))
}

func TestLockedErrorNamesHolderAndStaleTime(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	refreshed := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	putLock(t, r, "aa", "backup by alice", false, refreshed)
	_, err := r.Lock(ctx, true, "prune by bob", func() time.Time { return refreshed.Add(time.Minute) })
	require.ErrorIs(t, err, ErrLocked)
	le, ok := err.(*LockedError)
	require.True(t, ok, "got %T, want *LockedError", err)
	require.Equal(t, refreshed.Add(StaleAfter), le.StaleAt)
	for _, want := range []string{`"backup by alice"`, "host db-1, pid 4242", "locks/aa", "goes stale at 2026-01-01T10:05:00Z", "backupctl unlock"} {
		require.Contains(t, err.Error(), want)
	}

	// A lock this build takes records the host and the PID.
	l, err := newTestRepo(t).Lock(ctx, false, "me", time.Now)
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), l.body.PID)
	require.NoError(t, l.Unlock(ctx))
}

func TestRemoveLocks(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		force bool
		want  []string // lock names removed
	}{
		{"stale only", false, []string{"dead", "garbage"}},
		{"forced", true, []string{"dead", "garbage", "live"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRepo(t)
			putLock(t, r, "dead", "backup by killed process", false, now.Add(-StaleAfter-time.Second))
			putLock(t, r, "live", "prune by bob", true, now.Add(-time.Minute))
			require.NoError(t, storage.PutBytes(ctx, r.store, r.prefix+"locks/garbage", []byte("{not json"), nil))
			removed, err := r.RemoveLocks(ctx, tc.force, now)
			require.NoError(t, err)
			var got []string
			for _, l := range removed {
				got = append(got, l.Key[len("locks/"):])
			}
			require.Equal(t, tc.want, got, "removed locks")
			require.Equal(t, "backup by killed process", removed[0].Owner)
			require.True(t, removed[0].Stale)
			require.True(t, removed[1].Unreadable)
			require.Equal(t, 3-len(tc.want), countLocks(t, r), "locks left")
		})
	}
}

package steward_test

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/flags"
	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/storage"
)

// TestStoreWithoutConditionalCreate runs every multi-writer operation on a
// store that silently ignores IfNotExist: each is refused with
// ErrNoConditionalCreate, naming the operation — never silently wrong —
// while single-writer-safe work (backups, restores, reads) goes on, and a
// host that declares SingleWriter gets the operations back.
func TestStoreWithoutConditionalCreate(t *testing.T) {
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "root", Roles: []string{steward.RoleMaster}})
	bad := faultstore.IgnoringConditional(storage.NewMemory())
	caps, err := storage.Probe(ctx, bad)
	require.NoError(t, err)
	require.False(t, caps.ConditionalCreate)

	// Audit log: two writers could fork the chain, so it is refused.
	_, err = audit.NewLog(ctx, bad, nil)
	require.ErrorIs(t, err, storage.ErrNoConditionalCreate)
	require.Contains(t, err.Error(), "audit log")

	// Backups of a tenant work; prune (whose lock cannot exclude backups
	// there) is refused.
	e, err := backup.New(bad, nil)
	require.NoError(t, err)
	src := backup.FSSource(fstest.MapFS{"users/1": {Data: []byte("one")}})
	snap, err := e.Backup(ctx, "acme", src, nil)
	require.NoError(t, err)
	_, err = e.Prune(ctx, "acme", nil)
	require.ErrorIs(t, err, storage.ErrNoConditionalCreate)
	_, err = e.Prune(ctx, "acme", &backup.PruneOptions{DryRun: true})
	require.NoError(t, err, "a dry run writes nothing and is allowed")
	cat, err := e.Catalog(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, snap.ID, cat[0].ID)

	// Flags: updates refused, reads fine.
	fs, err := flags.New(ctx, bad, nil)
	require.NoError(t, err)
	require.ErrorIs(t, fs.Set(ctx, "beta", true, flags.Options{RolloutPercentage: 50}), storage.ErrNoConditionalCreate)
	require.False(t, fs.Enabled("beta", "acme"))

	// Releases: two concurrent deploys could both win, so state changes
	// are refused.
	m, err := release.NewManager(bad, &release.Config{Engine: e})
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, v := range []string{"1.0.0", "1.0.1"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = m.Create(ctx, release.Spec{Channel: "prod", Version: v, Artifact: src})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.ErrorIs(t, err, storage.ErrNoConditionalCreate)
	}
	_, err = m.Deploy(ctx, "prod-1.0.0", nil)
	require.ErrorIs(t, err, storage.ErrNoConditionalCreate)

	// A host that is the only writer says so and proceeds.
	_, err = audit.NewLog(ctx, bad, &audit.LogConfig{SingleWriter: true})
	require.NoError(t, err)
	single, _ := backup.New(bad, &backup.Config{SingleWriter: true})
	_, err = single.Prune(ctx, "acme", nil)
	require.NoError(t, err)
	fs1, _ := flags.New(ctx, bad, &flags.Config{SingleWriter: true})
	require.NoError(t, fs1.Set(ctx, "beta", true, flags.Options{RolloutPercentage: 50}))
	m1, _ := release.NewManager(bad, &release.Config{Engine: single, SingleWriter: true})
	r, err := m1.Create(ctx, release.Spec{Channel: "prod", Version: "1.0.0", Artifact: src})
	require.NoError(t, err)
	_, err = m1.Deploy(ctx, r.ID, nil)
	require.NoError(t, err)
}

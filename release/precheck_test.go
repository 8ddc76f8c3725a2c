package release_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/restore"
)

func stepsOf(d *release.Deployment) []string {
	var out []string
	for _, s := range d.Steps {
		out = append(out, s.Name+":"+s.Status)
	}
	return out
}

// TestForgottenArtifactStopsRollbackBeforeAnyChange (issue 17, finding 5):
// forget of an artifact snapshot a release uses is refused; forced, the
// next rollback to that release refuses before any backward migration,
// with an error naming the missing artifact, and leaves the 1.1.0 schema,
// files and active release as they were.
func TestForgottenArtifactStopsRollbackBeforeAnyChange(t *testing.T) {
	ev := newSpiedEnv(t, recordKey)
	ctx := master()
	r1, r2 := ev.create(t, 0), ev.create(t, 1)
	for _, r := range []*release.Release{r1, r2} {
		_, err := ev.m.Deploy(ctx, r.ID, nil)
		require.NoError(t, err)
	}
	before := ev.schema(t)
	require.Contains(t, before, "email TEXT", "1.1.0's column")

	err := ev.e.Forget(ctx, backup.Releases, r1.ArtifactSnapshot)
	require.ErrorIs(t, err, backup.ErrProtected, "forget of a release's artifact: got %v", err)
	require.Contains(t, err.Error(), r1.ArtifactSnapshot)
	require.NoError(t, ev.e.ForgetWithOptions(ctx, backup.Releases, []string{r1.ArtifactSnapshot}, &backup.ForgetOptions{Force: true}))

	ev.resetSpies()
	d, err := ev.m.Rollback(ctx, r1.ID, nil)
	require.ErrorIs(t, err, release.ErrArtifactMissing, "rollback to a release whose artifact is gone: got %v", err)
	require.NotErrorIs(t, err, release.ErrArtifactTampered, "a missing artifact is not a tampered one")
	require.Contains(t, err.Error(), r1.ArtifactSnapshot, "the error names the missing snapshot")
	require.Zero(t, ev.mig.calls, "a migration ran before the refusal")
	require.Zero(t, ev.dep.calls, "files were deployed before the refusal")
	require.Equal(t, before, ev.schema(t), "the schema changed: the email column must still exist")
	require.Equal(t, want("1.1.0"), deployedFiles(t, ev.dir))
	require.Equal(t, release.StatusFailed, d.Status)
	require.Equal(t, []string{"pre-checks:failed"}, stepsOf(d))
	active, err := ev.m.Active(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, r2.ID, active.ID)
	_, err = ev.m.Deploy(ctx, r2.ID, &release.DeployOptions{Force: true})
	require.NoError(t, err, "the refused rollback left the channel taken")
}

// noMigratorEnv is newEnv with a Manager that has no Migrator.
func noMigratorEnv(t *testing.T) *env {
	ev := newEnv(t)
	var err error
	ev.m, err = release.NewManager(ev.store, &release.Config{Engine: ev.e, Deployer: release.DirDeployer(restore.New(ev.e, nil), ev.dir), Clock: ev.clock})
	require.NoError(t, err)
	return ev
}

// TestDeployWithoutMigratorIsRefused (issue 17, finding 6): a release
// with migrations and no Migrator is refused with ErrNoMigrator and
// nothing changes; with SkipMigrations it deploys and says it did not
// migrate.
func TestDeployWithoutMigratorIsRefused(t *testing.T) {
	ev := noMigratorEnv(t)
	ctx := master()
	r1 := ev.create(t, 0)

	d, err := ev.m.Deploy(ctx, r1.ID, nil)
	require.ErrorIs(t, err, release.ErrNoMigrator, "deploy with migrations and no migrator: got %v", err)
	require.Contains(t, err.Error(), r1.ID)
	require.Contains(t, err.Error(), "SkipMigrations")
	require.Equal(t, release.StatusFailed, d.Status)
	require.Empty(t, deployedFiles(t, ev.dir), "files were deployed")
	require.Empty(t, ev.schema(t), "the database changed")
	_, err = ev.m.Active(ctx, "prod")
	require.ErrorIs(t, err, release.ErrNotFound, "a refused deploy made %s active", r1.ID)

	d, err = ev.m.Deploy(ctx, r1.ID, &release.DeployOptions{SkipMigrations: true})
	require.NoError(t, err)
	require.Contains(t, stepsOf(d), "forward migrations:skipped")
	for _, s := range d.Steps {
		if s.Name == "forward migrations" {
			require.Contains(t, s.Detail, "not migrated")
		}
	}
	require.Equal(t, want("1.0.0"), deployedFiles(t, ev.dir))
	require.Empty(t, ev.schema(t), "SkipMigrations ran migrations")

	// Rolling back over a release with migrations needs a migrator too.
	r2 := ev.create(t, 1)
	_, err = ev.m.Deploy(ctx, r2.ID, &release.DeployOptions{SkipMigrations: true})
	require.NoError(t, err)
	_, err = ev.m.Rollback(ctx, r1.ID, nil)
	require.ErrorIs(t, err, release.ErrNoMigrator, "rollback over migrations with no migrator: got %v", err)
	require.Equal(t, want("1.1.0"), deployedFiles(t, ev.dir))
	d, err = ev.m.Rollback(ctx, r1.ID, &release.RollbackOptions{SkipMigrations: true})
	require.NoError(t, err)
	require.Contains(t, stepsOf(d), "backward migrations:skipped")
	require.Equal(t, want("1.0.0"), deployedFiles(t, ev.dir))
}

// failingDeployer fails for release id once armed.
type failingDeployer struct {
	d     release.Deployer
	armed bool
	id    string
}

func (f *failingDeployer) Deploy(ctx context.Context, r *release.Release) error {
	if f.armed && r.ID == f.id {
		return errors.New("disk full")
	}
	return f.d.Deploy(ctx, r)
}

// TestFailedRollbackIsCompensated: a rollback whose files fail after its
// backward migrations ran applies them again and redeploys the active
// release's files; the attempt is in the log and the audit trail.
func TestFailedRollbackIsCompensated(t *testing.T) {
	ev := newEnv(t)
	ctx := master()
	var events []audit.Event
	fd := &failingDeployer{d: release.DirDeployer(restore.New(ev.e, nil), ev.dir)}
	var err error
	ev.m, err = release.NewManager(ev.store, &release.Config{Engine: ev.e, Migrator: &release.SQLMigrator{DB: ev.db}, Deployer: fd, Clock: ev.clock,
		Auditor: audit.AuditorFunc(func(_ context.Context, e audit.Event) error { events = append(events, e); return nil })})
	require.NoError(t, err)
	r1, r2, r3 := ev.create(t, 0), ev.create(t, 1), ev.create(t, 2)
	for _, r := range []*release.Release{r1, r2, r3} {
		_, err := ev.m.Deploy(ctx, r.ID, nil)
		require.NoError(t, err)
	}
	before := ev.schema(t)
	fd.armed, fd.id = true, r1.ID

	d, err := ev.m.Rollback(ctx, r1.ID, nil)
	require.ErrorContains(t, err, "disk full")
	require.Equal(t, release.StatusFailed, d.Status)
	require.Equal(t, before, ev.schema(t), "the forward migrations were not applied again")
	require.Equal(t, want("2.0.0"), deployedFiles(t, ev.dir), "the active release's files were not redeployed")
	steps := stepsOf(d)
	for _, s := range []string{"backward migrations:ok", "deploy target files:failed", "re-apply forward migrations:ok", "redeploy previous files:ok"} {
		require.Contains(t, steps, s, "steps %v", steps)
	}
	deps, err := ev.m.Deployments(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, "rollback", deps[0].Kind, "the failed rollback is not in the log")
	require.Equal(t, release.StatusFailed, deps[0].Status)
	require.Equal(t, steps, stepsOf(&deps[0]))
	last := events[len(events)-1]
	require.Equal(t, audit.TypeReleaseRollbackErr, last.Type)
	active, err := ev.m.Active(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, r3.ID, active.ID)

	// Once the fault is gone, the rollback goes through.
	fd.armed = false
	_, err = ev.m.Rollback(ctx, r1.ID, nil)
	require.NoError(t, err)
	require.Equal(t, want("1.0.0"), deployedFiles(t, ev.dir))
}

// TestProtectsNamesReleaseArtifacts: Manager.Protects, a
// backup.Config.Protect, protects exactly the releases' artifacts.
func TestProtectsNamesReleaseArtifacts(t *testing.T) {
	ev := newEnv(t)
	r1 := ev.create(t, 0)
	other, err := ev.e.Backup(master(), backup.Releases, backup.FSSource(files("x")), nil)
	require.NoError(t, err)
	require.True(t, ev.m.Protects(master(), backup.Releases, r1.ArtifactSnapshot))
	require.False(t, ev.m.Protects(master(), backup.Releases, other.ID))
	require.False(t, ev.m.Protects(master(), "acme", r1.ArtifactSnapshot))
	var nilManager *release.Manager
	require.True(t, nilManager.Protects(master(), backup.Releases, other.ID), "a nil Manager cannot tell: it must protect")
	snap, err := ev.e.Snapshot(master(), backup.Releases, r1.ArtifactSnapshot)
	require.NoError(t, err)
	require.Contains(t, snap.Tags, backup.TagProtected, "Create does not tag the artifact")
}

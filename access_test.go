package steward_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/flags"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// snapshotStore returns every key and its bytes, to prove nothing changed.
func snapshotStore(t *testing.T, s storage.Store) map[string][]byte {
	out := map[string][]byte{}
	for oi, err := range s.List(context.Background(), "") {
		require.NoError(t, err)
		b, err := storage.ReadAll(context.Background(), s, oi.Key)
		require.NoError(t, err)
		out[oi.Key] = b
	}
	return out
}

// TestNonMasterIsDeniedEverywhere runs every public operation of every
// package as a principal without the master role: each is refused with
// ErrForbidden before any I/O, the denial is audited with the principal's
// ID, and the store is byte-for-byte unchanged.
func TestNonMasterIsDeniedEverywhere(t *testing.T) {
	store := storage.NewMemory()
	auditStore := storage.NewMemory()
	master := steward.WithPrincipal(context.Background(), steward.Principal{ID: "root", Roles: []string{steward.RoleMaster}})
	log, err := audit.NewLog(master, auditStore, nil)
	require.NoError(t, err)
	keys := backup.PassphraseWithOptions("p", backup.PassphraseOptions{Time: 1, MemoryKiB: 1024, Threads: 1})
	e, err := backup.New(store, &backup.Config{Auditor: log, Keys: keys})
	require.NoError(t, err)
	src := backup.FSSource(fstest.MapFS{"users/1": {Data: []byte("one")}})
	snap, err := e.Backup(master, "acme", src, &backup.Options{Type: backup.Full, Encrypt: true})
	require.NoError(t, err)
	var file backup.File
	for f, err := range e.Files(master, "acme", snap.ID) {
		require.NoError(t, err)
		if f.Mode.IsRegular() {
			file = f
		}
	}
	r := restore.New(e, &restore.Config{Auditor: log})
	fl, err := flags.New(master, store, &flags.Config{Auditor: log})
	require.NoError(t, err)
	require.NoError(t, fl.Set(master, "beta", true, flags.Options{RolloutPercentage: 10}))
	rm, err := release.NewManager(store, &release.Config{Engine: e, Auditor: log})
	require.NoError(t, err)
	rel, err := rm.Create(master, release.Spec{Channel: "prod", Version: "1.0.0", Artifact: src})
	require.NoError(t, err)
	_, err = rm.Deploy(master, rel.ID, nil)
	require.NoError(t, err)
	policies := retention.NewPolicies(store, &retention.Config{Auditor: log})

	mallory := steward.WithPrincipal(context.Background(), steward.Principal{ID: "mallory", Roles: []string{"support"}, Tenants: []string{"acme"}})
	ops := []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"backup.Backup", func(ctx context.Context) error { _, err := e.Backup(ctx, "acme", src, nil); return err }},
		{"backup.Backup general", func(ctx context.Context) error { _, err := e.Backup(ctx, backup.General, src, nil); return err }},
		{"backup.Catalog", func(ctx context.Context) error { _, err := e.Catalog(ctx, "acme"); return err }},
		{"backup.Snapshot", func(ctx context.Context) error { _, err := e.Snapshot(ctx, "acme", snap.ID); return err }},
		{"backup.Tenants", func(ctx context.Context) error { _, err := e.Tenants(ctx); return err }},
		{"backup.Files", func(ctx context.Context) error {
			for _, err := range e.Files(ctx, "acme", snap.ID) {
				return err
			}
			return nil
		}},
		{"backup.OpenFile", func(ctx context.Context) error {
			rc, err := e.OpenFile(ctx, "acme", file, nil)
			if err == nil {
				_, _ = io.Copy(io.Discard, rc)
				rc.Close()
			}
			return err
		}},
		{"backup.Forget", func(ctx context.Context) error { return e.Forget(ctx, "acme", snap.ID) }},
		{"backup.Rekey", func(ctx context.Context) error { return e.Rekey(ctx, "acme", keys) }},
		{"backup.DestroyKey", func(ctx context.Context) error { return e.DestroyKey(ctx, "acme") }},
		{"restore.Restore", func(ctx context.Context) error {
			_, err := r.Restore(ctx, "acme", snap.ID, restore.MemoryTarget(), nil)
			return err
		}},
		{"restore.Validate", func(ctx context.Context) error { _, err := r.Validate(ctx, "acme", snap.ID); return err }},
		{"flags.Set", func(ctx context.Context) error {
			return fl.Set(ctx, "beta", true, flags.Options{RolloutPercentage: 100})
		}},
		{"flags.Delete", func(ctx context.Context) error { return fl.Delete(ctx, "beta") }},
		{"release.Create", func(ctx context.Context) error {
			_, err := rm.Create(ctx, release.Spec{Channel: "prod", Version: "2.0.0", Artifact: src})
			return err
		}},
		{"release.Deploy", func(ctx context.Context) error { _, err := rm.Deploy(ctx, rel.ID, nil); return err }},
		{"release.Rollback", func(ctx context.Context) error { _, err := rm.Rollback(ctx, rel.ID, nil); return err }},
		{"release.Recover", func(ctx context.Context) error { _, err := rm.Recover(ctx, "prod"); return err }},
		{"release.Active", func(ctx context.Context) error { _, err := rm.Active(ctx, "prod"); return err }},
		{"release.History", func(ctx context.Context) error { _, err := rm.History(ctx, "prod"); return err }},
		{"release.Deployments", func(ctx context.Context) error { _, err := rm.Deployments(ctx, 5); return err }},
		{"retention.Apply", func(ctx context.Context) error {
			_, err := retention.Apply(ctx, e, "acme", retention.Policy{KeepLast: 1}, false, &retention.Config{Auditor: log})
			return err
		}},
		{"retention.Policies.Set", func(ctx context.Context) error { return policies.Set(ctx, "acme", retention.Policy{KeepLast: 1}) }},
		{"retention.Policies.Get", func(ctx context.Context) error { _, err := policies.Get(ctx, "acme"); return err }},
		{"backup.Prune", func(ctx context.Context) error { _, err := e.Prune(ctx, "acme", nil); return err }},
		{"backup.Check", func(ctx context.Context) error { _, err := e.Check(ctx, "acme", nil); return err }},
		{"audit.Query", func(ctx context.Context) error { _, err := log.Query(ctx, audit.Filter{}); return err }},
		{"audit.Export", func(ctx context.Context) error { return log.Export(ctx, &bytes.Buffer{}, audit.JSON, audit.Filter{}) }},
		{"audit.Verify", func(ctx context.Context) error { _, err := log.Verify(ctx); return err }},
		{"audit.Dashboard", func(ctx context.Context) error { _, err := log.Dashboard(ctx); return err }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			before := snapshotStore(t, store)
			countBefore := len(snapshotStore(t, auditStore))
			err := op.run(mallory)
			require.ErrorIs(t, err, steward.ErrForbidden)
			require.Equal(t, before, snapshotStore(t, store), "nothing written or deleted")
			// Operations on tenant data audit the denial; the audit log's
			// own readers refuse without writing to the log they guard.
			if op.name[:6] != "audit." {
				require.Equal(t, countBefore+1, len(snapshotStore(t, auditStore)), "the denial is recorded")
				denials, err := log.Query(master, audit.Filter{Types: []audit.EventType{audit.TypeAccessDenied}, UserID: "mallory"})
				require.NoError(t, err)
				require.NotEmpty(t, denials)
			}
			require.ErrorIs(t, op.run(context.Background()), steward.ErrUnauthenticated)
		})
	}
}

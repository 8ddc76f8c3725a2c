package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/console"
	"github.com/iluxsys/steward/flags"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// tenants are the demo's tenants.
var tenants = []string{"acme", "globex", "initech"}

// seed opens a file:// store under work, backs the demo tenants up, and
// returns a console Config over it (without Authenticate) and a func that
// closes the store.
func seed(ctx context.Context, work string) (*console.Config, func(), error) {
	ctx = steward.WithPrincipal(ctx, steward.Principal{ID: "demo-seed", Roles: []string{steward.RoleMaster}})
	store, err := storage.Open(ctx, "file://"+filepath.ToSlash(filepath.Join(work, "store")))
	if err != nil {
		return nil, nil, err
	}
	cfg, err := seedStore(ctx, store, work)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return cfg, func() { store.Close() }, nil
}

func seedStore(ctx context.Context, store storage.Store, work string) (*console.Config, error) {
	recordKey := make([]byte, 32)
	if _, err := rand.Read(recordKey); err != nil {
		return nil, err
	}
	// TenantScoped lets a master do everything and a tenant's admin read
	// and restore its own tenant: the SDK and the console decide alike.
	authz := steward.TenantScoped()
	log, err := audit.NewLog(ctx, store, &audit.LogConfig{RecordKey: recordKey, Authorizer: authz})
	if err != nil {
		return nil, err
	}
	engine, err := backup.New(store, &backup.Config{Keys: backup.Passphrase("demo passphrase"), Auditor: log, Authorizer: authz})
	if err != nil {
		return nil, err
	}
	for _, t := range tenants {
		if err := backupTenant(ctx, engine, filepath.Join(work, "data", t), t); err != nil {
			return nil, fmt.Errorf("tenant %s: %w", t, err)
		}
	}
	cfg := &console.Config{Engine: engine, Log: log, Authorizer: authz,
		Restorer: restore.New(engine, &restore.Config{Auditor: log, Authorizer: authz}),
		Target: func(_ context.Context, tenant string) (restore.Target, error) {
			return restore.DirTarget(filepath.Join(work, "live", tenant)), nil
		},
		Policies: retention.NewPolicies(store, &retention.Config{Auditor: log, Authorizer: authz}),
	}
	if cfg.Flags, err = seedFlags(ctx, store, log, authz, recordKey); err != nil {
		return nil, err
	}
	if cfg.Releases, err = seedReleases(ctx, store, engine, log, authz, recordKey); err != nil {
		return nil, err
	}
	return cfg, nil
}

// backupTenant writes a tenant's files under dir and backs them up twice:
// full, then incremental after a change.
func backupTenant(ctx context.Context, e *backup.Engine, dir, tenant string) error {
	files := map[string]string{
		"users/1.json":          `{"name":"Ana","role":"owner","tenant":"` + tenant + `"}`,
		"users/2.json":          `{"name":"Bruno","role":"staff"}`,
		"reservations/2026.csv": "id,room,guest\n1,101,Ana\n2,102,Bruno\n",
		"config/settings.yaml":  "currency: EUR\nlocale: pt-PT\n",
	}
	if err := writeFiles(dir, files); err != nil {
		return err
	}
	if _, err := e.Backup(ctx, tenant, backup.DirSource(dir), &backup.Options{Type: backup.Full}); err != nil {
		return err
	}
	files["reservations/2026.csv"] += "3,201,Carla\n"
	files["users/3.json"] = `{"name":"Carla","role":"staff"}`
	if err := writeFiles(dir, files); err != nil {
		return err
	}
	_, err := e.Backup(ctx, tenant, backup.DirSource(dir), &backup.Options{Type: backup.Incremental, Tags: []string{"nightly"}})
	return err
}

func writeFiles(dir string, files map[string]string) error {
	for p, body := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// seedFlags creates flag new-checkout, on for a quarter of the tenants and
// for acme.
func seedFlags(ctx context.Context, store storage.Store, log *audit.Log, authz steward.Authorizer, key []byte) (*flags.Set, error) {
	set, err := flags.New(ctx, store, &flags.Config{Auditor: log, Authorizer: authz, RecordKey: key})
	if err != nil {
		return nil, err
	}
	err = set.Set(ctx, "new-checkout", true, flags.Options{Description: "the redesigned checkout",
		RolloutPercentage: 25, TargetTenants: []string{"acme"}})
	return set, err
}

// seedReleases creates and deploys prod 1.0.0 and 1.1.0.
func seedReleases(ctx context.Context, store storage.Store, e *backup.Engine, log *audit.Log, authz steward.Authorizer, key []byte) (*release.Manager, error) {
	m, err := release.NewManager(store, &release.Config{Engine: e, Auditor: log, Authorizer: authz, RecordKey: key})
	if err != nil {
		return nil, err
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		r, err := m.Create(ctx, release.Spec{Channel: "prod", Version: v, Changelog: "demo release " + v,
			Artifact: backup.FSSource(fstest.MapFS{"app.js": {Data: []byte("console.log('" + v + "')")}})})
		if err != nil {
			return nil, err
		}
		if _, err := m.Deploy(ctx, r.ID, nil); err != nil {
			return nil, err
		}
	}
	return m, nil
}

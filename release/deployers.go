package release

import (
	"context"
	"fmt"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/restore"
)

// DirDeployer returns a Deployer that makes dir equal to the release's
// artifact (a full restore from the backup.Releases scope: files the
// release lacks are removed, every byte verified).
func DirDeployer(r *restore.Restorer, dir string) Deployer { return &dirDeployer{r: r, dir: dir} }

type dirDeployer struct {
	r   *restore.Restorer
	dir string
}

func (d *dirDeployer) Deploy(ctx context.Context, rel *Release) error {
	_, err := d.r.Restore(ctx, backup.Releases, rel.ArtifactSnapshot, restore.DirTarget(d.dir), &restore.Options{Mode: restore.Full})
	if err != nil {
		return errs.Errorf("release", "deploy %s files into %s: %w", rel.ID, d.dir, err)
	}
	return nil
}

// SafetyBackupAll returns a Config.SafetyBackup that backs up every tenant
// sources lists, and the general structure when general is not nil, with
// tag "pre-deploy" (retention keeps those for pre_deploy_days).
func SafetyBackupAll(e *backup.Engine, sources func(ctx context.Context) (map[string]backup.Source, error), general backup.Source) func(context.Context, *Release) ([]string, error) {
	return func(ctx context.Context, rel *Release) ([]string, error) {
		srcs, err := sources(ctx)
		if err != nil {
			return nil, err
		}
		if general != nil {
			srcs[backup.General] = general
		}
		var ids []string
		for tenant, src := range srcs {
			s, err := e.Backup(ctx, tenant, src, &backup.Options{Type: backup.Incremental, Tags: []string{"pre-deploy", "release:" + rel.ID}})
			if err != nil {
				return ids, fmt.Errorf("safety backup of %q: %w", tenant, err)
			}
			ids = append(ids, s.ID)
		}
		return ids, nil
	}
}

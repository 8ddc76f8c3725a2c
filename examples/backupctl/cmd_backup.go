package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/backup"
)

func (a *app) backupCmd() *cobra.Command {
	var tenant, source, tags, platform, schema string
	var full, encrypt, noCompress, general bool
	var sql sqlFlags
	cmd := &cobra.Command{
		Use:   "backup --tenant T --source DIR | --sql URL [--layout L]",
		Short: "Back up a directory, or a tenant's rows in a SQL database, for a tenant (incremental unless --full)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sql.oneOf("source", source); err != nil {
				return err
			}
			if err := a.needPassphrase(encrypt); err != nil {
				return err
			}
			ctx, e, err := a.begin(cmd)
			if err != nil {
				return err
			}
			if general {
				tenant = backup.General
			}
			opts := &backup.Options{Type: backup.Incremental, DisableCompression: noCompress, Encrypt: encrypt, PlatformVersion: platform, SchemaVersion: schema}
			if full {
				opts.Type = backup.Full
			}
			if tags != "" {
				opts.Tags = strings.Split(tags, ",")
			}
			src, done, err := a.backupSource(ctx, &sql, tenant, source)
			if err != nil {
				return err
			}
			defer done()
			bar := a.progress(cmd.ErrOrStderr(), "backup")
			opts.Progress = bar.callback()
			s, err := e.Backup(ctx, tenant, src, opts)
			bar.finish()
			if err != nil && !errors.Is(err, backup.ErrPartial) {
				return err
			}
			// A partial snapshot is printed with what it left out, then
			// its error makes the exit status 3 (see exitCode).
			if perr := a.print(s, func() {
				fmt.Fprintf(a.out, "snapshot %s (%s): %d files, %d bytes, %d stored, %s\n", s.ID, s.Type, s.Metadata.FileCount,
					s.Metadata.SizeBytes, s.Metadata.StoredBytes, time.Duration(s.Metadata.DurationMS)*time.Millisecond)
				if len(s.Skipped) > 0 {
					what := "entries"
					if len(s.Skipped) == 1 {
						what = "entry"
					}
					fmt.Fprintf(a.out, "partial: %d %s skipped\n", len(s.Skipped), what)
					for _, sk := range s.Skipped {
						fmt.Fprintf(a.out, "  skipped %s: %s\n", sk.Path, sk.Reason)
					}
				}
			}); perr != nil {
				return perr
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", "", "tenant ID")
	f.BoolVar(&general, "general", false, "back up the shared general structure instead of a tenant")
	f.StringVar(&source, "source", "", "directory to back up (one subdirectory per module)")
	f.BoolVar(&full, "full", false, "read every file again (default: incremental)")
	f.BoolVar(&encrypt, "encrypt", false, "encrypt the scope (the passphrase is read from the variable named by --password-env)")
	f.BoolVar(&noCompress, "no-compress", false, "store chunks uncompressed")
	f.StringVar(&tags, "tags", "", "comma-separated tags")
	f.StringVar(&platform, "platform-version", "", "platform version to record")
	f.StringVar(&schema, "schema-version", "", "schema version to record")
	sql.add(f, false)
	return cmd
}

// backupSource returns the Source of a backup: the directory, or the
// tenant's rows in the --sql database; done releases it.
func (a *app) backupSource(ctx context.Context, sql *sqlFlags, tenant, dir string) (backup.Source, func(), error) {
	if !sql.set() {
		return backup.DirSource(dir), func() {}, nil
	}
	db, opts, closeDB, err := sql.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	src, err := db.Source(tenant, opts)
	if err != nil {
		closeDB()
		return nil, nil, err
	}
	return src, func() { src.Close(); closeDB() }, nil
}

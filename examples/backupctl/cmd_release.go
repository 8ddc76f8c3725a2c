package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	_ "modernc.org/sqlite" // the example's SQL migrations run on SQLite

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/release"
)

// releaseFlags are the flags every release command takes.
type releaseFlags struct {
	db, deployDir string
}

// releaseManager wires a Manager: SQL migrations on the SQLite file --db,
// files deployed into --deploy-dir.
// readOnly as beginRead.
func (a *app) releaseManager(cmd *cobra.Command, rf *releaseFlags, readOnly bool) (context.Context, *release.Manager, func(), error) {
	begin := a.begin
	if readOnly {
		begin = a.beginRead
	}
	ctx, e, err := begin(cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	// STEWARD_RELEASE_KEY authenticates release definitions and the log
	// (release.Config.RecordKey); `release resign` adopts it.
	cfg := &release.Config{Engine: e, Auditor: a.auditor(), RecordKey: []byte(os.Getenv("STEWARD_RELEASE_KEY")), SingleWriter: a.singleWriter}
	closeFn := func() {}
	if rf.db != "" {
		db, err := sql.Open("sqlite", rf.db)
		if err != nil {
			return nil, nil, nil, err
		}
		cfg.Migrator = &release.SQLMigrator{DB: db}
		closeFn = func() { db.Close() }
	}
	if rf.deployDir != "" {
		cfg.Deployer = release.DirDeployer(a.restorer(0), rf.deployDir)
	}
	m, err := release.NewManager(a.store, cfg)
	if err != nil {
		closeFn()
		return nil, nil, nil, err
	}
	return ctx, m, closeFn, nil
}

// migrationsFile is the JSON file `release create --migrations` reads.
type migrationsFile struct {
	Forward    []release.Migration `json:"forward"`
	Backward   []release.Migration `json:"backward"`
	Components []release.Component `json:"components"`
}

func (a *app) releaseCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "release", Short: "Create, deploy, roll back and list releases"}
	rf := &releaseFlags{}
	cmd.PersistentFlags().StringVar(&rf.db, "db", "", "SQLite database the migrations run on")
	cmd.PersistentFlags().StringVar(&rf.deployDir, "deploy-dir", "", "directory the release files are deployed into")
	cmd.AddCommand(a.releaseCreateCmd(rf), a.releaseDeployCmd(rf, false), a.releaseDeployCmd(rf, true), a.releaseListCmd(rf), a.releaseResignCmd(rf))
	return cmd
}

func (a *app) releaseCreateCmd(rf *releaseFlags) *cobra.Command {
	var channel, version, dir, migrations, name, changelog, commit string
	cmd := &cobra.Command{
		Use:   "create --channel C --version V --dir DIR [--migrations FILE.json]",
		Short: "Create an immutable release from a directory of files",
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return errors.New("release create needs --dir, the directory holding the release's files")
			}
			spec := release.Spec{Channel: channel, Version: version, Name: name, Changelog: changelog, CommitSHA: commit, Artifact: backup.DirSource(dir)}
			if migrations != "" {
				b, err := os.ReadFile(migrations)
				if err != nil {
					return err
				}
				var mf migrationsFile
				if err := json.Unmarshal(b, &mf); err != nil {
					return fmt.Errorf("%s: %w", migrations, err)
				}
				spec.Forward, spec.Backward, spec.Components = mf.Forward, mf.Backward, mf.Components
			}
			ctx, m, done, err := a.releaseManager(cmd, rf, false)
			if err != nil {
				return err
			}
			defer done()
			r, err := m.Create(ctx, spec)
			if err != nil {
				return err
			}
			return a.print(r, func() {
				fmt.Fprintf(a.out, "release %s created (artifact %s, hash %s)\n", r.ID, r.ArtifactSnapshot, r.ArtifactHash[:16])
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&channel, "channel", "prod", "channel: dev, staging, prod, ...")
	f.StringVar(&version, "version", "", "strict semantic version")
	f.StringVar(&dir, "dir", "", "directory holding the release's files")
	f.StringVar(&migrations, "migrations", "", "JSON file with forward/backward migrations and SBOM components")
	f.StringVar(&name, "name", "", "release name")
	f.StringVar(&changelog, "changelog", "", "changelog text")
	f.StringVar(&commit, "commit", "", "commit SHA")
	return cmd
}

// releaseDeployCmd is `release deploy` or, with rollback, `release
// rollback`: one body, the Manager method and its option differing.
func (a *app) releaseDeployCmd(rf *releaseFlags, rollback bool) *cobra.Command {
	var force, maintenance, skipMigrations bool
	cmd := &cobra.Command{
		Use:   "deploy RELEASE-ID [--force] [--skip-migrations]",
		Short: "Deploy a release (checks, migrations, files; rolls back on a failed post-check)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, m, done, err := a.releaseManager(cmd, rf, false)
			if err != nil {
				return err
			}
			defer done()
			var d *release.Deployment
			if rollback {
				d, err = m.Rollback(ctx, args[0], &release.RollbackOptions{Maintenance: maintenance, SkipMigrations: skipMigrations})
			} else {
				d, err = m.Deploy(ctx, args[0], &release.DeployOptions{Force: force, SkipMigrations: skipMigrations})
			}
			if errors.Is(err, release.ErrNoMigrator) {
				err = &cliError{releaseFlagNames.Replace(err.Error()), err}
			}
			if d != nil {
				d.Reason = releaseFlagNames.Replace(d.Reason)
				for i := range d.Steps {
					d.Steps[i].Detail = releaseFlagNames.Replace(d.Steps[i].Detail)
				}
				if perr := a.print(d, func() { printDeployment(a.out, d) }); perr != nil && err == nil {
					err = perr
				}
			}
			return err
		},
	}
	if rollback {
		cmd.Use, cmd.Short = "rollback RELEASE-ID [--maintenance] [--skip-migrations]", "Roll the channel back to an earlier release"
		cmd.Flags().BoolVar(&maintenance, "maintenance", false, "enter maintenance mode during the rollback")
		cmd.Flags().BoolVar(&skipMigrations, "skip-migrations", false, "DANGEROUS: do not run the backward migrations (the files then run on the newer schema)")
	} else {
		cmd.Flags().BoolVar(&force, "force", false, "deploy even if not newer than the active release")
		cmd.Flags().BoolVar(&skipMigrations, "skip-migrations", false, "DANGEROUS: do not run the release's migrations (the database is not migrated)")
	}
	return cmd
}

// releaseFlagNames rewrites the Go fields the release package's messages
// name into the flags that set them here.
var releaseFlagNames = strings.NewReplacer(
	"configure Config.Migrator", "pass --db (the SQLite database the migrations run on)",
	"set SkipMigrations", "pass --skip-migrations",
	"use Force", "use --force",
	"Rollback to return", "release rollback to return")

func (a *app) releaseListCmd(rf *releaseFlags) *cobra.Command {
	var channel string
	cmd := &cobra.Command{
		Use:   "list [--channel C]",
		Short: "List releases, the active one and recent deployments",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, m, done, err := a.releaseManager(cmd, rf, true)
			if err != nil {
				return err
			}
			defer done()
			l, err := listReleases(ctx, m, channel)
			if err != nil {
				return err
			}
			return a.print(l, func() { a.printReleases(l) })
		},
	}
	cmd.Flags().StringVar(&channel, "channel", "prod", "channel")
	return cmd
}

func (a *app) releaseResignCmd(rf *releaseFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "resign",
		Short: "Sign releases written before STEWARD_RELEASE_KEY was set with it (check `release list` first)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, m, done, err := a.releaseManager(cmd, rf, false)
			if err != nil {
				return err
			}
			defer done()
			if err := m.Resign(ctx); err != nil {
				return err
			}
			res := struct {
				Resigned bool `json:"resigned"`
			}{true}
			return a.print(res, func() { fmt.Fprintln(a.out, "releases re-signed with STEWARD_RELEASE_KEY") })
		},
	}
}

// releaseList is what `release list` prints.
type releaseList struct {
	Channel     string               `json:"channel"`
	Active      string               `json:"active"` // the active release's ID, "" when none
	Releases    []release.Release    `json:"releases"`
	Deployments []release.Deployment `json:"deployments"`
}

func listReleases(ctx context.Context, m *release.Manager, channel string) (*releaseList, error) {
	hist, err := m.History(ctx, channel)
	if err != nil {
		return nil, err
	}
	l := &releaseList{Channel: channel, Releases: nonNil(hist)}
	if active, err := m.Active(ctx, channel); err == nil && active != nil {
		l.Active = active.ID
	}
	deps, err := m.Deployments(ctx, 10)
	if err != nil {
		return nil, err
	}
	l.Deployments = nonNil(deps)
	return l, nil
}

func (a *app) printReleases(l *releaseList) {
	for _, r := range l.Releases {
		mark := " "
		if l.Active == r.ID {
			mark = "*"
		}
		fmt.Fprintf(a.out, "%s %-24s %-10s %s  %d migrations\n", mark, r.ID, r.Version, r.CreatedAt.Format(time.RFC3339), len(r.Forward))
	}
	for _, d := range l.Deployments {
		printDeployment(a.out, &d)
	}
}

func printDeployment(w io.Writer, d *release.Deployment) {
	if d == nil {
		return
	}
	fmt.Fprintf(w, "%s %s (%s -> %s): %s in %s (SLO 15m met: %v) %s\n", d.Kind, d.ID[:8], d.FromReleaseID, d.ReleaseID, d.Status,
		d.Duration.Round(time.Millisecond), d.WithinSLO, d.Reason)
	for _, s := range d.Steps {
		fmt.Fprintf(w, "    %-24s %-7s %s\n", s.Name, s.Status, s.Detail)
	}
}

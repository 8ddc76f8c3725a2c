package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
)

// Migration is one SQL change. A forward migration and its backward twin
// share the ID.
type Migration struct {
	ID          string `json:"id"`
	SQL         string `json:"sql"`
	Description string `json:"description,omitempty"`
	// Release is set by the Manager when it applies the migration.
	Release string `json:"release,omitempty"`
}

// Component is one entry of the SBOM.
type Component struct {
	Name     string   `json:"name"`
	Version  string   `json:"version"`
	PURL     string   `json:"purl,omitempty"`
	Licenses []string `json:"licenses,omitempty"`
}

// Spec describes a release to create.
type Spec struct {
	Channel     string // dev, staging, prod, ...
	Version     string // strict semver: "1.4.0", "2.0.0-rc.1"
	Name        string
	Description string
	Changelog   string
	Forward     []Migration
	Backward    []Migration
	// Artifact is the release's files; stored through the backup engine.
	Artifact   backup.Source
	BuildID    string
	CommitSHA  string
	Branch     string
	Components []Component
}

// Release is a created, immutable release.
type Release struct {
	ID               string          `json:"id"` // "<channel>-<version>"
	Channel          string          `json:"channel"`
	Version          string          `json:"version"`
	Name             string          `json:"name,omitempty"`
	Description      string          `json:"description,omitempty"`
	Changelog        string          `json:"changelog,omitempty"`
	Forward          []Migration     `json:"forward,omitempty"`
	Backward         []Migration     `json:"backward,omitempty"`
	ArtifactSnapshot string          `json:"artifact_snapshot"`
	ArtifactHash     string          `json:"artifact_hash"`
	BuildID          string          `json:"build_id,omitempty"`
	CommitSHA        string          `json:"commit_sha,omitempty"`
	Branch           string          `json:"branch,omitempty"`
	SBOM             json.RawMessage `json:"sbom"`
	CreatedAt        time.Time       `json:"created_at"`
	CreatedBy        string          `json:"created_by"`
	// Sum is the definition's tag, set by the Manager: with
	// Config.RecordKey an HMAC over the definition and its object key,
	// without one a plain SHA-256 (empty in definitions written before
	// tags existed).
	Sum string `json:"sum,omitempty"`
}

// Step is one stage of a deployment or rollback.
type Step struct {
	Name     string        `json:"name"`
	Status   string        `json:"status"` // ok, failed, skipped
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Deployment statuses.
const (
	StatusSucceeded  = "succeeded"
	StatusFailed     = "failed"
	StatusRolledBack = "rolled_back" // deployed, then rolled back automatically
)

// SLO is the time a deploy or rollback should take at most.
const SLO = 15 * time.Minute

// Deployment records one deploy or rollback.
type Deployment struct {
	ID              string        `json:"id"`
	Kind            string        `json:"kind"` // deploy or rollback
	Channel         string        `json:"channel"`
	ReleaseID       string        `json:"release_id"`
	FromReleaseID   string        `json:"from_release_id,omitempty"`
	Status          string        `json:"status"`
	Reason          string        `json:"reason,omitempty"`
	Steps           []Step        `json:"steps"`
	SafetySnapshots []string      `json:"safety_snapshots,omitempty"`
	StartedAt       time.Time     `json:"started_at"`
	Duration        time.Duration `json:"duration_ns"`
	WithinSLO       bool          `json:"within_slo"`
	By              string        `json:"by"`
}

// Migrator applies migrations. Implementations apply each migration at most
// once and return a *MigrationError naming the one that failed.
type Migrator interface {
	Apply(ctx context.Context, ms []Migration) error
}

// Reverter is implemented by Migrators that record applied migrations and
// must forget them when their backward twins run (SQLMigrator does). When
// the Migrator is not a Reverter, backward migrations go through Apply.
type Reverter interface {
	Revert(ctx context.Context, ms []Migration) error
}

// Deployer puts a release's files in place (read them with Manager.Files
// or restore them with DirDeployer).
type Deployer interface {
	Deploy(ctx context.Context, r *Release) error
}

// Check is a pre-, post- or health check; an error fails it.
type Check func(ctx context.Context, r *Release) error

// Maintenance puts the platform in and out of maintenance mode.
type Maintenance interface {
	Enter(ctx context.Context) error
	Exit(ctx context.Context) error
}

// Config configures a Manager.
type Config struct {
	// Engine stores artifacts and takes safety backups (required).
	Engine   *backup.Engine
	Migrator Migrator
	Deployer Deployer
	// PreChecks run before anything changes; PostChecks after a deploy
	// (a failure rolls it back); HealthChecks after a rollback.
	PreChecks, PostChecks, HealthChecks []Check
	// SafetyBackup backs up every tenant and the general scope before
	// migrations run, returning the snapshot IDs (the host knows its
	// tenants and their Sources; see SafetyBackupAll).
	SafetyBackup func(ctx context.Context, r *Release) ([]string, error)
	Maintenance  Maintenance
	Clock        steward.Clock
	Auditor      audit.Auditor
	Authorizer   steward.Authorizer
	// Prefix is where release state lives in the Store (default "releases/").
	Prefix string
	// Lease is how long a pending operation blocks others before a later
	// call may declare it dead (default 30 minutes).
	Lease time.Duration
	// SingleWriter declares this process the only one changing releases.
	// Without it, Create, Deploy, Rollback and Recover refuse a store that
	// ignores conditional create (two deploys could both win there).
	SingleWriter bool
	// RecordKey is a secret the host holds and the Store never sees (at
	// least steward.MinRecordKey random bytes; a shorter one makes
	// NewManager fail). It authenticates every release definition and
	// every log record, each bound to its object key: a definition or
	// record that was altered, moved or written without the key is
	// refused with an error matching steward.ErrForged before anything is
	// deployed, migrated or rolled back. Nil means anyone who can write
	// the Store can forge releases (their migration SQL and artifact):
	// records then carry a plain SHA-256 that catches damage, not
	// forgery. A store written without a key is adopted with
	// Manager.Resign.
	RecordKey []byte
}

// Errors callers match with errors.Is.
var (
	ErrInvalidVersion   = errors.New("release: invalid version")
	ErrDuplicateVersion = errors.New("release: version already exists in the channel")
	ErrInvalidSpec      = errors.New("release: invalid release")
	ErrNotFound         = errors.New("release: not found")
	ErrConflict         = errors.New("release: another operation is in progress")
	ErrVersionNotNewer  = errors.New("release: version is not newer than the active one")
	ErrArtifactTampered = errors.New("release: artifact does not match its recorded hash")
	// ErrArtifactMissing: the release's artifact snapshot (or data it
	// needs) is gone, forgotten or deleted; the message names it.
	ErrArtifactMissing = errors.New("release: artifact is missing")
	// ErrNoMigrator: the release, or one a rollback goes back over, has
	// migrations and no Config.Migrator runs them; nothing was changed.
	ErrNoMigrator      = errors.New("release: migrations need a migrator")
	ErrCheckFailed     = errors.New("release: check failed")
	ErrMigrationFailed = errors.New("release: migration failed")
	ErrInvalidTarget   = errors.New("release: invalid rollback target")
)

// MigrationError names the migration that failed. It matches ErrMigrationFailed.
type MigrationError struct {
	ID  string
	Err error
}

// Error names the migration and the cause.
func (e *MigrationError) Error() string {
	return fmt.Sprintf("release: migration %q failed: %v", e.ID, e.Err)
}

// Unwrap returns the cause.
func (e *MigrationError) Unwrap() error { return e.Err }

// Is makes MigrationError match ErrMigrationFailed.
func (e *MigrationError) Is(target error) bool { return target == ErrMigrationFailed }

// ParseVersion parses a strict semantic version ("1.2.3", "2.0.0-rc.1";
// not "v1.2", not "2.5").
func ParseVersion(s string) (*semver.Version, error) {
	v, err := semver.StrictNewVersion(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a strict semantic version (MAJOR.MINOR.PATCH): %v", ErrInvalidVersion, s, err)
	}
	return v, nil
}

func validChannel(c string) error {
	if c == "" || len(c) > 32 {
		return fmt.Errorf("%w: channel %q: 1 to 32 characters", ErrInvalidSpec, c)
	}
	for i := 0; i < len(c); i++ {
		ch := c[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || i > 0 && ch == '-') {
			return fmt.Errorf("%w: channel %q: use lowercase letters, digits and '-'", ErrInvalidSpec, c)
		}
	}
	return nil
}

// validateMigrations checks IDs are present and unique and that every
// forward migration has its backward twin (and no backward is an orphan).
func validateMigrations(fwd, bwd []Migration) error {
	ids := map[string]bool{}
	for _, m := range fwd {
		if m.ID == "" || m.SQL == "" {
			return fmt.Errorf("%w: forward migration %q needs an ID and SQL", ErrInvalidSpec, m.ID)
		}
		if ids[m.ID] {
			return fmt.Errorf("%w: migration ID %q is used twice", ErrInvalidSpec, m.ID)
		}
		ids[m.ID] = true
	}
	back := map[string]bool{}
	for _, m := range bwd {
		if m.ID == "" || m.SQL == "" {
			return fmt.Errorf("%w: backward migration %q needs an ID and SQL", ErrInvalidSpec, m.ID)
		}
		if back[m.ID] {
			return fmt.Errorf("%w: backward migration ID %q is used twice", ErrInvalidSpec, m.ID)
		}
		if !ids[m.ID] {
			return fmt.Errorf("%w: backward migration %q has no forward twin", ErrInvalidSpec, m.ID)
		}
		back[m.ID] = true
	}
	for id := range ids {
		if !back[id] {
			return fmt.Errorf("%w: forward migration %q has no backward twin: every change must be reversible", ErrInvalidSpec, id)
		}
	}
	return nil
}

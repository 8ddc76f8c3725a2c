// Package release ships versions of the platform and takes them back.
//
// A Release is immutable once created: a strict semantic version, unique in
// its channel; forward migrations, each with a backward twin of the same ID;
// an artifact (the release's files) stored content-addressed through the
// backup engine in the backup.Releases scope, whose hash is checked again
// at every deploy; and a CycloneDX JSON SBOM of the components the host
// declares.
//
// Deploy runs pre-checks, takes safety backups, applies forward migrations
// through the Migrator, deploys files through the Deployer, sets the active
// release and runs post-checks; a failing post-check rolls back at once.
// Rollback takes a channel back to any earlier release it ran: backward
// migrations of every release above the target, newest first, the target's
// files again, optional maintenance mode that is always exited.
//
// Both check everything they will need before the first change: the
// artifact present and intact, the backward migrations of every release
// rolled back over, and a Migrator when there are migrations to run
// (ErrNoMigrator; DeployOptions.SkipMigrations and
// RollbackOptions.SkipMigrations override it, dangerously). A failure
// after a change is compensated (migrations reverted or applied again,
// the previous files deployed again) and recorded in the log and the
// audit trail. Artifact snapshots are tagged backup.TagProtected, so the
// engine refuses to forget them unless forced; Manager.Protects extends
// that to artifacts created before the tag (backup.Config.Protect).
//
// Release state is an append-only log in the Store, each record created
// with IfNotExist at the next sequence number. A deploy or rollback first
// appends a "pending" record holding a lease; a second operation on the
// channel sees it and fails with ErrConflict ("another operation is in
// progress") until the first finishes or its lease expires, after which a
// later call records it aborted and proceeds (see Recover). Two concurrent
// deploys can therefore never both become active.
//
// Definitions and log records are authenticated with Config.RecordKey: each
// carries an HMAC-SHA-256 (internal/record) over its JSON and its object
// key, so one that was altered, moved to another name or sequence number,
// or written by someone without the key is refused with an error matching
// steward.ErrForged before anything is deployed, migrated or rolled back.
// An artifact is checked by hashing the bytes restored from the
// backup.Releases scope against the authenticated definition. Without a
// key, records carry a plain SHA-256: anyone who can write the Store can
// forge a release. Manager.Resign adopts a key for a Store written
// without one.
package release

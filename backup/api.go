package backup

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
)

// Scopes that are not tenants. No tenant ID can equal them: tenant IDs start
// with a letter or digit.
const (
	// General is the scope of the platform's shared structure (CSS, JS,
	// i18n, migrations), backed up and restored without touching any tenant.
	General = "_general"
	// Releases is the scope that holds release artifacts.
	Releases = "_releases"
)

// Latest is the snapshot ID that names a scope's newest snapshot that is
// not a safety backup tagged TagPreRestore; safety backups are still
// listed and can be named by their IDs.
const Latest = "latest"

// TagPreRestore tags the safety backup a restore takes of its target
// before changing it: a snapshot of the target's old content, which
// Latest passes over.
const TagPreRestore = "pre-restore"

// TagProtected marks a snapshot that something outside the engine still
// needs (a release's artifact, say): Forget refuses it with ErrProtected
// unless forced, and retention plans keep it whatever the policy.
const TagProtected = "protected"

// Entry is one file, directory or symbolic link of a Source. Path is
// slash-separated and relative ("users/42.json"); its first element is the
// module. Path may hold any bytes a file name may (not valid UTF-8 too),
// except what ValidatePath refuses.
//
// A symbolic link has Mode with fs.ModeSymlink, Size 0 and its target in
// LinkTarget, verbatim (relative, absolute or dangling): backups store the
// target and never follow it; restores create the link and never write
// through it. A Source may also yield named pipes, sockets and devices
// (Mode with their type bits, Size 0) so that backups can count them:
// they are not stored (Metadata.SpecialSkipped).
//
// A regular file whose size is not known until it is read (a table a
// database streams) has Size SizeUnknown: a backup always reads it (it is
// never taken unread from the parent snapshot) and records the size it
// read.
type Entry struct {
	Path    string
	Size    int64
	Mode    fs.FileMode
	ModTime time.Time
	// LinkTarget is a symbolic link's target; "" for other entries.
	LinkTarget string
	// HardLinkTo is, for a regular file, the path of an earlier entry of
	// the same walk that is the same file (a hard link: DirSource sets it
	// on the second and later paths of a file, naming the first); ""
	// otherwise. The entry still has its own content: a backup reads and
	// stores it (its chunks are the first path's, so this costs no
	// space), and a restore that does not restore the first path writes
	// it as a copy.
	HardLinkTo string

	// seen is what DirSource's walk saw of the entry, checked when the
	// entry is opened; zero for other Sources.
	seen seen
}

// SizeUnknown is the Size of a regular file whose size a Source knows only
// once the file is read.
const SizeUnknown int64 = -1

// Source is what a backup reads. Walk calls fn for every entry in lexical
// path order (directories before their contents); Open opens a regular file.
type Source interface {
	Walk(ctx context.Context, fn func(Entry) error) error
	Open(ctx context.Context, path string) (io.ReadCloser, error)
}

// Type is the kind of a snapshot.
type Type string

// Snapshot types.
const (
	// Full reads and hashes every file again.
	Full Type = "full"
	// Incremental reuses the chunk lists of files unchanged (size, mtime,
	// mode) since the newest snapshot, without reading them.
	Incremental Type = "incremental"
)

// Component is one piece of the general structure: a stylesheet bundle, a
// script bundle, an i18n catalog, a migration set.
type Component struct {
	Name         string   `json:"name"`
	Version      string   `json:"version"`
	Dependencies []string `json:"dependencies,omitempty"`
}

// Progress reports how far a backup, a restore, a check's data reads or a
// prune are. A check counts packs instead of files (PacksRead of
// PacksTotal, FilesDone and FilesTotal stay zero) and its BytesDone and
// BytesTotal are the stored bytes of those packs; a prune counts the packs
// it deleted (PacksRead) and the live bytes it copied out of repacked
// packs (BytesDone).
type Progress struct {
	FilesDone, FilesTotal int64
	BytesDone, BytesTotal int64
	PacksRead, PacksTotal int64
	// Path is the file being processed, if any.
	Path string
}

// Options change one backup. The zero value, like a nil *Options, means
// an incremental, compressed backup, encrypted when the scope is.
type Options struct {
	// Type is Full or Incremental (the default).
	Type Type
	// DisableCompression stores chunks as they are. By default each chunk
	// is zstd-compressed, and stored as it is when that does not shrink it.
	DisableCompression bool
	// Encrypt asks for an encrypted scope (Config.Keys is then required).
	// With Config.Keys every new scope is encrypted anyway, unless
	// Config.AllowPlaintext is set; the first backup of a scope fixes
	// whether it is encrypted, and an Encrypt backup of a plaintext scope
	// fails.
	Encrypt bool
	Tags    []string
	// Since, when set, makes an incremental backup compare against the
	// newest snapshot taken at or before Since instead of the newest one.
	Since           time.Time
	PlatformVersion string
	SchemaVersion   string
	// TenantName is a human name recorded in the manifest.
	TenantName string
	// Components records the general structure's inventory.
	Components []Component
	// Progress, when set, is called from one goroutine as work advances:
	// after each file and every 250 ms in between. BytesDone
	// counts the bytes read so far, a file's before it is done.
	Progress func(Progress)
	// FailFast makes a backup fail on the first entry the Source cannot
	// read (or that changes while it is read), committing nothing. Unset,
	// such entries are skipped and listed in a partial snapshot, which
	// Backup returns with an error matching ErrPartial.
	FailFast bool
}

// Metadata is the manifest's metadata block.
type Metadata struct {
	TenantName          string `json:"tenant_name,omitempty"`
	BackupVersion       string `json:"backup_version"`
	PlatformVersion     string `json:"platform_version,omitempty"`
	SchemaVersion       string `json:"schema_version,omitempty"`
	SizeBytes           int64  `json:"size_bytes"`
	StoredBytes         int64  `json:"stored_bytes"`
	DurationMS          int64  `json:"duration_ms"`
	Compressed          bool   `json:"compressed"`
	Encrypted           bool   `json:"encrypted"`
	EncryptionAlgorithm string `json:"encryption_algorithm,omitempty"`
	KeyID               string `json:"key_id,omitempty"`
	FileCount           int64  `json:"file_count"`
	// SpecialSkipped counts the named pipes, sockets and devices the
	// Source held: a snapshot stores none of them (their content is not
	// data, and recreating a device is not a tenant's business), so they
	// are counted instead of vanishing silently. Omitted when zero, so
	// manifests written before it existed keep their checksum.
	SpecialSkipped int64 `json:"special_skipped,omitempty"`
	// Partial is set when the snapshot leaves out entries the Source could
	// not read (Snapshot.Skipped). Omitted when false, so manifests written
	// before it existed keep their checksum.
	Partial bool `json:"partial,omitempty"`
}

// Snapshot is a committed backup as the catalog shows it. Its entry list is
// not loaded; read it with Engine.Files.
type Snapshot struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Type      Type      `json:"type"`
	Parent    string    `json:"parent,omitempty"`
	Timestamp time.Time `json:"timestamp"`
	CreatedBy string    `json:"created_by"`
	Tags      []string  `json:"tags,omitempty"`
	Metadata  Metadata  `json:"metadata"`
	// Checksums holds the SHA-256 (hex) of each module, keyed by module
	// name, and of the manifest itself under "manifest".
	Checksums  map[string]string `json:"checksums"`
	Components []Component       `json:"components,omitempty"`
	// Skipped lists, by path, the entries a partial snapshot left out and
	// why (nil for a complete snapshot, and in manifests written before
	// partial snapshots existed).
	Skipped []Skipped `json:"skipped,omitempty"`
}

// File is one entry of a snapshot's entry list: a regular file, a
// directory (with its mode and mtime) or a symbolic link (with its target).
// A hard link's second and later paths are stored with their content and
// with the first path (Entry.HardLinkTo): a restore that restores both
// paths links them, and otherwise writes a copy.
type File struct {
	Entry
	// SHA256 is the hex SHA-256 of the file's content ("" for directories
	// and symbolic links).
	SHA256 string
	// Chunks lists the content's chunk IDs in order.
	Chunks []ChunkRef
}

// ChunkRef names one chunk of a file.
type ChunkRef struct {
	ID   string // hex HMAC-SHA-256 of the plaintext under the scope key
	Size int64  // plaintext length
}

// Config configures an Engine. A nil *Config means defaults.
type Config struct {
	Clock      steward.Clock      // nil: steward.SystemClock
	Auditor    audit.Auditor      // nil: audit.Nop()
	Authorizer steward.Authorizer // nil: steward.MasterOnly()
	// Keys wraps each scope's data key. With Keys, every scope the engine
	// creates is encrypted, the ones it creates implicitly too (release
	// artifacts, safety backups), and a scope stored unencrypted is refused
	// with ErrPlaintextScope. Nil means scopes are not encrypted and
	// Options.Encrypt fails with a clear error.
	Keys KeyProvider
	// AllowPlaintext lets an engine with Keys open scopes stored
	// unencrypted, and create them when a backup does not set
	// Options.Encrypt: the behaviour before encryption followed the keys.
	// A store writer who can plant a config can then downgrade a scope
	// that has no backups yet; leave it unset unless a plaintext scope must
	// stay in use.
	AllowPlaintext bool
	// Parallelism bounds the goroutines that read, hash, compress and
	// encrypt files (default: GOMAXPROCS).
	Parallelism int
	// PackUploads bounds the packs (~16 MiB each) uploading at once while
	// the next fills (default 1; 4-8 suits high-latency object stores).
	PackUploads int
	// SingleWriter declares this process the only writer of the store.
	// Without it, Prune refuses a store that ignores conditional create:
	// its exclusive lock cannot keep concurrent backups out there.
	// Backups, restores and reads need no such promise.
	SingleWriter bool
	// Logger receives the one-time report of the store's capabilities
	// (default slog.Default()).
	Logger *slog.Logger
	// Protect, when set, reports whether a snapshot must not be forgotten
	// though it does not carry TagProtected: one written before the tag
	// existed (a manifest cannot be retagged). Forget refuses a snapshot
	// it protects as one tagged TagProtected. It is called once per
	// snapshot named to Forget, from the calling goroutine, and should
	// answer true when it cannot tell. Nil: only the tag protects.
	// release.Manager.Protects is one.
	Protect func(ctx context.Context, scope, snapshotID string) bool
}

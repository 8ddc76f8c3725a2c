package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"path"
	"runtime"
	"strings"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/internal/snapshot"
)

// Mode is how a restore treats what the target already holds.
type Mode string

// Restore modes.
const (
	// Full makes the target equal to the snapshot: missing and different
	// files are restored, files the snapshot lacks are removed.
	Full Mode = "full"
	// Selective replaces only the named modules (first path elements); the
	// rest of the target is untouched.
	Selective Mode = "selective"
	// Merge restores files missing from the target, keeps files that are
	// newer in the target, restores those that are older, removes nothing,
	// and never replaces an entry of another type: where the target holds a
	// file and the snapshot a directory, or the other way round, the
	// target's side is kept and reported as a conflict.
	Merge Mode = "merge"
)

// Actions of a Decision, in a Plan (to do) and in a Report (done).
const (
	// ActionRestored: a file written from the snapshot.
	ActionRestored = "restored"
	// ActionUnchanged: a file the target already holds with the snapshot's
	// size, mtime and content; left as it is.
	ActionUnchanged = "unchanged"
	// ActionKeptNewer: a merge keeps the target's file, newer than the
	// snapshot's.
	ActionKeptNewer = "kept-newer"
	// ActionRemoved: an entry of the target the snapshot lacks, removed by
	// a full or selective restore with everything under it.
	ActionRemoved = "removed"
	// ActionDirCreated: a directory created from the snapshot.
	ActionDirCreated = "dir"
	// ActionConflict: a merge found an entry of another type in the target
	// (at the path or above it) and kept the target's side; the snapshot's
	// is not restored.
	ActionConflict = "conflict"
)

// ErrInvalidOptions: the restore's options cannot be used; nothing was written.
var ErrInvalidOptions = errors.New("restore: invalid options")

// ErrValidation: a restore with Options.Validate found the target's content
// differing from the snapshot (a module's checksum is not the manifest's, or
// a file kept as unchanged no longer hashes to its entry). The message names
// the module or file. Restorer.Validate reports it as a failed check, not as
// an error. A chunk or file that fails its own check is backup.ErrCorrupt.
var ErrValidation = errors.New("restore: validation failed")

// Options change one restore. A nil *Options means a Full restore.
type Options struct {
	Mode Mode
	// Modules names the modules of a Selective restore.
	Modules []string
	// Paths names entries of a Selective restore besides its Modules —
	// files, links, or directories with everything under them — as the
	// snapshot holds them ("users/ana/notes.txt"). The target keeps
	// everything outside the named paths; inside a named directory the
	// restore removes what the snapshot lacks, as for a module. The
	// directories above a named path are created when the target lacks
	// them, with the snapshot's metadata, and left as they are otherwise.
	// A path the snapshot does not hold fails the restore with
	// ErrInvalidOptions before anything is written.
	Paths []string

	// sel is the selection of Modules and Paths, made by checkOptions.
	sel *selection
	// Validate checks the content end to end: each restored file's SHA-256
	// as it is written (a mismatch fails the file before it is published),
	// files skipped as unchanged re-read from the target, and each module's
	// checksum against the manifest. Without it every chunk is still
	// verified on its own (see Restore); the file hash adds one SHA-256
	// pass, about a fifth of a restore's CPU, and catches content that was
	// already wrong when it was encrypted. Restorer.Validate (the DR drill)
	// always sets it.
	Validate bool
	// SafetyBackup snapshots the target first (tag backup.TagPreRestore),
	// which backup.Latest passes over. The restore's authorization covers
	// it: the principal needs steward.ActionRestore, not backup.create.
	SafetyBackup bool
	// DryRun plans the restore and carries out nothing: Restore reads the
	// snapshot's entry list and the target (walking it, and hashing the
	// files whose size and mtime equal the snapshot's) and returns a Report
	// whose Plan holds every decision and its counts, while the Report's
	// own counts and Decisions stay empty. No file or directory is created
	// or removed, no safety backup is taken, Validate is ignored, and no
	// restore is recorded in the audit log. The plan is the one a restore
	// with the same options would carry out on the same target.
	DryRun bool
	// AllowDelete lets a Full restore remove the entries the snapshot
	// lacks from a target that holds other data. Without it a Full restore
	// removes them only from a target a restore of the same tenant created
	// (see MarkerDir), and otherwise fails with ErrWouldDelete before
	// writing anything. Selective and Merge restores ignore it.
	AllowDelete bool
	// ContinueOnError salvages what it can: a file whose content cannot be
	// read whole (a chunk that fails verification, backup.ErrCorrupt, or
	// an object that is missing, backup.ErrNotFound) is skipped — never
	// published, not even in part: the target keeps the file it held at
	// that path, if any — and listed in Report.Damaged with the
	// object at fault, and every other file is restored. The restore then
	// returns its Report and an error matching ErrDamaged. Any other error
	// (the target's, ctx's) still stops the restore. Without it the first
	// damaged file stops the restore.
	ContinueOnError bool
	// Progress, when set, is called as files complete and every
	// op.ProgressInterval in between (from one goroutine at a time,
	// never after Restore returns). BytesDone counts the bytes written so
	// far, a file's before it is done.
	Progress func(backup.Progress)
}

// Config configures a Restorer. A nil *Config means defaults.
type Config struct {
	Clock      steward.Clock
	Auditor    audit.Auditor
	Authorizer steward.Authorizer
	// Parallelism bounds the files restored at once (default 4×GOMAXPROCS:
	// restores wait on reads and writes as much as on the CPU).
	Parallelism int
	// BufferBytes bounds the chunk buffers of the files in flight (default
	// 16 MiB). A file in flight holds up to three buffers of its largest
	// chunk (the one being written, the next one being fetched, the stored
	// bytes being decoded); files wait for room, so peak memory depends on
	// this bound, not on Parallelism or on file sizes. A file whose chunks
	// need more than the whole bound runs alone.
	BufferBytes int64
	// SchemaCompatible tells whether the host can read data of a snapshot's
	// schema version (used by Validate); nil accepts every version.
	SchemaCompatible func(schemaVersion string) error
	// Progress, when set, is the Options.Progress of the scratch restores
	// of Validate and Drill (one per tenant, one after the other: each
	// starts again from zero with its own totals).
	Progress func(backup.Progress)
}

// DefaultBufferBytes is Config.BufferBytes when unset.
const DefaultBufferBytes = 16 << 20

// bufferCost is what restoring f holds in chunk buffers at most, capped at
// limit so that any file can run (alone).
func bufferCost(f backup.File, limit int64) int64 {
	var largest int64
	for _, c := range f.Chunks {
		largest = max(largest, c.Size)
	}
	return min(max(3*largest, 1), limit)
}

// Restorer restores snapshots of a backup.Engine. It is safe for concurrent use.
type Restorer struct {
	e   *backup.Engine
	cfg Config
}

// New returns a Restorer over e.
func New(e *backup.Engine, cfg *Config) *Restorer {
	r := &Restorer{e: e}
	if cfg != nil {
		r.cfg = *cfg
	}
	r.cfg.Clock = steward.ClockOrSystem(r.cfg.Clock)
	r.cfg.Auditor = audit.OrNop(r.cfg.Auditor)
	r.cfg.Authorizer = steward.AuthorizerOrDefault(r.cfg.Authorizer)
	if r.cfg.Parallelism <= 0 {
		r.cfg.Parallelism = 4 * runtime.GOMAXPROCS(0)
	}
	if r.cfg.BufferBytes <= 0 {
		r.cfg.BufferBytes = DefaultBufferBytes
	}
	return r
}

// Decision is what a restore does (in a Plan) or did (in a Report) with
// one path.
type Decision struct {
	Path string `json:"path"`
	// Action is one of the Action constants.
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	// Size is the snapshot's size of a file (restored, unchanged, kept or
	// in conflict), or the bytes of the files a removal deletes; 0 for a
	// directory created.
	Size int64 `json:"size,omitempty"`
}

// Report describes a finished restore: its counts and Decisions are what
// was carried out, in path order. A restore that fails returns the Report
// of what it did before failing.
type Report struct {
	Tenant     string   `json:"tenant"`
	SnapshotID string   `json:"snapshot_id"`
	Mode       Mode     `json:"mode"`
	Modules    []string `json:"modules,omitempty"`
	Paths      []string `json:"paths,omitempty"`
	// Counts tallies Decisions.
	Counts
	Duration         time.Duration `json:"duration_ns"`
	SafetySnapshotID string        `json:"safety_snapshot_id,omitempty"`
	// Validated is true when Options.Validate checked every file and
	// module (never when files were damaged).
	Validated bool `json:"validated"`
	// Decisions lists every decision carried out, in path order.
	Decisions []Decision `json:"decisions"`
	// DryRun is true when Options.DryRun planned the restore without
	// carrying it out: Plan holds the decisions, counts and Decisions are
	// empty.
	DryRun bool `json:"dry_run,omitempty"`
	// Plan is the restore's plan, set by a dry run only.
	Plan *Plan `json:"plan,omitempty"`
	// WouldRefuse is set by a dry run whose restore, carried out, would
	// fail with ErrWouldDelete: the plan removes entries from a target the
	// restore did not create, and Options.AllowDelete is not set.
	WouldRefuse bool `json:"would_refuse,omitempty"`
	// Damaged lists, in path order, the files Options.ContinueOnError
	// skipped because their content could not be read whole.
	Damaged []Damage `json:"damaged,omitempty"`
	// Outcomes lists what a Committer target did per module (rows a
	// database inserted, updated, kept and deleted per table).
	Outcomes []Outcome `json:"outcomes,omitempty"`
}

// Restore restores snapshotID ("latest" for the newest) of tenant into dst.
//
// Before writing anything it reads the whole entry list and checks every
// path, so a manifest naming "../x" or an absolute path is refused with
// nothing written. Files are written in parallel, each under a temporary
// name first; every chunk is verified against its ID (an encrypted chunk by
// its AES-GCM tag, which covers the ID; a plain one by hashing it), every
// file's size is checked and, with Options.Validate, its SHA-256, before it
// is published. A file that fails is never published. Files already equal in
// the target (same size and mtime, and the same SHA-256) are skipped, so
// running a restore again after an interruption finishes the job.
//
// A restore plans first (see NewPlan) and then carries out exactly that
// plan: removals, then directories, then files. With Options.DryRun it
// returns the plan in Report.Plan and writes nothing; a dry run is
// authorized as a restore is, and records no event in the audit log
// (beyond a denial).
//
// A Full restore removes what the snapshot lacks only from a target that
// was empty, that a restore of the same tenant created (MarkerDir), or
// with Options.AllowDelete; otherwise it fails with ErrWouldDelete, having
// written nothing. With Options.ContinueOnError, damaged files are skipped
// and the restore ends with its Report and an error matching ErrDamaged.
func (r *Restorer) Restore(ctx context.Context, tenant, snapshotID string, dst Target, opts *Options) (*Report, error) {
	o := withDefaults(opts)
	if dst == nil {
		return nil, errNoTarget
	}
	if err := checkOptions(&o); err != nil {
		return nil, err
	}
	task, err := op.Start(ctx, r.cfg.Authorizer, r.cfg.Auditor, steward.ActionRestore, tenant)
	if err != nil {
		return nil, err
	}
	start := r.cfg.Clock.Now()
	rep, err := r.restore(ctx, tenant, snapshotID, dst, &o)
	ttr := r.cfg.Clock.Now().Sub(start)
	if o.DryRun {
		if err == nil {
			rep.Duration = ttr
		}
		return rep, err
	}
	data := map[string]any{audit.DataMode: string(o.Mode), audit.DataTTRMS: ttr.Milliseconds(), audit.DataSnapshotID: snapshotID}
	if err != nil {
		if rep != nil {
			rep.Duration = ttr
		}
		task.Finish(ctx, err, audit.TypeRestoreFailed, fmt.Sprintf("%s restore of %q snapshot %s failed", o.Mode, tenant, snapshotID), data)
		return rep, err
	}
	rep.Duration = ttr
	data[audit.DataSnapshotID] = rep.SnapshotID
	data[audit.DataSizeBytes] = rep.BytesRestored
	data[audit.DataFileCount] = rep.FilesRestored
	task.Finish(ctx, nil, audit.TypeRestoreCompleted,
		fmt.Sprintf("%s restore of %q snapshot %s: %d files, %d bytes in %s", o.Mode, tenant, rep.SnapshotID, rep.FilesRestored, rep.BytesRestored, ttr.Round(time.Millisecond)), data)
	return rep, nil
}

// withDefaults returns *opts, or a Full restore's options when opts is nil,
// with the zero Mode read as Full.
func withDefaults(opts *Options) Options {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Mode == "" {
		o.Mode = Full
	}
	return o
}

func checkOptions(o *Options) error {
	switch o.Mode {
	case Full, Merge:
		if len(o.Modules) > 0 || len(o.Paths) > 0 {
			return fmt.Errorf("%w: modules and paths are only for a %s restore", ErrInvalidOptions, Selective)
		}
	case Selective:
		if len(o.Modules) == 0 && len(o.Paths) == 0 {
			return fmt.Errorf("%w: a selective restore needs at least one module or path", ErrInvalidOptions)
		}
		for _, m := range o.Modules {
			if m == "" || strings.ContainsAny(m, "/\\\x00") || m == "." || m == ".." {
				return fmt.Errorf("%w: module %q is not a single path element", ErrInvalidOptions, m)
			}
		}
		for _, p := range o.Paths {
			if err := snapshot.ValidatePath(p); err != nil {
				return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
			}
		}
	default:
		return fmt.Errorf("%w: mode %q: use %q, %q or %q", ErrInvalidOptions, o.Mode, Full, Selective, Merge)
	}
	o.sel = newSelection(o)
	return nil
}

// restore plans the restore of snapshotID into dst and, unless o.DryRun,
// carries out the plan and validates the result.
func (r *Restorer) restore(ctx context.Context, tenant, snapshotID string, dst Target, o *Options) (*Report, error) {
	snap, err := r.e.Snapshot(ctx, tenant, snapshotID)
	if err != nil {
		return nil, err
	}
	rep := &Report{Tenant: tenant, SnapshotID: snap.ID, Mode: o.Mode, Modules: o.Modules, Paths: o.Paths, DryRun: o.DryRun}
	target, st, err := walkTarget(ctx, dst)
	if err != nil {
		return nil, err
	}
	plan, err := r.plan(ctx, tenant, snap, target, dst, o)
	if err != nil {
		return nil, err
	}
	refused := refusal(plan, st, tenant, o)
	if o.DryRun {
		rep.Plan, rep.WouldRefuse = plan, refused != nil
		return rep, nil
	}
	if refused != nil {
		return nil, refused
	}
	if o.SafetyBackup && !st.empty {
		// The restore's authorization covers its safety backup: a principal
		// allowed to restore a tenant (a tenant's own admin under
		// steward.TenantScoped) need not be allowed backup.create as well.
		bctx := op.Implying(ctx, steward.ActionBackupCreate, tenant)
		s, err := r.e.Backup(bctx, tenant, unmarked{dst}, &backup.Options{Type: backup.Incremental, Encrypt: snap.Metadata.Encrypted, Tags: []string{backup.TagPreRestore}})
		if err != nil {
			return nil, errs.Errorf("restore", "safety backup of the target: %w", err)
		}
		rep.SafetySnapshotID = s.ID
	}
	if err := mark(ctx, dst, st, tenant); err != nil {
		return rep, err
	}
	if err := r.executeIn(ctx, tenant, dst, plan, o, rep); err != nil {
		return rep, err
	}
	if o.Validate {
		if err := r.validateTarget(ctx, snap, plan, dst, o.Mode == Merge); err != nil {
			return rep, err
		}
		rep.Validated = len(rep.Damaged) == 0
	}
	if len(rep.Damaged) > 0 {
		return rep, damagedError(rep)
	}
	return rep, nil
}

// plan reads the entries of snap that the restore selects, checking
// every path before anything is written, and plans them against target
// (the target's files that look unchanged are hashed to tell). A
// selective restore naming a module or path the snapshot lacks fails.
func (r *Restorer) plan(ctx context.Context, tenant string, snap *backup.Snapshot, target []backup.File, dst Target, o *Options) (*Plan, error) {
	src := r.source(tenant, snap.ID, o)
	read := src
	var found map[string]bool
	if o.Mode == Selective {
		found = map[string]bool{}
		read = func(ctx context.Context) iter.Seq2[backup.File, error] {
			return func(yield func(backup.File, error) bool) {
				for f, err := range src(ctx) {
					for p := f.Path; err == nil && p != "." && !found[p]; p = path.Dir(p) {
						found[p] = true // a directory may have no entry of its own
					}
					if !yield(f, err) {
						return
					}
				}
			}
		}
	}
	hash := func(p string) (string, error) { return hashTarget(ctx, dst, p) }
	p, err := newPlan(ctx, read, target, o, hash)
	if err != nil {
		return nil, err
	}
	if found != nil {
		if err := o.sel.checkFound(snap.ID, found, snap.Checksums); err != nil {
			return nil, err
		}
	}
	p.source = src
	return p, nil
}

// source returns the entrySource of the entries of tenant's snapshot id
// that o selects. Every path is checked, the unselected ones' too: a
// snapshot naming one that could leave the target is refused whole.
func (r *Restorer) source(tenant, id string, o *Options) entrySource {
	return func(ctx context.Context) iter.Seq2[backup.File, error] {
		return func(yield func(backup.File, error) bool) {
			for f, err := range r.e.Files(ctx, tenant, id) {
				if err == nil {
					if perr := snapshot.ValidatePath(f.Path); perr != nil {
						err = errs.Errorf("restore", "snapshot %s: %w", id, perr)
					}
				}
				if err != nil {
					yield(backup.File{}, err)
					return
				}
				if o.sel.wants(f) && !yield(f, nil) {
					return
				}
			}
		}
	}
}

// walkTarget returns the entries dst holds, as it walks them, without its
// marker, and what the restore knows of the target from them.
func walkTarget(ctx context.Context, dst Target) ([]backup.File, targetState, error) {
	var target []backup.File
	err := dst.Walk(ctx, func(e backup.Entry) error {
		target = append(target, backup.File{Entry: e})
		return nil
	})
	if err != nil {
		return nil, targetState{}, errs.Errorf("restore", "read target: %w", err)
	}
	target, marks := withoutMarker(target)
	return target, targetState{empty: len(target) == 0, marks: marks}, nil
}

// validateTarget re-reads files skipped as unchanged and checks each
// module's checksum against the manifest. In a merge, modules holding kept
// files legitimately differ and are not compared.
func (r *Restorer) validateTarget(ctx context.Context, snap *backup.Snapshot, p *Plan, dst Target, merge bool) error {
	err := p.each(ctx, func(i int, f backup.File) error {
		if p.Decisions[i].Action != ActionUnchanged {
			return nil
		}
		sum, err := hashTarget(ctx, dst, f.Path)
		if err != nil {
			return err
		}
		if sum != f.SHA256 {
			return fmt.Errorf("%w: %q in the target has the snapshot's size and mtime but different content", ErrValidation, f.Path)
		}
		return nil
	})
	if err != nil || merge {
		return err
	}
	c := snapshot.NewChecksummer()
	for f, err := range p.source(ctx) {
		if err != nil {
			return err
		}
		c.Add(f.Path, f.Mode, f.Size, f.SHA256)
	}
	for m, sum := range c.Sums() {
		if want := snap.Checksums[m]; want != sum {
			return fmt.Errorf("%w: module %q checksum %s, manifest says %s", ErrValidation, m, sum, want)
		}
	}
	return nil
}

func hashTarget(ctx context.Context, dst Target, p string) (string, error) {
	rc, err := dst.Open(ctx, p)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", errs.Errorf("restore", "validation: read %q: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
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
	// newer in the target, restores those that are older, removes nothing.
	Merge Mode = "merge"
)

// Actions recorded in a Report's decisions.
const (
	ActionRestored   = "restored"
	ActionUnchanged  = "unchanged"
	ActionKeptNewer  = "kept-newer"
	ActionRemoved    = "removed"
	ActionDirCreated = "dir"
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
	// Validate checks the content end to end: each restored file's SHA-256
	// as it is written (a mismatch fails the file before it is published),
	// files skipped as unchanged re-read from the target, and each module's
	// checksum against the manifest. Without it every chunk is still
	// verified on its own (see Restore); the file hash adds one SHA-256
	// pass, about a fifth of a restore's CPU, and catches content that was
	// already wrong when it was encrypted. Restorer.Validate (the DR drill)
	// always sets it.
	Validate bool
	// SafetyBackup snapshots the target first (tag "pre-restore").
	SafetyBackup bool
	// Progress, when set, is called as files complete and every
	// backup.ProgressInterval in between (from one goroutine at a time,
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

// Decision is what the restore did with one path.
type Decision struct {
	Path   string `json:"path"`
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// Report describes a finished restore.
type Report struct {
	Tenant           string        `json:"tenant"`
	SnapshotID       string        `json:"snapshot_id"`
	Mode             Mode          `json:"mode"`
	Modules          []string      `json:"modules,omitempty"`
	FilesRestored    int           `json:"files_restored"`
	FilesUnchanged   int           `json:"files_unchanged"`
	FilesKept        int           `json:"files_kept"`
	EntriesRemoved   int           `json:"entries_removed"`
	BytesRestored    int64         `json:"bytes_restored"`
	Duration         time.Duration `json:"duration_ns"`
	SafetySnapshotID string        `json:"safety_snapshot_id,omitempty"`
	// Validated is true when Options.Validate checked every file and module.
	Validated bool `json:"validated"`
	// Decisions lists every path, in path order.
	Decisions []Decision `json:"decisions"`
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
func (r *Restorer) Restore(ctx context.Context, tenant, snapshotID string, dst Target, opts *Options) (*Report, error) {
	o := Options{Mode: Full}
	if opts != nil {
		o = *opts
	}
	if o.Mode == "" {
		o.Mode = Full
	}
	if err := checkOptions(&o, dst); err != nil {
		return nil, err
	}
	if err := audit.Authorize(ctx, r.cfg.Authorizer, r.cfg.Auditor, steward.ActionRestore, tenant); err != nil {
		return nil, err
	}
	start := r.cfg.Clock.Now()
	rep, err := r.restore(ctx, tenant, snapshotID, dst, &o)
	ttr := r.cfg.Clock.Now().Sub(start)
	data := map[string]any{audit.DataMode: string(o.Mode), audit.DataTTRMS: ttr.Milliseconds(), audit.DataSnapshotID: snapshotID}
	if err != nil {
		data[audit.DataError] = err.Error()
		_ = r.cfg.Auditor.Record(context.WithoutCancel(ctx), audit.Event{Type: audit.TypeRestoreFailed, Level: audit.LevelError,
			Message: fmt.Sprintf("%s restore of %q snapshot %s failed: %v", o.Mode, tenant, snapshotID, err), UserID: steward.PrincipalID(ctx), Tenant: tenant, Data: data})
		return rep, err
	}
	rep.Duration = ttr
	data[audit.DataSnapshotID] = rep.SnapshotID
	data[audit.DataSizeBytes] = rep.BytesRestored
	data[audit.DataFileCount] = rep.FilesRestored
	_ = r.cfg.Auditor.Record(context.WithoutCancel(ctx), audit.Event{Type: audit.TypeRestoreCompleted, Level: audit.LevelInfo,
		Message: fmt.Sprintf("%s restore of %q snapshot %s: %d files, %d bytes in %s", o.Mode, tenant, rep.SnapshotID, rep.FilesRestored, rep.BytesRestored, ttr.Round(time.Millisecond)),
		UserID:  steward.PrincipalID(ctx), Tenant: tenant, Data: data})
	return rep, nil
}

func checkOptions(o *Options, dst Target) error {
	if dst == nil {
		return errNoTarget
	}
	switch o.Mode {
	case Full, Merge:
		if len(o.Modules) > 0 {
			return fmt.Errorf("%w: modules are only for a %s restore", ErrInvalidOptions, Selective)
		}
	case Selective:
		if len(o.Modules) == 0 {
			return fmt.Errorf("%w: a selective restore needs at least one module", ErrInvalidOptions)
		}
		for _, m := range o.Modules {
			if m == "" || strings.ContainsAny(m, "/\\\x00") || m == "." || m == ".." {
				return fmt.Errorf("%w: module %q is not a single path element", ErrInvalidOptions, m)
			}
		}
	default:
		return fmt.Errorf("%w: mode %q: use %q, %q or %q", ErrInvalidOptions, o.Mode, Full, Selective, Merge)
	}
	return nil
}

type work struct {
	f      backup.File
	reason string
}

func (r *Restorer) restore(ctx context.Context, tenant, snapshotID string, dst Target, o *Options) (*Report, error) {
	snap, err := r.e.Snapshot(ctx, tenant, snapshotID)
	if err != nil {
		return nil, err
	}
	rep := &Report{Tenant: tenant, SnapshotID: snap.ID, Mode: o.Mode, Modules: o.Modules}
	selected := func(p string) bool {
		return o.Mode != Selective || slices.Contains(o.Modules, backup.ModuleOf(p))
	}

	// The whole entry list is read and checked before anything is written.
	var files []backup.File
	inSnap := map[string]bool{}
	for f, err := range r.e.Files(ctx, tenant, snap.ID) {
		if err != nil {
			return nil, err
		}
		if err := backup.ValidatePath(f.Path); err != nil {
			return nil, fmt.Errorf("restore: snapshot %s: %w", snap.ID, err)
		}
		if !selected(f.Path) {
			continue
		}
		inSnap[f.Path] = true
		files = append(files, f)
	}
	if o.Mode == Selective {
		for _, m := range o.Modules {
			if _, ok := snap.Checksums[m]; !ok && !inSnap[m] {
				return nil, fmt.Errorf("%w: snapshot %s has no module %q", ErrInvalidOptions, snap.ID, m)
			}
		}
	}

	existing := map[string]backup.Entry{}
	err = dst.Walk(ctx, func(e backup.Entry) error {
		existing[e.Path] = e
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("restore: read target: %w", err)
	}

	if o.SafetyBackup && len(existing) > 0 {
		s, err := r.e.Backup(ctx, tenant, dst, &backup.Options{Type: backup.Incremental, Compress: true, Encrypt: snap.Metadata.Encrypted, Tags: []string{"pre-restore"}})
		if err != nil {
			return nil, fmt.Errorf("restore: safety backup of the target: %w", err)
		}
		rep.SafetySnapshotID = s.ID
	}

	var decisions []Decision
	// Removals first (deepest paths first), so a file can replace a
	// directory and the other way round.
	if o.Mode != Merge {
		var remove []string
		for p := range existing {
			if !selected(p) || inSnap[p] {
				continue
			}
			remove = append(remove, p)
		}
		sort.Sort(sort.Reverse(sort.StringSlice(remove)))
		for _, p := range remove {
			if parentRemoved(p, remove) {
				continue
			}
			if err := dst.Remove(ctx, p); err != nil {
				return rep, err
			}
			decisions = append(decisions, Decision{Path: p, Action: ActionRemoved, Reason: "not in the snapshot"})
			rep.EntriesRemoved++
		}
	}

	var todo []work
	var unchanged []backup.File
	for _, f := range files {
		t, has := existing[f.Path]
		if f.Mode.IsDir() {
			if has && t.Mode.IsDir() {
				continue
			}
			if has {
				if err := dst.Remove(ctx, f.Path); err != nil {
					return rep, err
				}
			}
			if _, err := dst.Create(ctx, f.Entry); err != nil {
				return rep, err
			}
			decisions = append(decisions, Decision{Path: f.Path, Action: ActionDirCreated})
			continue
		}
		switch {
		case !has:
			todo = append(todo, work{f, "missing from the target"})
		case !t.Mode.IsRegular():
			if err := dst.Remove(ctx, f.Path); err != nil {
				return rep, err
			}
			todo = append(todo, work{f, "target held a directory"})
		case t.Size == f.Size && t.ModTime.Equal(f.ModTime) && sameContent(ctx, dst, f):
			// Size and mtime alone are not proof: two files written in one
			// clock tick share an mtime. The content hash decides.
			unchanged = append(unchanged, f)
			decisions = append(decisions, Decision{Path: f.Path, Action: ActionUnchanged, Reason: "same content"})
			rep.FilesUnchanged++
		case o.Mode == Merge && t.ModTime.After(f.ModTime):
			decisions = append(decisions, Decision{Path: f.Path, Action: ActionKeptNewer,
				Reason: fmt.Sprintf("target modified %s, snapshot %s", t.ModTime.UTC().Format(time.RFC3339), f.ModTime.UTC().Format(time.RFC3339))})
			rep.FilesKept++
		default:
			todo = append(todo, work{f, "differs from the snapshot"})
		}
	}

	var mu sync.Mutex
	var total backup.Progress
	for _, w := range todo {
		total.FilesTotal++
		total.BytesTotal += w.f.Size
	}
	var written atomic.Int64
	stopTicks := tickProgress(o, &mu, &total, &written)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.cfg.Parallelism)
	budget := semaphore.NewWeighted(r.cfg.BufferBytes)
	var stopped error
	for _, w := range todo {
		cost := bufferCost(w.f, r.cfg.BufferBytes)
		if stopped = budget.Acquire(gctx, cost); stopped != nil {
			break // ctx ended, or a file failed (g.Wait returns why)
		}
		g.Go(func() error {
			defer budget.Release(cost)
			if err := r.restoreFile(gctx, tenant, dst, w.f, o.Validate, &written); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			decisions = append(decisions, Decision{Path: w.f.Path, Action: ActionRestored, Reason: w.reason})
			rep.FilesRestored++
			rep.BytesRestored += w.f.Size
			if o.Progress != nil {
				total.FilesDone++
				total.BytesDone = written.Load()
				total.Path = w.f.Path
				o.Progress(total)
			}
			return nil
		})
	}
	err = g.Wait()
	stopTicks()
	if err == nil {
		err = stopped
	}
	sort.Slice(decisions, func(i, j int) bool { return decisions[i].Path < decisions[j].Path })
	rep.Decisions = decisions
	if err != nil {
		return rep, err
	}

	if o.Validate {
		if err := r.validateTarget(ctx, snap, files, unchanged, dst, o.Mode == Merge); err != nil {
			return rep, err
		}
		rep.Validated = true
	}
	return rep, nil
}

func parentRemoved(p string, removed []string) bool {
	for dir := p; ; {
		i := strings.LastIndexByte(dir, '/')
		if i < 0 {
			return false
		}
		dir = dir[:i]
		if slices.Contains(removed, dir) {
			return true
		}
	}
}

// restoreFile copies one file from the repository into dst. The engine
// verifies every chunk, the size and (with hash) the file's SHA-256 before
// EOF, so a corrupt file fails before Close and is aborted, never published.
func (r *Restorer) restoreFile(ctx context.Context, tenant string, dst Target, f backup.File, hash bool, written *atomic.Int64) error {
	rc, err := r.e.OpenFileWith(ctx, tenant, f, &backup.ReadOptions{SkipFileHash: !hash})
	if err != nil {
		return err
	}
	defer rc.Close()
	w, err := dst.Create(ctx, f.Entry)
	if err != nil {
		return err
	}
	// The engine's reader writes its decoded chunks straight to w
	// (io.WriterTo): no copy buffer per file in flight.
	if _, err := io.Copy(countingWriter{w, written}, rc); err != nil {
		abort(w)
		return fmt.Errorf("restore: %q: %w", f.Path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("restore: %q: %w", f.Path, err)
	}
	return nil
}

// countingWriter adds what it writes to n.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// tickProgress reports total, with the bytes written so far, every
// backup.ProgressInterval under mu until the returned stop is called; stop
// returns once no report is running.
func tickProgress(o *Options, mu *sync.Mutex, total *backup.Progress, written *atomic.Int64) (stop func()) {
	if o.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(backup.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				mu.Lock()
				total.BytesDone = written.Load()
				o.Progress(*total)
				mu.Unlock()
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

func abort(w io.WriteCloser) {
	if a, ok := w.(Aborter); ok {
		_ = a.Abort()
		return
	}
	_ = w.Close()
}

// validateTarget re-reads files skipped as unchanged and checks each
// module's checksum against the manifest. In a merge, modules holding kept
// files legitimately differ and are not compared.
func (r *Restorer) validateTarget(ctx context.Context, snap *backup.Snapshot, files, unchanged []backup.File, dst Target, merge bool) error {
	for _, f := range unchanged {
		sum, err := hashTarget(ctx, dst, f.Path)
		if err != nil {
			return err
		}
		if sum != f.SHA256 {
			return fmt.Errorf("%w: %q in the target has the snapshot's size and mtime but different content", ErrValidation, f.Path)
		}
	}
	if merge {
		return nil
	}
	c := backup.NewChecksummer()
	for _, f := range files {
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
		return "", fmt.Errorf("restore: validation: read %q: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sameContent reports whether the target's file hashes to f's SHA-256.
func sameContent(ctx context.Context, dst Target, f backup.File) bool {
	sum, err := hashTarget(ctx, dst, f.Path)
	return err == nil && sum == f.SHA256
}

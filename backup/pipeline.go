package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/internal/repo"
	"github.com/iluxsys/steward/internal/snapshot"
)

// Backup takes a snapshot of src for tenant (or General, or Releases).
//
// The pipeline streams: the Source is walked once; files are read by
// Parallelism workers, split into content-defined chunks, and each new
// chunk is hashed, compressed, encrypted and packed; the entry list is
// chunked the same way; then packs, the index and finally the manifest are
// written (the manifest with IfNotExist is the commit point). Memory is
// bounded by Parallelism, not by the size of files or of the dataset. On any
// error nothing becomes visible: no manifest is written.
//
// Incremental backups compare each file's size, mtime and mode with the
// newest snapshot (or the newest at or before Options.Since) and reuse the
// chunk list of unchanged files without opening them.
//
// An entry the Source cannot read (a file that cannot be opened or read,
// a directory that cannot be listed) or a file that changes while it is
// read (re-read once, never stored torn) is skipped: the snapshot commits
// marked partial (Metadata.Partial, Snapshot.Skipped lists each entry
// with its reason) and Backup returns it together with an error matching
// ErrPartial. With Options.FailFast such an entry fails the backup
// instead. Errors of the store, the context or the repository, and a
// Source that breaks its contract (entries out of order, or below a
// file) always fail it.
func (e *Engine) Backup(ctx context.Context, tenant string, src Source, opts *Options) (*Snapshot, error) {
	if _, err := scopePrefix(tenant); err != nil {
		return nil, err
	}
	o := Options{Type: Incremental}
	if opts != nil {
		o = *opts
	}
	if o.Type == "" {
		o.Type = Incremental
	}
	if o.Type != Full && o.Type != Incremental {
		return nil, fmt.Errorf("%w: type %q: use %q or %q", ErrInvalidOptions, o.Type, Full, Incremental)
	}
	if src == nil {
		return nil, fmt.Errorf("%w: source is nil", ErrInvalidOptions)
	}
	if o.Encrypt && e.cfg.Keys == nil {
		return nil, fmt.Errorf("%w: Encrypt needs Config.Keys (a passphrase or KMS key provider)", ErrInvalidOptions)
	}
	task, err := op.Start(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionBackupCreate, tenant)
	if err != nil {
		return nil, err
	}
	start := e.cfg.Clock.Now()
	retry := o
	snap, err := e.backup(ctx, tenant, src, &o, start)
	if errors.Is(err, repo.ErrCreatedMeanwhile) {
		// Another backup created the scope while this first one ran;
		// this one's packs were under a key the scope does not have and
		// are deleted. Once more, into the scope that now exists.
		o = retry
		snap, err = e.backup(ctx, tenant, src, &o, start)
	}
	if err != nil {
		task.Finish(ctx, err, audit.TypeBackupFailed, fmt.Sprintf("%s backup of %q failed", o.Type, tenant),
			map[string]any{audit.DataType: string(o.Type), audit.DataDurationMS: e.cfg.Clock.Now().Sub(start).Milliseconds()})
		return nil, err
	}
	var partial error
	what := fmt.Sprintf("%s backup %s of %q", o.Type, snap.ID, tenant)
	if snap.Metadata.Partial {
		partial = partialError(snap)
		what += fmt.Sprintf(" (partial: %d %s skipped)", len(snap.Skipped), plural(len(snap.Skipped), "entry", "entries"))
	}
	task.Finish(ctx, nil, audit.TypeBackupCreated, what, map[string]any{
		audit.DataSnapshotID: snap.ID, audit.DataType: string(snap.Type), audit.DataDurationMS: snap.Metadata.DurationMS,
		audit.DataSizeBytes: snap.Metadata.SizeBytes, audit.DataStoredBytes: snap.Metadata.StoredBytes, audit.DataFileCount: snap.Metadata.FileCount,
	})
	return snap, partial
}

// backup runs one backup: it takes the scope's shared lock, finds the
// parent snapshot, runs the archiver's stages and commits the manifest.
//
// The first backup of a scope creates it only once it has read its
// Source: the repository is built in memory (openRepo, deferred), packs
// are uploaded under its data key, and its key, config and registry entry
// are written (createScope) just before the index and the manifest. A
// first backup that fails before deletes the packs it uploaded: the store
// is left as it was. One that fails after (writing the index or the
// manifest) leaves the scope created and empty, as Init would: another
// process may be using it by then.
func (e *Engine) backup(ctx context.Context, tenant string, src Source, o *Options, start time.Time) (*Snapshot, error) {
	r, err := e.openRepo(ctx, tenant, true, true, o.Encrypt)
	if err != nil {
		return nil, err
	}
	if o.Encrypt && !r.Encrypted() {
		return nil, fmt.Errorf("%w: scope %q was created unencrypted; its backups stay unencrypted (back up to a new scope to encrypt)", ErrInvalidOptions, tenant)
	}
	fresh := r.Pending()
	if !fresh {
		// A shared lock keeps prune out until the manifest is written;
		// the index is reloaded under it, since a prune that ran before
		// may have rewritten it (deduplicating against a stale index
		// could reference chunks prune deleted). A scope not created yet
		// has nothing to prune: createScope locks it before creating it.
		lock, err := e.lockScope(ctx, r)
		if err != nil {
			return nil, err
		}
		defer lock.Unlock(ctx)
	}

	parent, err := e.parentFor(ctx, r, o)
	if err != nil {
		return nil, err
	}
	if o.Type == Incremental && parent == nil {
		o.Type = Full // nothing to compare against: every file is read
	}
	totals, err := scanTotals(ctx, src, o)
	if err != nil {
		return nil, err
	}

	sctx, cancelSaves := context.WithCancel(ctx)
	defer cancelSaves()
	a := e.newArchiver(r, r.NewSaver(sctx, e.cfg.uploads()), src, o, parent, totals)
	if err := a.run(sctx); err != nil {
		cancelSaves()
		a.saver.Abort()
		if fresh {
			err = errors.Join(err, a.saver.Discard(ctx))
		}
		return nil, errs.Errorf("backup", "%w", err)
	}
	if fresh {
		lock, err := e.createScope(ctx, tenant, a.saver)
		if err != nil {
			return nil, err
		}
		defer lock.Unlock(ctx)
	}
	if err := a.saver.Flush(); err != nil {
		return nil, errs.Errorf("backup", "%w", err)
	}
	snap, err := e.commit(ctx, tenant, a, start)
	if err != nil {
		return nil, err
	}
	e.maintain(ctx, r, snap, a.saver)
	return snap, nil
}

// maintain runs after a backup's commit, still under the shared lock: it
// advances the head hint and, when due, compacts the index and the
// catalog. A failed compaction leaves both whole (repo.CompactIndex,
// compactCatalog) and the next backup retries: it is not this backup's
// failure. The backup's saver knows the snapshot's entry-list chunks,
// which the next backup reads as its parent's (repo.Saver.MetaIDs).
func (e *Engine) maintain(ctx context.Context, r *repo.Repo, snap *Snapshot, saver *repo.Saver) {
	since := e.advanceHead(ctx, r, snap)
	if r.NeedsCompaction() {
		_, _ = r.CompactIndex(ctx, saver.MetaIDs())
	}
	if since > catalogEvery && e.compactCatalog(ctx, r) == nil {
		if id, _, err := r.Head(ctx); err == nil && id != "" {
			_ = r.SetHead(ctx, id, 0)
		}
	}
}

// lockScope takes r's shared lock for a backup and brings r's index up
// to date under it.
func (e *Engine) lockScope(ctx context.Context, r *repo.Repo) (*repo.Lock, error) {
	lock, err := r.Lock(ctx, false, "backup by "+steward.PrincipalID(ctx), e.cfg.Clock.Now)
	if err != nil {
		return nil, errs.Errorf("backup", "%w", err)
	}
	if err := r.RefreshIndex(ctx); err != nil {
		lock.Unlock(ctx)
		return nil, errs.Errorf("backup", "%w", err)
	}
	return lock, nil
}

// createScope creates the scope of a first backup whose stages have run
// (saver's repository is built in memory): it uploads the open packs,
// takes the shared lock (before the config exists, so a prune that opens
// the new scope sees it), writes key, config and registry entry
// (commitRepo). On failure it deletes the packs the backup uploaded and
// releases the lock: nothing of the backup is left.
func (e *Engine) createScope(ctx context.Context, tenant string, saver *repo.Saver) (*repo.Lock, error) {
	fail := func(err error) (*repo.Lock, error) {
		return nil, errors.Join(err, saver.Discard(ctx))
	}
	if err := saver.Upload(); err != nil {
		return fail(errs.Errorf("backup", "%w", err))
	}
	r := saver.Repo()
	lock, err := r.Lock(ctx, false, "backup by "+steward.PrincipalID(ctx), e.cfg.Clock.Now)
	if err != nil {
		return fail(errs.Errorf("backup", "%w", err))
	}
	if err := e.commitRepo(ctx, tenant, r); err != nil {
		lock.Unlock(ctx)
		return fail(err)
	}
	return lock, nil
}

// parentFor returns the snapshot an incremental backup compares against:
// the newest, or the newest at or before o.Since; nil for a full backup or
// when there is none.
func (e *Engine) parentFor(ctx context.Context, r *repo.Repo, o *Options) (*manifest, error) {
	if o.Type != Incremental {
		return nil, nil
	}
	if o.Since.IsZero() {
		m, err := e.newest(ctx, r)
		if err != nil {
			return nil, errs.Errorf("backup", "find the parent snapshot: %w", err)
		}
		return m, nil
	}
	ms, err := e.manifests(ctx, r)
	if err != nil {
		return nil, errs.Errorf("backup", "find the parent snapshot: %w", err)
	}
	for _, m := range ms {
		if o.Since.IsZero() || !m.Timestamp.After(o.Since) {
			return m, nil
		}
	}
	return nil, nil
}

// scanTotals walks src once to count its regular files and bytes, the
// totals progress reports; without a Progress callback it does nothing.
func scanTotals(ctx context.Context, src Source, o *Options) (Progress, error) {
	var totals Progress
	if o.Progress == nil {
		return totals, nil
	}
	// Entries the Source skips are counted by the backup's own walk.
	ctx = withSkip(ctx, func(_ string, err error) error {
		if o.FailFast {
			return err
		}
		return nil
	})
	err := src.Walk(ctx, func(en Entry) error {
		if en.Mode.IsRegular() {
			totals.FilesTotal++
			totals.BytesTotal += max(en.Size, 0)
		}
		return nil
	})
	if err != nil {
		return totals, errs.Errorf("backup", "scan source: %w", err)
	}
	return totals, nil
}

// archiver is one backup's pipeline: the channels and counters its stages
// share. It is built per backup by newArchiver and run once. Its stages:
//
//   - walk (walk.go) reads the Source in order, checks each entry and
//     decides per file: reuse the parent's chunk list (parentCursor) or
//     read it. Every entry goes to order; files to read also go to jobs.
//   - the read workers (file_saver.go) read, chunk and hash each file,
//     handing its chunks to the Saver, and close the job's done.
//   - collect (collect.go) takes the entries in walk order, waits for each
//     file's job, sums up, reports progress and streams the entry list's
//     segments, whose IDs it writes to the pipe.
//   - saveEntryList (commit.go) chunks and saves the segment IDs: their
//     chunk IDs are the manifest's Tree, which commit writes.
//
// How they connect:
//
//	walk ──order──────────────────────────▶ collect ──pipe──▶ saveEntryList
//	  └───jobs──▶ read workers ──done──────────┘
//	              (Parallelism)
//
// The stages run under one errgroup: the first error cancels the rest.
type archiver struct {
	e      *Engine
	r      *repo.Repo
	saver  *repo.Saver
	src    Source
	o      *Options
	parent *manifest // nil for a full backup

	jobs    chan *job      // walk -> read workers: the files to read
	order   chan *job      // walk -> collect: every entry, in walk order
	workers sync.WaitGroup // the read workers; walk closes order after them
	pr      *io.PipeReader // collect -> saveEntryList: segment IDs
	pw      *io.PipeWriter

	readBytes atomic.Int64 // content the read workers saved so far
	skipped   skips        // entries left out (walk and collect add them)

	// Written by collect, read after run returns.
	sums        *snapshot.Checksummer
	size, files int64    // regular files: bytes and count
	progress    Progress // the last report
	reusedBytes int64    // unchanged files, taken from the parent unread

	// Written by saveEntryList, read after run returns.
	tree []string // the entry list's chunk IDs (the manifest's Tree)

	// Written by walk, read after run returns.
	special int64 // named pipes, sockets and devices: counted, not stored
}

// job is one entry of the walk on its way to the entry list.
type job struct {
	file File
	read bool          // content must be read
	done chan struct{} // closed when file is complete (or err or skip set)
	err  error
	skip error // why the file is left out (partial snapshot), when it is
}

func (e *Engine) newArchiver(r *repo.Repo, saver *repo.Saver, src Source, o *Options, parent *manifest, totals Progress) *archiver {
	pr, pw := io.Pipe()
	return &archiver{
		e: e, r: r, saver: saver, src: src, o: o, parent: parent,
		jobs:  make(chan *job, e.cfg.Parallelism),
		order: make(chan *job, 256),
		pr:    pr, pw: pw,
		sums:     snapshot.NewChecksummer(),
		progress: totals,
	}
}

// run runs the stages until the entry list is saved or one fails; it
// returns the first error.
func (a *archiver) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(a.saveEntryList)
	for range a.e.cfg.Parallelism {
		a.workers.Add(1)
		g.Go(func() error {
			defer a.workers.Done()
			return a.readFiles(gctx)
		})
	}
	g.Go(func() error { return a.collect(gctx) })
	g.Go(func() error { return a.walk(gctx) })
	return g.Wait()
}

package restore

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/op"
)

// execute carries out p in dst: its removals, then its directories (in
// path order, so parents first), then its files, in parallel. Each decision
// goes into rep once carried out (decisions that change nothing at once),
// so on failure rep tells what was done.
func (r *Restorer) execute(ctx context.Context, tenant string, dst Target, p *Plan, o *Options, rep *Report) error {
	rep.Decisions = make([]Decision, 0, len(p.Decisions))
	err := applyEntries(ctx, dst, p, rep)
	if err == nil {
		err = r.restoreFiles(ctx, tenant, dst, p, o, rep)
	}
	if err == nil {
		err = finishDirs(ctx, dst, p, o) // directory modes and mtimes, last
	}
	slices.SortFunc(rep.Decisions, func(a, b Decision) int { return strings.Compare(a.Path, b.Path) })
	return err
}

// record adds d, carried out, to rep.
func (rep *Report) record(d Decision) {
	rep.Decisions = append(rep.Decisions, d)
	rep.Counts.add(d)
}

// applyEntries carries out p's removals and directories and records the
// decisions that change nothing (unchanged, kept, conflict).
func applyEntries(ctx context.Context, dst Target, p *Plan, rep *Report) error {
	for i, d := range p.Decisions {
		if d.Action != ActionRemoved {
			continue
		}
		if err := dst.Remove(ctx, d.Path); err != nil {
			return err
		}
		rep.record(p.Decisions[i])
	}
	for _, de := range p.dirs { // in walk order: parents first
		i := p.decision[de.file]
		if i < 0 || p.Decisions[i].Action != ActionDirCreated {
			continue
		}
		if p.steps[i].clear {
			if err := dst.Remove(ctx, de.e.Path); err != nil {
				return err
			}
		}
		if _, err := dst.Create(ctx, de.e); err != nil {
			return err
		}
		rep.record(p.Decisions[i])
	}
	for _, d := range p.Decisions {
		switch d.Action {
		case ActionUnchanged, ActionKeptNewer, ActionConflict:
			rep.record(d)
		}
	}
	return nil
}

// restoreFiles writes p's restored files into dst, as many at once as
// Config.Parallelism and Config.BufferBytes allow, and reports progress.
// With o.ContinueOnError a damaged file goes into rep.Damaged and the
// others go on. Files dst links to a file restored with them (see
// hardLinks) come in a second pass, once their first paths are written.
func (r *Restorer) restoreFiles(ctx context.Context, tenant string, dst Target, p *Plan, o *Options, rep *Report) error {
	links, err := hardLinks(ctx, dst, p)
	if err != nil {
		return err
	}
	run := &fileRun{r: r, tenant: tenant, dst: dst, p: p, o: o, rep: rep, links: links,
		total:  backup.Progress{FilesTotal: int64(p.FilesRestored), BytesTotal: p.BytesRestored},
		budget: semaphore.NewWeighted(r.cfg.BufferBytes)}
	run.firsts = make(map[string]bool, len(run.links))
	for _, first := range run.links {
		run.firsts[first] = false
	}
	stopTicks := tickProgress(o, &run.mu, &run.total, &run.written)
	defer stopTicks()
	if err := run.pass(ctx, false); err != nil || len(run.links) == 0 {
		return err
	}
	return run.pass(ctx, true)
}

// fileRun is what the workers writing one restore's files share.
type fileRun struct {
	r      *Restorer
	tenant string
	dst    Target
	p      *Plan
	o      *Options
	rep    *Report
	links  map[int]string // decision index -> first path it links to
	budget *semaphore.Weighted

	mu      sync.Mutex // guards rep, total and firsts
	total   backup.Progress
	firsts  map[string]bool // the first paths of links: true once written
	written atomic.Int64
}

// pass writes the restored files that are hard links to restored files
// (linked true) or the others (false), on Config.Parallelism workers. The
// workers live for the whole pass: a goroutine per file grew a fresh stack
// for every file (5 % of a small-files restore's CPU went to copying
// stacks).
func (run *fileRun) pass(ctx context.Context, linked bool) error {
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan fileJob)
	for range run.r.cfg.Parallelism {
		g.Go(func() error {
			for j := range jobs {
				err := run.restore(gctx, j.i, j.f)
				run.budget.Release(j.cost)
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	stopped := run.feed(gctx, jobs, linked)
	close(jobs)
	if err := g.Wait(); err != nil {
		return err
	}
	return stopped
}

// fileJob is one file for pass's workers, holding cost bytes of the
// buffer budget.
type fileJob struct {
	i    int
	f    backup.File
	cost int64
}

// feed hands pass's files to its workers, each once its buffers fit the
// budget. It stops early, returning ctx's error, when ctx ends (a file
// failed, or the caller's ctx ended).
func (run *fileRun) feed(ctx context.Context, jobs chan<- fileJob, linked bool) error {
	return run.p.each(ctx, func(i int, f backup.File) error {
		if _, ok := run.links[i]; run.p.Decisions[i].Action != ActionRestored || ok != linked {
			return nil
		}
		cost := bufferCost(f, run.r.cfg.BufferBytes)
		if err := run.budget.Acquire(ctx, cost); err != nil {
			return err
		}
		select {
		case jobs <- fileJob{i, f, cost}:
			return nil
		case <-ctx.Done():
			run.budget.Release(cost)
			return ctx.Err()
		}
	})
}

// restore carries out decision i, restoring f, and records it.
func (run *fileRun) restore(ctx context.Context, i int, f backup.File) error {
	if run.p.steps[i].clear {
		if err := run.dst.Remove(ctx, f.Path); err != nil {
			return err
		}
	}
	err := run.write(ctx, i, f)
	run.mu.Lock()
	defer run.mu.Unlock()
	switch {
	case err != nil && run.o.ContinueOnError && damaged(err) && ctx.Err() == nil:
		// Aborted by restoreFile: nothing under its final name.
		run.rep.Damaged = append(run.rep.Damaged, damage(f.Path, err))
		return nil
	case err != nil:
		return err
	}
	if _, ok := run.firsts[f.Path]; ok {
		run.firsts[f.Path] = true
	}
	run.rep.record(run.p.Decisions[i])
	if run.o.Progress != nil {
		run.total.FilesDone++
		run.total.BytesDone = run.written.Load()
		run.total.Path = f.Path
		run.o.Progress(run.total)
	}
	return nil
}

// write puts f in place: as a hard link to its first path when decision
// i links it and the first path was written, else (or when the link
// fails) as a copy from its own chunks.
func (run *fileRun) write(ctx context.Context, i int, f backup.File) error {
	if first, ok := run.links[i]; ok {
		run.mu.Lock()
		written := run.firsts[first]
		run.mu.Unlock()
		if written && run.dst.(linker).link(ctx, f.Entry, first) == nil {
			run.written.Add(f.Size) // its bytes are in place
			return nil
		}
	}
	return run.r.restoreFile(ctx, run.tenant, run.dst, f, run.o.Validate, &run.written)
}

// restoreFile copies one file from the repository into dst. The engine
// verifies every chunk, the size and (with hash) the file's SHA-256 before
// EOF, so a corrupt file fails before Close and is aborted, never published.
func (r *Restorer) restoreFile(ctx context.Context, tenant string, dst Target, f backup.File, hash bool, written *atomic.Int64) error {
	if isLink(f.Mode) {
		return restoreLink(ctx, dst, f)
	}
	rc, err := r.e.OpenFile(ctx, tenant, f, &backup.ReadOptions{SkipFileHash: !hash})
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
		return errs.Errorf("restore", "%q: %w", f.Path, err)
	}
	if err := w.Close(); err != nil {
		return errs.Errorf("restore", "%q: %w", f.Path, err)
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
// op.ProgressInterval under mu until the returned stop is called; stop
// returns once no report is running.
func tickProgress(o *Options, mu *sync.Mutex, total *backup.Progress, written *atomic.Int64) (stop func()) {
	if o.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(op.ProgressInterval)
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

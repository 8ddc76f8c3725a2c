package main

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/iluxsys/steward/backup"
)

// isTerminal reports whether w is a terminal. Tests replace it, and
// redrawEvery, to draw the bar into a buffer.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// redrawEvery is the least time between two drawings of a bar (the last,
// full one excepted), so a command that takes less draws nothing.
var redrawEvery = 100 * time.Millisecond

// progress draws how many bytes of a backup, a restore or a check's data
// reads are done, out of how many, with the throughput and the time left,
// as one line on its writer that it redraws at most every redrawEvery. Its
// callback is the Progress of backup.Options, backup.CheckOptions,
// restore.Options and restore.Config (validate, drill); finish clears the
// line, and is called
// before the command prints its result. A nil *progress draws nothing.
//
// A progress serves one command. Its methods are safe for concurrent use;
// the engines call update from one goroutine at a time.
type progress struct {
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	total int64 // the bar's maximum; 0 until the first update
	done  bool  // finished: nothing more is drawn
}

// progress returns the bar of a command whose diagnostics go to w (its
// stderr), or nil when the command stays quiet: w is not a terminal, or
// --json or --no-progress is set. The bar is also a.bar, which the stderr
// log clears before each line.
func (a *app) progress(w io.Writer, label string) *progress {
	if a.jsonOut || a.noProgress || !isTerminal(w) {
		return nil
	}
	a.bar = newProgress(w, label)
	return a.bar
}

// newProgress returns a bar labelled label that draws on w. Its clock
// starts now, so the throughput counts the time before the first update
// (the engines report a file once it is done).
func newProgress(w io.Writer, label string) *progress {
	// The maximum is set by the first update, when the engine knows it.
	bar := progressbar.NewOptions64(1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(label),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowBytes(true), // throughput
		progressbar.OptionShowCount(),     // bytes done/total
		progressbar.OptionThrottle(redrawEvery),
		progressbar.OptionClearOnFinish(),
	)
	bar.Reset()
	return &progress{bar: bar}
}

// callback returns p.update, or nil for a nil p, so that a quiet command
// leaves Options.Progress unset and the engine does not count the totals.
func (p *progress) callback() func(backup.Progress) {
	if p == nil {
		return nil
	}
	return p.update
}

// update moves the bar to pr.BytesDone out of pr.BytesTotal (or of
// BytesDone, when files grew while they were read). Nothing is drawn while
// the total is zero. Between redraws a call costs a few uncontended locks.
func (p *progress) update(pr backup.Progress) {
	total := max(pr.BytesTotal, pr.BytesDone)
	if total <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	if total != p.total {
		p.bar.ChangeMax64(total)
		p.total = total
	}
	// An error here is a failed write to the terminal: the bar is only a
	// view, so the backup or restore goes on without it.
	_ = p.bar.Set64(pr.BytesDone)
}

// clear erases the bar's line; the next update draws it again.
func (p *progress) clear() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done && p.total > 0 {
		_ = p.bar.Clear()
	}
}

// finish clears the bar's line for good (a bar left short by an error too,
// without drawing it full). It does nothing when nothing was drawn.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done && p.total > 0 {
		_ = p.bar.Finish()
	}
	p.done = true
}

// stderrLog is where the CLI's log lines go: os.Stderr, after clearing the
// bar being drawn, so that a line logged mid-command (a failure the audit
// log reports) starts at the left margin instead of after the bar.
type stderrLog struct{ a *app }

func (l stderrLog) Write(b []byte) (int, error) {
	l.a.bar.clear()
	return os.Stderr.Write(b)
}

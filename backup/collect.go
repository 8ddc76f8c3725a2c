package backup

import (
	"context"
	"time"

	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/internal/repo"
)

// collect takes the entries walk sends, in walk order, waits for each
// file's job, sums up and streams the entry list: its segments are saved
// as they fill, and their IDs written to the pipe saveEntryList reads.
// The pipe is closed with collect's error, or cleanly when all is done.
func (a *archiver) collect(ctx context.Context) error {
	err := a.collectEntries(ctx)
	a.pw.CloseWithError(err) // a nil error closes it cleanly
	return err
}

func (a *archiver) collectEntries(ctx context.Context) error {
	// Progress comes after each file, and every op.ProgressInterval while
	// collect waits, with the bytes read so far (a large file moves the
	// count as its chunks are saved, not only when it is done).
	var tick <-chan time.Time
	if a.o.Progress != nil {
		t := time.NewTicker(op.ProgressInterval)
		defer t.Stop()
		tick = t.C
	}
	seg := newSegmenter(a.r, a.pw, func(id repo.ID, b []byte) error {
		_, err := a.saver.SaveMeta(id, b, true)
		return err
	})
	for j := range a.order {
		if err := a.wait(ctx, j, tick); err != nil {
			return err
		}
		if j.skip != nil {
			a.skipped.add(j.file.Path, j.skip)
			continue
		}
		a.count(j)
		line := lineOf(&j.file)
		if err := seg.add(&line); err != nil {
			return err
		}
	}
	return seg.flush()
}

// wait waits for j to complete and returns its error, reporting progress
// on each tick.
func (a *archiver) wait(ctx context.Context, j *job, tick <-chan time.Time) error {
	for {
		select {
		case <-j.done:
			return j.err
		case <-tick:
			a.progress.BytesDone = a.reusedBytes + a.readBytes.Load()
			p := a.progress
			p.Path = "" // within a file: none finished since the last report
			a.o.Progress(p)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// count adds a completed regular file to the sums and reports progress.
func (a *archiver) count(j *job) {
	f := &j.file
	if !f.Mode.IsRegular() {
		return
	}
	a.size += f.Size
	a.files++
	a.sums.Add(f.Path, f.Mode, f.Size, f.SHA256)
	if a.o.Progress == nil {
		return
	}
	if !j.read {
		a.reusedBytes += f.Size
	}
	a.progress.FilesDone++
	a.progress.BytesDone = a.reusedBytes + a.readBytes.Load()
	a.progress.Path = f.Path
	a.o.Progress(a.progress)
}

package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
)

// maxJobs bounds the restores the console remembers; the oldest finished
// one is dropped first.
const maxJobs = 100

// job is one restore running in the background, so its page can show
// progress while it runs and its report once it ends.
type job struct {
	ID        string
	Principal string // only the principal who started it sees it
	Request   restoreRequest
	Started   time.Time

	mu       sync.Mutex
	progress backup.Progress
	report   *restore.Report
	err      error
	done     bool
	changed  chan struct{} // closed (and replaced) by each change
}

// jobState is a consistent copy of a job for a template.
type jobState struct {
	ID       string
	Request  restoreRequest
	Started  time.Time
	Progress backup.Progress
	Percent  int64
	Done     bool
	Report   *restore.Report
	Err      error
}

func (j *job) state() jobState {
	s, _ := j.watch()
	return s
}

// watch returns the job's state and a channel closed at its next change.
func (j *job) watch() (jobState, <-chan struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := jobState{ID: j.ID, Request: j.Request, Started: j.Started, Progress: j.progress,
		Done: j.done, Report: j.report, Err: j.err}
	if t := s.Progress.BytesTotal; t > 0 {
		s.Percent = s.Progress.BytesDone * 100 / t
	}
	return s, j.changed
}

// update changes the job under its lock and wakes its watchers.
func (j *job) update(fn func()) {
	j.mu.Lock()
	defer j.mu.Unlock()
	fn()
	close(j.changed)
	j.changed = make(chan struct{})
}

// jobs are the restores the console started. Safe for concurrent use.
type jobs struct {
	mu    sync.Mutex
	byID  map[string]*job
	order []string // oldest first
}

// start runs fn in the background as a job of principal and returns it.
// fn gets a function to report progress with; ctx is not canceled when
// the request that started the job ends.
func (js *jobs) start(ctx context.Context, principal string, q restoreRequest, now time.Time,
	fn func(ctx context.Context, progress func(backup.Progress)) (*restore.Report, error)) *job {
	j := &job{ID: newJobID(), Principal: principal, Request: q, Started: now, changed: make(chan struct{})}
	js.add(j)
	go func() {
		rep, err := fn(context.WithoutCancel(ctx), func(p backup.Progress) {
			j.update(func() { j.progress = p })
		})
		j.update(func() { j.report, j.err, j.done = rep, err, true })
	}()
	return j
}

func (js *jobs) add(j *job) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.byID == nil {
		js.byID = map[string]*job{}
	}
	js.byID[j.ID] = j
	js.order = append(js.order, j.ID)
	for len(js.order) > maxJobs {
		i := slices.IndexFunc(js.order, func(id string) bool { return js.byID[id].state().Done })
		if i < 0 {
			return // every remembered job still runs
		}
		delete(js.byID, js.order[i])
		js.order = slices.Delete(js.order, i, i+1)
	}
}

// get returns principal's job id.
func (js *jobs) get(principal, id string) (*job, bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j, ok := js.byID[id]
	if !ok || j.Principal != principal {
		return nil, false
	}
	return j, true
}

func newJobID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

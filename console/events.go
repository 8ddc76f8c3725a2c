package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// sseInterval is the least time between two progress events of a stream:
// a restore reports each file, a browser needs a few updates a second.
const sseInterval = 200 * time.Millisecond

// sseKeepAlive is how often an idle stream sends a comment, so proxies
// keep the connection open while a large file restores.
const sseKeepAlive = 15 * time.Second

// progressEvent is the data of a "progress" event.
type progressEvent struct {
	Percent    int64  `json:"percent"`
	FilesDone  int64  `json:"files_done"`
	FilesTotal int64  `json:"files_total"`
	Text       string `json:"text"` // as the job page writes it
}

// restoreEvents streams a restore's progress as server-sent events
// (text/event-stream): a "progress" event at once and after each change,
// at most every sseInterval, then a "done" event whose data names the
// job page (which shows the report), and the stream ends. Only the
// principal who started the restore may follow it. The job page's script
// (static/console.js) shows the events; without JavaScript the page
// reloads itself instead.
func (c *console) restoreEvents(w http.ResponseWriter, r *http.Request) {
	j, ok := c.jobs.get(principal(r.Context()).ID, r.PathValue("id"))
	if !ok {
		c.fail(w, r, fmt.Errorf("console: no restore %q of yours: %w", r.PathValue("id"), errNotFound))
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	for {
		s, changed := j.watch()
		err := writeEvent(w, "progress", progressEvent{Percent: s.Percent, FilesDone: s.Progress.FilesDone,
			FilesTotal: s.Progress.FilesTotal, Text: progressText(s)})
		if err == nil && s.Done {
			err = writeEvent(w, "done", map[string]string{"url": c.cfg.BasePath + "/restore/jobs/" + j.ID})
		}
		if err != nil || rc.Flush() != nil || s.Done {
			return
		}
		if !waitChange(ctx, w, rc, changed) {
			return
		}
	}
}

// waitChange waits for changed, then sseInterval, sending keep-alive
// comments meanwhile; false when the client went away.
func waitChange(ctx context.Context, w io.Writer, rc *http.ResponseController, changed <-chan struct{}) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(sseKeepAlive):
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return false
			}
			continue
		case <-changed:
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(sseInterval):
			return true
		}
	}
}

// writeEvent writes one event with data as JSON (one line: JSON escapes
// newlines).
func writeEvent(w io.Writer, name string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	return err
}

// progressText is a running restore's progress in words.
func progressText(s jobState) string {
	p := s.Progress
	t := fmt.Sprintf("%d of %d files, %s of %s", p.FilesDone, p.FilesTotal, formatBytes(p.BytesDone), formatBytes(p.BytesTotal))
	if p.Path != "" {
		t += " · " + p.Path
	}
	return t
}

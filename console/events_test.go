package console_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// nextEvent reads the next event of a text/event-stream, skipping
// comments; ok is false at the end of the stream.
func nextEvent(t *testing.T, r *bufio.Reader) (ev sseEvent, ok bool) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return ev, false
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && ev.name != "":
			return ev, true
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// progressData decodes a progress event.
type progressData struct {
	Percent    int64  `json:"percent"`
	FilesDone  int64  `json:"files_done"`
	FilesTotal int64  `json:"files_total"`
	Text       string `json:"text"`
}

// A restore's progress streams as server-sent events: the state at once,
// each file as it is written (held here by a gated target), then "done"
// naming the job page; only its principal may follow it.
func TestRestoreProgressStreamsAsEvents(t *testing.T) {
	f := newFixture(t)
	h, gate := f.gated(t)
	form := url.Values{"csrf": {csrfToken(t, h, userMaster, "/flags")}, "tenant": {"acme"},
		"snapshot": {f.snaps["acme"][1].ID}, "mode": {"full"}, "confirm": {"acme"}}
	w := post(t, h, userMaster, "/restore/run", form)
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	loc := w.Header().Get("Location")
	require.Equal(t, http.StatusNotFound, get(t, h, userAcme, loc+"/events").Code, "another principal's restore")

	resp, err := http.Get(serve(t, h, userMaster) + loc + "/events")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	stream := bufio.NewReader(resp.Body)
	progress := func() progressData {
		ev, ok := nextEvent(t, stream)
		require.True(t, ok, "the stream ended early")
		require.Equal(t, "progress", ev.name, ev.data)
		var p progressData
		require.NoError(t, json.Unmarshal([]byte(ev.data), &p))
		return p
	}
	p := progress()
	require.Zero(t, p.FilesDone, "no file can be written yet: %+v", p)
	gate <- struct{}{} // one file
	for p.FilesDone == 0 {
		p = progress()
	}
	require.Equal(t, int64(1), p.FilesDone, "one file let through: %+v", p)
	require.Equal(t, int64(4), p.FilesTotal)
	require.True(t, strings.HasPrefix(p.Text, "1 of 4 files, "), p.Text)
	close(gate) // the rest
	var ev sseEvent
	for ok := true; ok && ev.name != "done"; {
		ev, ok = nextEvent(t, stream)
	}
	require.Equal(t, "done", ev.name)
	require.JSONEq(t, `{"url":"`+loc+`"}`, ev.data)
	_, ok := nextEvent(t, stream)
	require.False(t, ok, "the stream goes on after done")
	require.Equal(t, f.files["acme"], treeOf(t, f.live+"/acme"))
}

package repo

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Small chunks are read through windows: one range read covers the chunk
// and what follows it in the pack, and the chunks after it (the next small
// files of the same walk, written next to each other) are served from the
// window instead of a request each. On an object store that turns a
// restore of many small files from one request per file into one request
// per window; on a local store it saves an open, a read and a close.
const (
	// windowSize is how much of a pack one window read covers.
	windowSize = 1 << 20
	// windowMaxChunk is the largest stored chunk read through a window;
	// larger ones are read on their own.
	windowMaxChunk = windowSize / 4
	// windowSlots bounds the windows kept, for all repositories of the
	// process together (windowSlots × windowSize bytes at most).
	windowSlots = 8
	// windowIdle is how long an unused window is kept: long enough for the
	// next files of a restore, short enough that an idle host holds none.
	windowIdle = 2 * time.Second
)

// sharedWindows serves every Repo of the process; windows are keyed by
// repository and pack, and packs are never rewritten in place.
var sharedWindows windows

// repoSerial numbers the Repos of the process, for window keys.
var repoSerial atomic.Uint64

// window is a byte range of a pack, fetched once and shared.
type window struct {
	repo       uint64 // Repo.serial: a window must not keep its repository (and store) alive
	pack       string
	start, end int64 // the range asked for; data may be shorter at the pack's end
	ready      chan struct{}
	data       []byte
	err        error
	last       time.Time // last use: for least-recently-used and windowIdle
}

// windows is a small least-recently-used set of pack windows.
type windows struct {
	mu    sync.Mutex
	wins  []*window
	sweep *time.Timer // pending release of idle windows
}

// covering returns a window holding [off, off+n) of pack, fetching one
// when none does. A window whose fetch failed is returned with its error;
// the caller reads the chunk on its own then, so errors are reported as
// for any chunk.
func (ws *windows) covering(ctx context.Context, r *Repo, pack string, off, n int64) *window {
	now := time.Now()
	ws.mu.Lock()
	for _, w := range ws.wins {
		if w.repo == r.serial && w.pack == pack && w.start <= off && off+n <= w.end {
			w.last = now
			ws.mu.Unlock()
			return w
		}
	}
	w := &window{repo: r.serial, pack: pack, start: off, end: off + windowSize, ready: make(chan struct{}), last: now}
	if ws.sweep == nil {
		ws.sweep = time.AfterFunc(windowIdle, ws.release)
	}
	if len(ws.wins) < windowSlots {
		ws.wins = append(ws.wins, w)
	} else {
		// Replace the least recently used; readers still holding it
		// keep their pointer.
		lru := 0
		for i, o := range ws.wins {
			if o.last.Before(ws.wins[lru].last) {
				lru = i
			}
		}
		ws.wins[lru] = w
	}
	ws.mu.Unlock()

	w.data, w.err = fetchWindow(ctx, r, pack, off)
	if w.err == nil && int64(len(w.data)) < n {
		w.err = io.ErrUnexpectedEOF // the pack ends inside the chunk
	}
	if w.err != nil {
		ws.drop(w)
	}
	close(w.ready)
	return w
}

// release drops the windows idle for windowIdle, and comes back while any
// remain.
func (ws *windows) release() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	now := time.Now()
	kept := ws.wins[:0]
	for _, w := range ws.wins {
		if now.Sub(w.last) < windowIdle {
			kept = append(kept, w)
		}
	}
	clear(ws.wins[len(kept):])
	ws.wins = kept
	if len(ws.wins) > 0 {
		ws.sweep.Reset(windowIdle)
	} else {
		ws.sweep = nil
	}
}

// drop forgets w (its fetch failed: the next reader tries again).
func (ws *windows) drop(w *window) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for i, o := range ws.wins {
		if o == w {
			ws.wins = append(ws.wins[:i], ws.wins[i+1:]...)
			return
		}
	}
}

func fetchWindow(ctx context.Context, r *Repo, pack string, off int64) ([]byte, error) {
	rc, err := r.store.GetRange(ctx, pack, off, windowSize)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, windowSize)
	n, err := io.ReadFull(rc, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil // the window runs past the end of the pack
	}
	return buf[:n], err
}

// fromWindow copies the stored bytes of a small chunk at [off, off+n) of
// pack into raw, reading them through a shared window. ok is false when
// the window could not be read; the caller then reads the chunk itself.
func (r *Repo) fromWindow(ctx context.Context, pack string, off, n int64, raw []byte) (ok bool) {
	w := sharedWindows.covering(ctx, r, pack, off, n)
	select {
	case <-w.ready:
	case <-ctx.Done():
		return false
	}
	if w.err != nil || off+n > w.start+int64(len(w.data)) {
		return false
	}
	copy(raw, w.data[off-w.start:off-w.start+n])
	return true
}

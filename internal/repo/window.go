package repo

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Small chunks are read through windows: one range read covers the chunk
// and what lies around it in the pack, and the chunks after it (the next small
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
// repository and pack, and packs are never rewritten in place. It is
// process-wide on purpose: its bound (windowSlots × windowSize) is a
// memory budget for the process, and a host with one Engine or Repo per
// tenant would otherwise hold that budget once per tenant. It keeps no
// Repo (nor its store) alive: windows name a Repo by serial number and
// expire after windowIdle. Within that time a read of a Repo may be served
// bytes of a pack that an earlier read of the same Repo fetched: a
// validation or drill sees what the store held at most windowIdle before,
// which every chunk's check (tag or hash) then verifies as it would fresh
// bytes.
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

	// Guarded by windows.mu: the readers between covering and done, and
	// whether the window has left the set. Its buffer is reused once both
	// say nobody can read it any more.
	refs    int
	evicted bool
}

// windows is a small least-recently-used set of pack windows.
type windows struct {
	mu    sync.Mutex
	wins  []*window
	sweep *time.Timer // pending release of idle windows
	// free holds the buffers of evicted windows (at most windowSlots) for
	// the next fetch: a restore fetches hundreds of windows, and a fresh
	// 1 MiB buffer each was a third of its garbage.
	free [][]byte
}

// covering returns a window holding [off, off+n) of pack (within one
// window: see windowStart), fetching one when none does. A window whose fetch failed is returned with its error;
// the caller reads the chunk on its own then, so errors are reported as
// for any chunk. The caller holds a reference to the window's data until
// it calls done.
func (ws *windows) covering(ctx context.Context, r *Repo, pack string, off, n int64) *window {
	now := time.Now()
	ws.mu.Lock()
	for _, w := range ws.wins {
		if w.repo == r.serial && w.pack == pack && w.start <= off && off+n <= w.end {
			w.last = now
			w.refs++
			ws.mu.Unlock()
			return w
		}
	}
	start := windowStart(off)
	w := &window{repo: r.serial, pack: pack, start: start, end: start + windowSize, ready: make(chan struct{}), last: now, refs: 1}
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
		ws.evict(ws.wins[lru])
		ws.wins[lru] = w
	}
	ws.mu.Unlock()

	w.data, w.err = ws.fetch(ctx, r, pack, start)
	if w.err == nil && start+int64(len(w.data)) < off+n {
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
		} else {
			ws.evict(w)
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
			ws.evict(w)
			return
		}
	}
}

// evict marks w as out of the set (the caller has removed it or is about
// to) and recycles its buffer if no reader holds it. ws.mu is held.
func (ws *windows) evict(w *window) {
	w.evicted = true
	if w.refs == 0 {
		ws.recycle(w)
	}
}

// done releases a reference taken by covering.
func (ws *windows) done(w *window) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w.refs--
	if w.refs == 0 && w.evicted {
		ws.recycle(w)
	}
}

// recycle keeps w's buffer for the next fetch. ws.mu is held, and nobody
// can read w any more: it has left the set and its last reader is done
// (the fetching reader holds a reference until then, so its write of
// w.data happened before).
func (ws *windows) recycle(w *window) {
	if cap(w.data) == windowSize && len(ws.free) < windowSlots {
		ws.free = append(ws.free, w.data[:windowSize])
	}
	w.data = nil
}

// fetch reads windowSize bytes of pack from off (fewer at its end) into a
// recycled buffer or a new one.
func (ws *windows) fetch(ctx context.Context, r *Repo, pack string, off int64) ([]byte, error) {
	rc, err := r.store.GetRange(ctx, pack, off, windowSize)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf []byte
	ws.mu.Lock()
	if n := len(ws.free); n > 0 {
		buf = ws.free[n-1]
		ws.free[n-1] = nil
		ws.free = ws.free[:n-1]
	}
	ws.mu.Unlock()
	if buf == nil {
		buf = make([]byte, windowSize)
	}
	n, err := io.ReadFull(rc, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil // the window runs past the end of the pack
	}
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// windowStart is where the window holding offset off of a pack starts.
// Windows start at multiples of windowSize, so that readers asking in a
// slightly different order (parallel files) share one instead of each
// reading a window from its own chunk on: that read the packs of
// BenchmarkRestore/small-files 1.27 times over. A chunk across a boundary
// is read on its own, as a large one is.
func windowStart(off int64) int64 { return off &^ (windowSize - 1) }

// fromWindow copies the stored bytes of a small chunk at [off, off+n) of
// pack into raw, reading them through a shared window. ok is false when
// the window could not be read; the caller then reads the chunk itself.
func (r *Repo) fromWindow(ctx context.Context, pack string, off, n int64, raw []byte) (ok bool) {
	if windowStart(off) != windowStart(off+n-1) {
		return false // across a window boundary: read on its own
	}
	w := sharedWindows.covering(ctx, r, pack, off, n)
	defer sharedWindows.done(w)
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

package siem

import "time"

// maxReplay bounds the frames a replay window keeps, whatever its span:
// at about 1 KiB a line, 1 MiB.
const maxReplay = 1024

// replayWindow keeps the frames written in the last span (at most
// maxReplay), oldest first, to write them again on the next connection
// when the one they went out on breaks. A frame is kept for span after
// its first write, so a connection that breaks after each few lines still
// makes progress: the window empties once its frames are older than span.
type replayWindow struct {
	span   time.Duration // 0: keep nothing
	frames []sentFrame
	free   [][]byte // buffers of frames let go, for the next ones
}

type sentFrame struct {
	b  []byte
	at time.Time // the first write
}

// buffer returns an empty buffer for the next frame.
func (w *replayWindow) buffer() []byte {
	if n := len(w.free); n > 0 {
		b := w.free[n-1]
		w.free = w.free[:n-1]
		return b[:0]
	}
	return nil
}

// add keeps b, first written at, and takes ownership of it.
func (w *replayWindow) add(b []byte, at time.Time) {
	if w.span <= 0 {
		w.free = append(w.free[:0], b)
		return
	}
	w.frames = append(w.frames, sentFrame{b: b, at: at})
	w.trim(at)
}

// trim lets go of the frames first written more than span before now,
// and of the oldest beyond maxReplay.
func (w *replayWindow) trim(now time.Time) {
	n := 0
	for n < len(w.frames) && (now.Sub(w.frames[n].at) > w.span || len(w.frames)-n > maxReplay) {
		if len(w.free) < 2 {
			w.free = append(w.free, w.frames[n].b)
		}
		n++
	}
	if n > 0 {
		w.frames = append(w.frames[:0], w.frames[n:]...)
	}
}

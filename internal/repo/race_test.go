//go:build race

package repo

// raceEnabled reports a -race build: sync.Pool then drops a quarter of what
// is put in it, so allocation counts include pooled objects made again.
const raceEnabled = true

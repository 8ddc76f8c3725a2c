package backup

import (
	"context"
	"io"
)

// OpenEntry opens e, an entry src's walk reported, as the backup pipeline
// does: with the checks of the walk's record when src has them.
var OpenEntry = openEntry

// WalkHook returns src with hook called for each entry its walk reports,
// before the entry is passed on; it opens entries as src does. Tests use
// it to change a tree at a chosen point of a backup.
func WalkHook(src Source, hook func(Entry)) Source { return &walkHook{src, hook} }

type walkHook struct {
	Source
	hook func(Entry)
}

func (w *walkHook) Walk(ctx context.Context, fn func(Entry) error) error {
	return w.Source.Walk(ctx, func(e Entry) error {
		w.hook(e)
		return fn(e)
	})
}

func (w *walkHook) openEntry(ctx context.Context, e Entry) (io.ReadCloser, error) {
	return openEntry(ctx, w.Source, e)
}

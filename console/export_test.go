package console

import (
	"context"
	"errors"
	"net/http"
)

// WaitWarm waits until the console h (from New) ended warming its cache
// (Config.WarmAs), or ctx is done. It fails when h does not warm.
func WaitWarm(ctx context.Context, h http.Handler) error {
	hh, ok := h.(*handler)
	if !ok || hh.c.warmed == nil {
		return errors.New("console: the handler does not warm")
	}
	select {
	case <-hh.c.warmed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

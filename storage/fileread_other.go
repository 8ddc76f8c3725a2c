//go:build !unix

package storage

import (
	"context"
	"io"
)

// fileRange is nil where the directory store reads through fileblob.
var fileRange func(ctx context.Context, dir, key string, off, n int64) (io.ReadCloser, error)

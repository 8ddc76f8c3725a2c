//go:build !linux

package storage

import (
	"context"
	"os"
)

// Unnamed files are Linux's (O_TMPFILE): elsewhere the directory store
// stages nothing and Stage is errors.ErrUnsupported.
var (
	stageFile     func(dir, key string) (*os.File, error)
	putStagedFile func(ctx context.Context, dir, key string, f *os.File, create bool) error
)

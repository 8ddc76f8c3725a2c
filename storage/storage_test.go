package storage_test

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/iluxsys/steward/internal/s3test"
	"github.com/iluxsys/steward/storage"
	"github.com/iluxsys/steward/storage/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storage.Store { return storage.NewMemory() }, nil)
}

func TestDirConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storage.Store {
		s, err := storage.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, nil)
}

func TestFileURLConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storage.Store {
		u := url.URL{Scheme: "file", Path: filepath.ToSlash(t.TempDir())}
		s, err := storage.Open(context.Background(), u.String())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, nil)
}

func TestS3Conformance(t *testing.T) {
	srv := s3test.Start(t)
	n := 0
	storetest.Run(t, func(t *testing.T) storage.Store {
		n++
		return srv.Store(t, fmt.Sprintf("conformance-%d", n))
	}, nil)
}

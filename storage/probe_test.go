package storage_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/internal/s3test"
	"github.com/iluxsys/steward/storage"
)

func TestProbe(t *testing.T) {
	ctx := context.Background()
	dir, err := storage.OpenDir(t.TempDir())
	require.NoError(t, err)
	srv := s3test.Start(t)
	cases := []struct {
		name  string
		store storage.Store
		want  bool
	}{
		{"memory", storage.NewMemory(), true},
		{"file", dir, true},
		{"s3 (gofakes3)", srv.Store(t, "probe"), true},
		{"ignores IfNotExist", faultstore.IgnoringConditional(storage.NewMemory()), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			caps, err := storage.Probe(ctx, c.store)
			require.NoError(t, err)
			require.Equal(t, c.want, caps.ConditionalCreate)
			for oi, err := range c.store.List(ctx, storage.ProbePrefix) {
				require.NoError(t, err)
				t.Fatalf("probe left %q behind", oi.Key)
			}
		})
	}
}

func TestCapabilityCacheProbesOnce(t *testing.T) {
	ctx := context.Background()
	fs := faultstore.New(storage.NewMemory(), 1)
	var cache storage.CapabilityCache
	for range 3 {
		caps, err := cache.Get(ctx, fs)
		require.NoError(t, err)
		require.True(t, caps.ConditionalCreate)
	}
	require.Equal(t, int64(2), fs.Calls(faultstore.OpPut), "one probe: two puts")
}

package s3test_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/internal/s3test"
	"github.com/iluxsys/steward/storage"
	_ "github.com/iluxsys/steward/storage/cloud"
)

// TestConditionalCreate checks both servers over HTTP on loopback: a
// create-if-absent of an existing key is refused by Start's server and
// overwrites on StartIgnoringConditionalCreate's, and steward's capability
// probe (and the cache and guard built on it) tells them apart, through
// s3blob directly and through storage.Open of an s3:// URL.
func TestConditionalCreate(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		start   func(testing.TB) *s3test.Server
		honours bool
	}{
		{"gofakes3", s3test.Start, true},
		{"ignoring If-None-Match", s3test.StartIgnoringConditionalCreate, false},
	} {
		srv := tc.start(t)
		direct := srv.Store(t, "probe")
		t.Cleanup(func() { direct.Close() })
		viaURL, err := storage.Open(ctx, srv.URL("probe"))
		require.NoError(t, err)
		t.Cleanup(func() { viaURL.Close() })
		for name, s := range map[string]storage.Store{"s3blob": direct, "url": viaURL} {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				key := "k/" + name
				create := &storage.PutOptions{IfNotExist: true}
				require.NoError(t, storage.PutBytes(ctx, s, key, []byte("first"), create))
				err := storage.PutBytes(ctx, s, key, []byte("second"), create)
				got, rerr := storage.ReadAll(ctx, s, key)
				require.NoError(t, rerr)
				if tc.honours {
					require.ErrorIs(t, err, storage.ErrExists, "a second create-if-absent was not refused")
					require.Equal(t, "first", string(got))
				} else {
					require.NoError(t, err, "the server refused a create-if-absent it should ignore")
					require.Equal(t, "second", string(got), "the ignoring server did not overwrite")
				}

				caps, err := storage.Probe(ctx, s)
				require.NoError(t, err)
				require.Equal(t, tc.honours, caps.ConditionalCreate, "Probe: ConditionalCreate = %v, want %v", caps.ConditionalCreate, tc.honours)
				var cache storage.CapabilityCache
				caps, err = cache.Get(ctx, s)
				require.NoError(t, err)
				require.Equal(t, tc.honours, caps.ConditionalCreate, "CapabilityCache: ConditionalCreate = %v, want %v", caps.ConditionalCreate, tc.honours)
				err = storage.RequireConditionalCreate(ctx, s, &cache, false, "test")
				if tc.honours {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, storage.ErrNoConditionalCreate)
				}
				require.NoError(t, storage.RequireConditionalCreate(ctx, s, &cache, true, "test"), "SingleWriter still refused")
			})
		}
	}
}

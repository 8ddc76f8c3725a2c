package cloud_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/internal/s3test"
	"github.com/iluxsys/steward/storage"
	_ "github.com/iluxsys/steward/storage/cloud"
)

// TestOpenS3URL opens an s3:// URL through storage.Open against an S3 API
// server on loopback and checks a conditional create round trip.
func TestOpenS3URL(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	srv := s3test.Start(t)
	srv.Store(t, "via-url").Close() // creates the bucket
	ctx := context.Background()
	s, err := storage.Open(ctx, srv.URL("via-url"))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, storage.PutBytes(ctx, s, "a/b", []byte("hello"), &storage.PutOptions{IfNotExist: true}))
	require.ErrorIs(t, storage.PutBytes(ctx, s, "a/b", []byte("again"), &storage.PutOptions{IfNotExist: true}), storage.ErrExists)
	got, err := storage.ReadAll(ctx, s, "a/b")
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))
}

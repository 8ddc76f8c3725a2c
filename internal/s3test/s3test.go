// Package s3test starts an S3 API server (gofakes3, in memory) on 127.0.0.1
// for tests and opens a storage.Store on it through gocloud's s3blob driver,
// so S3 code paths are tested over real HTTP without any cloud account.
package s3test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"gocloud.dev/blob/s3blob"

	"github.com/iluxsys/steward/storage"
)

// Server is a running in-memory S3 API server.
type Server struct {
	// Endpoint is the server's base URL (http://127.0.0.1:port).
	Endpoint string
	srv      *httptest.Server
	client   *s3.Client
}

// Start starts a server; it is closed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, func(h http.Handler) http.Handler { return h })
}

// StartIgnoringConditionalCreate starts a server that ignores conditional
// create, as some S3-compatible servers do: a front drops If-None-Match
// from every PUT before gofakes3 sees it, so a create-if-absent of an
// existing key overwrites it and succeeds. storage.Probe reports
// ConditionalCreate false on it. It is closed when the test ends.
func StartIgnoringConditionalCreate(t testing.TB) *Server {
	t.Helper()
	return start(t, ignoreConditionalCreate)
}

// ignoreConditionalCreate serves h with If-None-Match removed from PUTs.
func ignoreConditionalCreate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			r.Header.Del("If-None-Match")
		}
		h.ServeHTTP(w, r)
	})
}

// start starts gofakes3 behind front.
func start(t testing.TB, front func(http.Handler) http.Handler) *Server {
	backend := s3mem.New()
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()), gofakes3.WithAutoBucket(true))
	srv := httptest.NewServer(front(faker.Server()))
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		// Quiet: no SDK debug output, no checksum warnings on stderr.
		ClientLogMode:              0,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	return &Server{Endpoint: srv.URL, srv: srv, client: client}
}

// Store opens a Store on bucket (created on first use).
func (s *Server) Store(t testing.TB, bucket string) storage.Store {
	t.Helper()
	ctx := context.Background()
	_, _ = s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	b, err := s3blob.OpenBucket(ctx, s.client, bucket, nil)
	if err != nil {
		t.Fatalf("s3test: open bucket %q: %v", bucket, err)
	}
	return storage.FromBucket(b)
}

// URL returns an s3:// URL for bucket that storage.Open accepts when the s3
// driver is registered (import storage/cloud).
func (s *Server) URL(bucket string) string {
	return "s3://" + bucket + "?endpoint=" + s.Endpoint + "&use_path_style=true&region=us-east-1&disable_https=true"
}

package fleet_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// seekingBackend lists what s3mem lists, page by page, for prefixes
// around, inside and past the keys, with and without a marker.
func TestSeekingBackendListsAsS3mem(t *testing.T) {
	keys := []string{"a", "a/", "a/1", "a/2", "a/2/x", "a0", "ab", "b/1", "b/2", "b/3", "b/30", "b/4", "c\xff", "c\xff\xff", "d"}
	plain := s3mem.New()
	seeking := &seekingBackend{Backend: s3mem.New()}
	for _, b := range []gofakes3.Backend{plain, seeking} {
		require.NoError(t, b.CreateBucket("k"))
		for _, k := range keys {
			_, err := b.PutObject("k", k, nil, strings.NewReader(k), int64(len(k)), nil)
			require.NoError(t, err)
		}
	}
	for _, p := range []string{"a", "a/", "a/2", "b/", "b/3", "c", "c\xff", "d", "e", "0", "a/3"} {
		for _, maxKeys := range []int64{0, 1, 2, 3, 1000} {
			want := listAll(t, plain, p, maxKeys)
			require.Equal(t, want, listAll(t, seeking, p, maxKeys), "prefix %q, %d keys a page", p, maxKeys)
			var ref []string
			for _, k := range keys {
				if strings.HasPrefix(k, p) {
					ref = append(ref, k)
				}
			}
			require.Equal(t, ref, want, "s3mem's listing of %q", p)
		}
	}
}

// listAll lists prefix page by page, maxKeys a page, as gofakes3 serves
// a client that follows its markers.
func listAll(t *testing.T, b gofakes3.Backend, prefix string, maxKeys int64) []string {
	var out []string
	page := gofakes3.ListBucketPage{MaxKeys: maxKeys}
	for range 100 {
		res, err := b.ListBucket("k", &gofakes3.Prefix{HasPrefix: true, Prefix: prefix}, page)
		require.NoError(t, err)
		for _, c := range res.Contents {
			out = append(out, c.Key)
		}
		if maxKeys > 0 {
			require.LessOrEqual(t, int64(len(res.Contents)), maxKeys)
		}
		if !res.IsTruncated {
			return out
		}
		require.NotEmpty(t, res.NextMarker, "a truncated listing names its next marker")
		page.Marker, page.HasMarker = res.NextMarker, true
	}
	t.Fatalf("listing %q did not end", prefix)
	return nil
}

// Through HTTP and the s3 driver: a prefix holding more keys than one
// page (1,000) lists whole, and the requests are counted.
func TestS3ServerListsPages(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	srv := startS3(t)
	ctx := context.Background()
	st, err := storage.Open(ctx, srv.storeURL("pages"))
	require.NoError(t, err)
	defer st.Close()
	var want []string
	for i := range 1100 {
		k := fmt.Sprintf("p/%04d", i)
		want = append(want, k)
		require.NoError(t, storage.PutBytes(ctx, st, k, []byte("x"), nil))
	}
	require.NoError(t, storage.PutBytes(ctx, st, "o", []byte("x"), nil))
	require.NoError(t, storage.PutBytes(ctx, st, "q", []byte("x"), nil))
	var got []string
	for oi, err := range st.List(ctx, "p/") {
		require.NoError(t, err)
		got = append(got, oi.Key)
	}
	require.True(t, slices.Equal(want, got), "listed %d keys of %d", len(got), len(want))
	require.Equal(t, 2, srv.counts.get("LIST"), "LIST requests: one a page")
	require.Equal(t, 2, srv.counts.get("LIST p/"))
	require.Equal(t, 1100, srv.counts.get("PUT p/"))
	require.Equal(t, 2, srv.counts.get("PUT "), "PUTs of keys without a slash")
}

func TestPrefixClass(t *testing.T) {
	for in, want := range map[string]string{
		"tenants/t0042/packs/ab/":  "tenants/{tenant}/packs/{hex}/",
		"tenants/t0001/snapshots/": "tenants/{tenant}/snapshots/",
		"audit/events/":            "audit/events/",
		"":                         "",
		"policies/":                "policies/",
	} {
		require.Equal(t, want, prefixClass(in), "class of %q", in)
	}
}

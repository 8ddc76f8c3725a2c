package fleet_test

import (
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// s3Server is gofakes3 in memory on 127.0.0.1 for the fleet's S3 runs,
// with two differences from internal/s3test: its backend lists a prefix
// by seeking to it (seekingBackend), and it counts the requests it
// serves (s3Counts).
type s3Server struct {
	url    string
	counts *s3Counts
}

// startS3 starts an s3Server, closed when the test ends.
func startS3(t testing.TB) *s3Server {
	counts := &s3Counts{n: map[string]int{}}
	// STEWARD_FLEET_S3_PLAIN=1: s3mem's own listing, for comparison.
	b := &seekingBackend{Backend: s3mem.New(), plain: os.Getenv("STEWARD_FLEET_S3_PLAIN") == "1"}
	faker := gofakes3.New(b,
		gofakes3.WithLogger(gofakes3.DiscardLog()), gofakes3.WithAutoBucket(true))
	srv := httptest.NewServer(counts.front(faker.Server()))
	t.Cleanup(srv.Close)
	return &s3Server{url: srv.URL, counts: counts}
}

// storeURL is an s3:// URL for bucket that storage.Open accepts.
func (s *s3Server) storeURL(bucket string) string {
	return "s3://" + bucket + "?endpoint=" + s.url + "&use_path_style=true&region=us-east-1&disable_https=true"
}

// seekingBackend is s3mem whose ListBucket of a prefix without a
// delimiter reads only the keys from the prefix on, in growing pages of
// the whole bucket, and stops at the first key past the prefix. s3mem's
// own walks the whole bucket for every listing: with thousands of
// tenants' repositories and an audit log in one bucket, listing a
// tenant's few snapshots cost a walk of every object, and the fleet's
// S3 run slowed down in proportion to the bucket.
type seekingBackend struct {
	*s3mem.Backend
	plain bool // list as s3mem does
}

// ListBucket is s3mem's, but for a prefix without delimiter, which it
// lists from the prefix (or the page's marker, when after it) on.
func (b *seekingBackend) ListBucket(name string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	from, ok := seekFrom(prefix, page)
	if !ok || b.plain {
		return b.Backend.ListBucket(name, prefix, page)
	}
	out := gofakes3.NewObjectList()
	for chunk := int64(32); ; chunk = min(2*chunk, 1000) {
		res, err := b.Backend.ListBucket(name, nil, gofakes3.ListBucketPage{Marker: from, HasMarker: true, MaxKeys: chunk})
		if err != nil {
			return nil, err
		}
		for _, c := range res.Contents {
			if c.Key < prefix.Prefix {
				continue // between from and the prefix
			}
			if !strings.HasPrefix(c.Key, prefix.Prefix) {
				return out, nil // past the prefix: keys are in order
			}
			if page.MaxKeys > 0 && int64(len(out.Contents)) == page.MaxKeys {
				// gofakes3 makes a continuation token of any NextMarker:
				// only a truncated listing has one.
				out.IsTruncated, out.NextMarker = true, out.Contents[len(out.Contents)-1].Key
				return out, nil
			}
			out.Add(c)
		}
		if !res.IsTruncated || len(res.Contents) == 0 {
			return out, nil
		}
		from = res.Contents[len(res.Contents)-1].Key
	}
}

// seekFrom is the marker from which to list prefix for page: the key
// just before the prefix (s3mem skips a key equal to its marker) or
// the page's own marker when it is after that. ok is false when the
// listing is not of a prefix without delimiter, or the prefix ends in
// a byte 0 (no key is just before it).
func seekFrom(prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (from string, ok bool) {
	if prefix == nil || prefix.Prefix == "" || prefix.HasDelimiter || prefix.Delimiter != "" {
		return "", false
	}
	p := prefix.Prefix
	last := p[len(p)-1]
	if last == 0 {
		return "", false
	}
	// The keys from here to the prefix (which start with this) have
	// not the prefix: few if any.
	from = p[:len(p)-1] + string([]byte{last - 1, 0xff})
	if page.HasMarker && page.Marker > from {
		from = page.Marker
	}
	return from, true
}

// s3Counts counts the requests an s3Server serves, by kind (LIST, GET,
// HEAD, PUT, DELETE, POST), and by kind and class: the listed prefix,
// or the object's key up to its last slash (see prefixClass).
type s3Counts struct {
	mu sync.Mutex
	n  map[string]int
}

// front serves h, counting each request.
func (c *s3Counts) front(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, class := r.Method, ""
		if _, key, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/"); ok && key != "" {
			class = prefixClass(key[:strings.LastIndex(key, "/")+1]) // the object's "directory"
		} else if r.Method == http.MethodGet {
			kind, class = "LIST", prefixClass(r.URL.Query().Get("prefix"))
		}
		c.add(kind)
		c.add(kind + " " + class)
		h.ServeHTTP(w, r)
	})
}

// prefixClass is a listed prefix with tenant names (t0042) and path
// segments of hex digits (pack directories, sequence numbers) replaced
// by placeholders.
func prefixClass(prefix string) string {
	segs := strings.Split(prefix, "/")
	for i, s := range segs {
		switch {
		case tenantRE.MatchString(s):
			segs[i] = "{tenant}"
		case hexRE.MatchString(s):
			segs[i] = "{hex}"
		}
	}
	return strings.Join(segs, "/")
}

var (
	tenantRE = regexp.MustCompile(`^t[0-9]{4}$`)
	hexRE    = regexp.MustCompile(`^[0-9a-f]+$`)
)

func (c *s3Counts) add(k string) {
	c.mu.Lock()
	c.n[k]++
	c.mu.Unlock()
}

// get returns the count of kind k.
func (c *s3Counts) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

// report lists the counts by kind, then by kind and class, the most
// frequent first, per backup as well.
func (c *s3Counts) report(backups int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.n))
	for k := range c.n {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if ka, kb := strings.Contains(a, " "), strings.Contains(b, " "); ka != kb { // kinds first
			return cmp.Compare(btoi(ka), btoi(kb))
		}
		return c.n[b] - c.n[a]
	})
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s: %d (%.2f per backup)\n", k, c.n[k], float64(c.n[k])/float64(max(backups, 1)))
	}
	return sb.String()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

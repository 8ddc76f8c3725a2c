package repo

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// TestIDTimePrefixesCoverTheRange: for random ranges, the prefixes are at
// most maxListPrefixes, their blocks together cover [lo, hi] and each
// touches it, and none is shorter than needed (a block one digit longer
// would take more than maxListPrefixes listings).
func TestIDTimePrefixesCoverTheRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		lo := rng.Uint64N(maxIDTime + 1)
		hi := lo + rng.Uint64N(1<<uint(rng.IntN(48)))
		hi = min(hi, maxIDTime)
		ps := idTimePrefixes(lo, hi)
		require.LessOrEqual(t, len(ps), maxListPrefixes)
		var blocks [][2]uint64
		for _, p := range ps {
			if p == "" { // a range too wide for a prefix: every key
				blocks = append(blocks, [2]uint64{0, maxIDTime})
				continue
			}
			digits := strings.Replace(p, "-", "", 1)
			v, err := parseHex(digits)
			require.NoError(t, err, p)
			shift := 4 * uint(12-len(digits))
			if len(digits) > 8 {
				require.Equal(t, byte('-'), p[8], "the dash of an ID follows its eighth digit")
			}
			blocks = append(blocks, [2]uint64{v << shift, v<<shift | (1<<shift - 1)})
		}
		require.LessOrEqual(t, blocks[0][0], lo)
		require.GreaterOrEqual(t, blocks[len(blocks)-1][1], hi)
		for i := 1; i < len(blocks); i++ {
			require.Equal(t, blocks[i-1][1]+1, blocks[i][0], "contiguous")
		}
		if d := len(strings.Replace(ps[0], "-", "", 1)); d < 12 {
			shift := 4 * uint(12-d-1)
			require.Greater(t, hi>>shift-lo>>shift+1, uint64(maxListPrefixes), "a longer prefix would do")
		}
	}
}

func parseHex(s string) (uint64, error) {
	var v uint64
	_, err := fmt.Sscanf(s, "%x", &v)
	return v, err
}

// idAt returns a well-formed snapshot ID whose time field is ms.
func idAt(ms uint64, n int) string {
	h := fmt.Sprintf("%012x", ms)
	return fmt.Sprintf("%s-%s-7000-8000-%012x", h[:8], h[8:], n)
}

// TestSnapshotIDsBetween lists exactly the IDs in the range, however the
// scope's other IDs lie, and lists few keys besides them: the range's
// neighbours within its blocks, not the scope.
func TestSnapshotIDsBetween(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	r, err := Open(ctx, store, "tenants/t/", Options{Create: true, Keys: testKeys{7}, Scope: "t", Now: time.Now()})
	require.NoError(t, err)
	base := uint64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	for i := range 3000 {
		require.NoError(t, r.SaveSnapshot(ctx, idAt(base+uint64(i)*1000, i), []byte("{}")))
	}
	// Not a v7 ID: its "time" is far from every range below.
	require.NoError(t, r.SaveSnapshot(ctx, "f0000000-0000-4000-8000-000000000000", []byte("{}")))
	ids, err := r.SnapshotIDsBetween(ctx, base+2_900_000, base+2_950_500)
	require.NoError(t, err)
	var want []string
	for i := 2900; i <= 2950; i++ {
		want = append(want, idAt(base+uint64(i)*1000, i))
	}
	require.Equal(t, want, ids)

	counting := &listCounter{Store: store}
	r.store = counting
	_, err = r.SnapshotIDsBetween(ctx, base+2_900_000, base+2_950_500)
	require.NoError(t, err)
	require.LessOrEqual(t, counting.listed, 3*len(want), "keys listed for 51 IDs in a scope of 3,001")
	ids, err = r.SnapshotIDsBetween(ctx, 0xf0000000_0000, maxIDTime)
	require.NoError(t, err)
	require.Equal(t, []string{"f0000000-0000-4000-8000-000000000000"}, ids)
}

type listCounter struct {
	storage.Store
	listed int
}

func (c *listCounter) List(ctx context.Context, prefix string) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) {
		for oi, err := range c.Store.List(ctx, prefix) {
			c.listed++
			if !yield(oi, err) {
				return
			}
		}
	}
}

// TestCatalogSegmentsRoundTrip: a segment's key gives its range and count,
// it reads back (compressed, sealed), first-format objects still read, and
// an object that does not open is skipped, not fatal: the others answer.
func TestCatalogSegmentsRoundTrip(t *testing.T) {
	for _, enc := range []bool{false, true} {
		ctx := context.Background()
		store := storage.NewMemory()
		r, err := Open(ctx, store, "tenants/t/", Options{Create: true, Encrypt: enc, Keys: testKeys{7}, Scope: "t", Now: time.Now()})
		require.NoError(t, err)
		a, b, c := idAt(100, 1), idAt(200, 2), idAt(300, 3)
		sum := func(id string) json.RawMessage { return json.RawMessage(`{"id":"` + id + `"}`) }
		require.NoError(t, r.WriteCatalog(ctx, map[string]json.RawMessage{a: sum(a)}, nil))
		require.NoError(t, r.WriteCatalogSegment(ctx, 150, 250, map[string]json.RawMessage{b: sum(b)}, nil))
		require.Error(t, r.WriteCatalogSegment(ctx, 250, 150, nil, nil), "an empty range")
		segs, err := r.CatalogSegments(ctx)
		require.NoError(t, err)
		require.Len(t, segs, 2)
		var seg, legacy CatalogSegment
		for _, s := range segs {
			if s.Legacy {
				legacy = s
			} else {
				seg = s
			}
		}
		require.Equal(t, [3]uint64{150, 250, 1}, [3]uint64{seg.Lo, seg.Hi, uint64(seg.Count)})
		all, read, err := r.ReadCatalog(ctx)
		require.NoError(t, err)
		require.Len(t, read, 2)
		require.Equal(t, map[string]json.RawMessage{a: sum(a), b: sum(b)}, all)

		require.NoError(t, r.WriteCatalogSegment(ctx, 250, 350, map[string]json.RawMessage{c: sum(c)}, []string{seg.Key}))
		require.NoError(t, storage.PutBytes(ctx, store, legacy.Key, []byte("not a catalog object"), nil))
		require.NoError(t, store.Put(ctx, "tenants/t/catalog/other", strings.NewReader("x"), nil))
		all, read, err = r.ReadCatalog(ctx)
		require.NoError(t, err)
		require.Len(t, read, 1, "the damaged object is skipped, the replaced one is gone, other names are not catalog objects")
		require.Equal(t, map[string]json.RawMessage{c: sum(c)}, all)
	}
}

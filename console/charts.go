package console

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/iluxsys/steward/backup"
)

// ttr sums up times to restore.
type ttr struct {
	Count    int
	Avg, P95 time.Duration
}

// newTTR sums up times to restore in milliseconds.
func newTTR(ms []float64) ttr {
	if len(ms) == 0 {
		return ttr{}
	}
	sorted := slices.Sorted(slices.Values(ms))
	sum := 0.0
	for _, v := range sorted {
		sum += v
	}
	p95 := sorted[int(math.Ceil(0.95*float64(len(sorted))))-1]
	d := func(v float64) time.Duration {
		return time.Duration(v * float64(time.Millisecond)).Round(time.Millisecond)
	}
	return ttr{Count: len(sorted), Avg: d(sum / float64(len(sorted))), P95: d(p95)}
}

// growth is a tenant's repository over its snapshots, oldest first: the
// bytes each added to the store, as a sparkline, and the dedup ratio.
type growth struct {
	Stored  int64   // bytes the snapshots added to the store
	Logical int64   // bytes the snapshots hold
	Dedup   float64 // Logical / Stored (0 when nothing is stored)
	Points  string  // the sparkline's polyline points, in a chartW × chartH box
}

// The sparkline's box.
const chartW, chartH = 120, 24

// newGrowth draws the cumulative stored bytes of snaps (newest first, as
// the catalog lists them).
func newGrowth(snaps []backup.Snapshot) growth {
	var g growth
	cum := make([]int64, 0, len(snaps))
	for _, s := range slices.Backward(snaps) {
		g.Stored += s.Metadata.StoredBytes
		g.Logical += s.Metadata.SizeBytes
		cum = append(cum, g.Stored)
	}
	if g.Stored > 0 {
		g.Dedup = float64(g.Logical) / float64(g.Stored)
	}
	if len(cum) < 2 || g.Stored == 0 {
		return g
	}
	pts := make([]string, len(cum))
	for i, v := range cum {
		x := float64(i) * chartW / float64(len(cum)-1)
		y := chartH - float64(v)*chartH/float64(g.Stored)
		pts[i] = fmt.Sprintf("%.1f,%.1f", x, y)
	}
	g.Points = strings.Join(pts, " ")
	return g
}

package console

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
)

func TestTTRAverageAndP95(t *testing.T) {
	ms := make([]float64, 100)
	for i := range ms {
		ms[i] = float64(100 - i) // 100 ... 1, out of order
	}
	got := newTTR(ms)
	require.Equal(t, 100, got.Count)
	require.Equal(t, 51*time.Millisecond, got.Avg, "50.5 ms, rounded to the millisecond")
	require.Equal(t, 95*time.Millisecond, got.P95)
	require.Equal(t, ttr{}, newTTR(nil))
	require.Equal(t, 7*time.Millisecond, newTTR([]float64{7}).P95)
}

func TestGrowthSparkline(t *testing.T) {
	snap := func(size, stored int64) backup.Snapshot {
		return backup.Snapshot{Metadata: backup.Metadata{SizeBytes: size, StoredBytes: stored}}
	}
	// Newest first, as the catalog lists them: 100 stored, then 10, then 10.
	g := newGrowth([]backup.Snapshot{snap(100, 10), snap(100, 10), snap(100, 100)})
	require.Equal(t, int64(120), g.Stored)
	require.Equal(t, int64(300), g.Logical)
	require.InDelta(t, 2.5, g.Dedup, 1e-9)
	require.Equal(t, "0.0,4.0 60.0,2.0 120.0,0.0", g.Points, "cumulative stored bytes, oldest first, scaled into the box")
	require.Empty(t, newGrowth([]backup.Snapshot{snap(1, 1)}).Points, "one snapshot draws no line")
	require.False(t, strings.Contains(newGrowth(nil).Points, "NaN"))
}

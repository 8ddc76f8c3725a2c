package fakeclock_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/internal/fakeclock"
)

func TestClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var c steward.Clock = fakeclock.New(start)
	require.Equal(t, start, c.Now())
	fc := c.(*fakeclock.Clock)
	require.Equal(t, start.Add(time.Hour), fc.Advance(time.Hour))
	require.Equal(t, start.Add(time.Hour), c.Now())
	fc.Set(start)
	require.Equal(t, start, c.Now())
}

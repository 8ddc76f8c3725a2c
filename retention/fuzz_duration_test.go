package retention_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/retention"
)

// FuzzParseDuration: an accepted duration is never negative, "<n>d" is
// exactly n days, the value survives a round trip through its Go string and
// through JSON, and Duration's JSON decoding agrees with ParseDuration.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"7d", "36h", "90m", "1h30m", "0", "0d", "-1h", "-1d", "07d", "1.5d", "d", "2562047h47m16.854775807s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := retention.ParseDuration(s)
		var jd retention.Duration
		quoted, _ := json.Marshal(s)
		jerr := json.Unmarshal(quoted, &jd)
		if err != nil {
			require.Error(t, jerr, "JSON accepted %q, ParseDuration did not", s)
			return
		}
		require.NoError(t, jerr)
		require.Equal(t, d, time.Duration(jd))
		require.GreaterOrEqual(t, d, time.Duration(0), "ParseDuration(%q) is negative", s)
		if days, ok := strings.CutSuffix(s, "d"); ok {
			n, err := strconv.ParseInt(days, 10, 64)
			require.NoError(t, err, "accepted days %q", days)
			require.Zero(t, d%(24*time.Hour))
			require.Equal(t, n, int64(d/(24*time.Hour)), "ParseDuration(%q) = %v", s, d)
		}
		again, err := retention.ParseDuration(d.String())
		require.NoError(t, err)
		require.Equal(t, d, again)
		b, err := json.Marshal(retention.Duration(d))
		require.NoError(t, err)
		var back retention.Duration
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, d, time.Duration(back))
	})
}

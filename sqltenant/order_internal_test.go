package sqltenant

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// latest keeps the value a fold with newer keeps, whatever the mix of
// forms, NULLs and unparsable texts.
func TestLatestIsNewerFolded(t *testing.T) {
	for _, vals := range [][]value{
		{text("2026-02-01 00:00:01+00"), text("2026-02-01 00:00:03+00"), text("2026-02-01 00:00:02+00")},
		{null(), text("2026-02-01 01:00:00+01"), text("2026-02-01 00:30:00+00"), null()},
		{text("2026-02-01T00:00:00Z"), text("2026-02-01 00:00:01"), text("2026-01-31"), text("2026-02-01T00:00:00.5Z")},
		{text("zzz"), text("2026-02-01 00:00:01+00"), text("aaa"), text("2027-01-01 00:00:00+00")},
		{text("2026-02-01 00:00:01+00"), text("not a time"), text("2026-02-01 00:00:00+00")},
		{integer(3), integer(7), float(6.5), null()},
		{null(), null()},
	} {
		var want value
		has := false
		for _, v := range vals {
			if !v.isNull() && (!has || newer(v, want)) {
				want, has = v, true
			}
		}
		var m latest
		for _, v := range vals {
			m.see(v)
		}
		require.Equal(t, has, m.has, "%v", vals)
		require.True(t, want.equal(m.v), "%v: got %v, want %v", vals, m.v, want)
	}
}

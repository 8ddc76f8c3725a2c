package retention_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/retention"
)

// TestPlanKeepsProtected: a snapshot tagged backup.TagProtected (a
// release's artifact) is kept with the reason "protected" by every
// policy; one tagged major-release only when the policy asks.
func TestPlanKeepsProtected(t *testing.T) {
	snaps := history()
	snaps[10].Tags = []string{backup.TagProtected}
	now := day0.AddDate(0, 0, 400)
	for _, tc := range []struct {
		name  string
		p     retention.Policy
		major bool
	}{
		{"keep-last 1", retention.Policy{KeepLast: 1}, false},
		{"major releases immutable", retention.Policy{KeepLast: 1, MajorReleasesImmutable: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := retention.Plan(snaps, tc.p, now)
			require.NoError(t, err)
			reasons := map[string][]string{}
			for _, d := range plan {
				if d.Keep {
					reasons[d.Snapshot.ID] = d.Reasons
				}
			}
			require.Equal(t, []string{"protected"}, reasons["d010"], "the protected snapshot: got reasons %v", reasons["d010"])
			if tc.major {
				require.Equal(t, []string{"major-release"}, reasons["d300"])
				require.Len(t, reasons, 3)
			} else {
				require.NotContains(t, reasons, "d300", "major-release kept by a policy that does not ask")
				require.Len(t, reasons, 2, "kept %v, want the newest and the protected one", reasons)
			}
		})
	}
}

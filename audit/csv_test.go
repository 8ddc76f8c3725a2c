package audit_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/storage"
)

func TestSafeCSVCell(t *testing.T) {
	cases := []struct{ in, want string }{
		{"=1+1", "'=1+1"},
		{"+1", "'+1"},
		{"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tcmd", "'\tcmd"},
		{"\rcmd", "'\rcmd"},
		{"", ""},
		{"plain", "plain"},
		{"a=b", "a=b"},
		{"'=already", "'=already"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			require.Equal(t, c.want, audit.SafeCSVCell(c.in))
		})
	}
}

// TestTruncationLimits pins down the documented limit of checkpoints: a tail
// cut at or after the newest checkpoint is indistinguishable from a shorter
// log, while a cut below it is reported.
func TestTruncationLimits(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		from     int // delete events from..25
		detected bool
	}{
		{"cut after the newest checkpoint", 21, false},
		{"cut through the newest checkpoint", 20, true},
		{"cut below the newest checkpoint", 19, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := storage.NewMemory()
			fill(t, newLog(t, store), 25) // checkpoints at 10 and 20
			for i := c.from; i <= 25; i++ {
				require.NoError(t, store.Delete(ctx, eventKey(i)))
			}
			rep, err := newLog(t, store).Verify(master())
			if !c.detected {
				require.NoError(t, err)
				require.Equal(t, uint64(c.from-1), rep.Events)
				return
			}
			require.ErrorIs(t, err, audit.ErrTampered)
		})
	}
}

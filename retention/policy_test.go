package retention_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/retention"
)

// A policy's retry budget (max_attempts) is validated and read back as
// written; 0 leaves the fleet's default.
func TestPolicyMaxAttempts(t *testing.T) {
	for _, c := range []struct {
		json string
		want int
		err  error
	}{
		{`{"keep_last":1}`, 0, nil},
		{`{"keep_last":1,"max_attempts":3}`, 3, nil},
		{`{"keep_last":1,"max_attempts":100}`, 100, nil},
		{`{"keep_last":1,"max_attempts":101}`, 0, retention.ErrInvalidPolicy},
		{`{"keep_last":1,"max_attempts":-1}`, 0, retention.ErrInvalidPolicy},
	} {
		t.Run(c.json, func(t *testing.T) {
			p, err := retention.DecodePolicy([]byte(c.json))
			if c.err != nil {
				require.ErrorIs(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, p.MaxAttempts)
		})
	}
}

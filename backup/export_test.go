package backup

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/storage"
)

// Helpers shared by this package's internal tests and, exported here (test
// builds only), by its external ones.

// MasterContext carries a principal with the master role.
func MasterContext() context.Context {
	return steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
}

// StoredBytes is the total size of every object in s.
func StoredBytes(t *testing.T, s storage.Store) int64 {
	t.Helper()
	var n int64
	for oi, err := range s.List(context.Background(), "") {
		require.NoError(t, err)
		n += oi.Size
	}
	return n
}

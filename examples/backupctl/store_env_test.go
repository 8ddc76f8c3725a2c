package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// --help must not print $STEWARD_STORE, which may hold credentials, yet
// the store is still taken from it when --store is not given.
func TestHelpHidesStoreFromEnv(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	t.Setenv("STEWARD_STORE", "file://svc-backup:hunter2-secret@"+filepath.ToSlash(dir)+"?token=query-token-secret")
	unsetenv(t, "STEWARD_PASSPHRASE")

	for _, args := range [][]string{{"--help"}, {"init", "--help"}} {
		out, err := run(t, args...)
		require.NoError(t, err)
		require.Contains(t, out, "--store string", "%v printed no --store flag: %s", args, out)
		require.Contains(t, out, "$STEWARD_STORE", "%v does not say where the default comes from: %s", args, out)
		for _, secret := range []string{"svc-backup", "hunter2-secret", "query-token-secret", dir} {
			require.NotContains(t, out, secret, "%v printed %q from $STEWARD_STORE", args, secret)
		}
	}

	require.NoDirExists(t, dir)
	_, err := run(t, "init", "--tenant", "acme")
	require.NoError(t, err)
	require.DirExists(t, filepath.Join(dir, "tenants", "acme"), "init did not write to the store named by $STEWARD_STORE")
}

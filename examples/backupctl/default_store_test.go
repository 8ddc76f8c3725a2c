package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDefaultStoreIsUnderTheWorkingDirectory is issue 17's finding 1: with
// neither --store nor $STEWARD_STORE the store is ./steward-data under the
// working directory (it used to be /steward-data), and the command names
// it on stderr; relative file URLs resolve the same way.
func TestDefaultStoreIsUnderTheWorkingDirectory(t *testing.T) {
	unsetenv(t, "STEWARD_STORE")
	unsetenv(t, "STEWARD_PASSPHRASE")
	wd := t.TempDir()
	t.Chdir(wd)
	wd, _ = os.Getwd()
	var out, errOut bytes.Buffer
	require.NoError(t, runTo(t, &out, &errOut, "init", "--tenant", "acme"))
	require.DirExists(t, filepath.Join(wd, "steward-data", "tenants", "acme"))
	require.Contains(t, errOut.String(), filepath.Join(wd, "steward-data"), "the default store is not named")

	for _, u := range []string{"file://./mydata", "file:rel/st", "plain"} {
		errOut.Reset()
		require.NoError(t, runTo(t, &out, &errOut, "--store", u, "init", "--tenant", "acme"), u)
		require.Empty(t, errOut.String(), "a store given with --store is not announced")
	}
	for _, dir := range []string{"mydata", "rel/st", "plain"} {
		require.DirExists(t, filepath.Join(wd, dir, "tenants", "acme"))
	}
	_, err := run(t, "--store", "file://relative/st", "init", "--tenant", "acme")
	require.ErrorContains(t, err, "file://./relative/path")
	require.NoDirExists(t, "/st/tenants/acme")
}

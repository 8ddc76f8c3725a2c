package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/flags"
)

// TestFlagsSetChangesOnlyWhatIsGiven is issue 17's finding 3 through the
// CLI: a description change keeps the rollout and the targets, so acme
// keeps the feature; --off and --targets "" change only themselves.
func TestFlagsSetChangesOnlyWhatIsGiven(t *testing.T) {
	unsetenv(t, "STEWARD_FLAGS_KEY")
	store := "file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "store"))
	get := func() flags.Flag {
		t.Helper()
		out, err := run(t, "--store", store, "--json", "flags", "get", "new-ui")
		require.NoError(t, err)
		var f flags.Flag
		require.NoError(t, json.Unmarshal([]byte(out), &f), "flags get printed %q", out)
		return f
	}
	_, err := run(t, "--store", store, "flags", "set", "new-ui", "--percentage", "25", "--targets", "acme")
	require.NoError(t, err)
	_, err = run(t, "--store", store, "flags", "set", "new-ui", "--description", "new UI")
	require.NoError(t, err)
	f := get()
	require.Equal(t, "new UI", f.Description)
	require.Equal(t, 25.0, f.RolloutPercentage)
	require.Equal(t, []string{"acme"}, f.TargetTenants)
	require.True(t, f.Enabled)
	out, err := run(t, "--store", store, "flags", "get", "new-ui", "acme")
	require.NoError(t, err)
	require.Contains(t, out, "acme: true", "acme lost the feature: %q", out)

	_, err = run(t, "--store", store, "flags", "set", "new-ui", "--off")
	require.NoError(t, err)
	f = get()
	require.False(t, f.Enabled)
	require.Equal(t, 25.0, f.RolloutPercentage)
	_, err = run(t, "--store", store, "flags", "set", "new-ui", "--targets", "")
	require.NoError(t, err)
	f = get()
	require.Empty(t, f.TargetTenants)
	require.Equal(t, "new UI", f.Description)
	_, err = run(t, "--store", store, "flags", "set", "new-ui", "--on", "--off")
	require.ErrorContains(t, err, "--on and --off")
}

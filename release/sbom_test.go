package release_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// A release that lists no components has an SBOM whose components are
// [], not null: CycloneDX consumers refuse null (issue 17, finding 13).
func TestSBOMComponentsNeverNull(t *testing.T) {
	ev := newEnv(t)
	for _, tc := range []struct {
		name string
		spec int // index in specs
		want string
	}{
		{"no components", 1, `[]`},
		{"one component", 0, `"name":"react"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ev.create(t, tc.spec)
			var bom map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(r.SBOM, &bom), "SBOM %s", r.SBOM)
			comps, ok := bom["components"]
			require.True(t, ok, "SBOM %s has no components key", r.SBOM)
			require.NotEqual(t, "null", string(comps), "SBOM components are null, want %s", tc.want)
			require.Contains(t, string(comps), tc.want, "SBOM components %s, want %s", comps, tc.want)
			var list []any
			require.NoError(t, json.Unmarshal(comps, &list))
			require.Len(t, list, len(specs[tc.spec].Components), "SBOM components %s", comps)
		})
	}
}

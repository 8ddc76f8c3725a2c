package steward_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
)

var tenantRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func TestValidateTenant(t *testing.T) {
	cases := []struct {
		id string
		ok bool
	}{
		{"acme", true},
		{"a", true},
		{"0", true},
		{"acme-corp_2", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"../x", false},
		{"A/B", false},
		{"Acme", false},
		{"acme/1", false},
		{"-acme", false},
		{"_general", false},
		{"acmé", false},
		{"租户", false},
		{"a b", false},
		{"a.b", false},
		{"a\x00", false},
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			err := steward.ValidateTenant(c.id)
			if c.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, steward.ErrInvalidTenant)
			require.Contains(t, err.Error(), "lowercase letters, digits", "the error says what is allowed")
		})
	}
}

func FuzzValidateTenant(f *testing.F) {
	for _, s := range []string{"acme", "", "../x", "A/B", strings.Repeat("z", 64), "é", "a-_", "_x", "x\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := steward.ValidateTenant(id)
		if tenantRE.MatchString(id) != (err == nil) {
			t.Fatalf("ValidateTenant(%q) = %v, regexp says %v", id, err, tenantRE.MatchString(id))
		}
		if err != nil && !errors.Is(err, steward.ErrInvalidTenant) {
			t.Fatalf("error %v does not match ErrInvalidTenant", err)
		}
	})
}

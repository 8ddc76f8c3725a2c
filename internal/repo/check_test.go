package repo

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSubset(t *testing.T) {
	cases := []struct {
		in string
		ok bool
	}{
		{"", true}, {"1/1", true}, {"2/5", true}, {" 3/3 ", true}, {"10%", true}, {"0.5%", true}, {"100%", true},
		{"0/3", false}, {"4/3", false}, {"1/0", false}, {"1/", false}, {"/2", false}, {"a/b", false},
		{"-1/2", false}, {"0%", false}, {"101%", false}, {"x%", false}, {"NaN%", false}, {"Inf%", false}, {"%", false}, {"1/2/3", false}, {"5", false},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			_, err := ParseSubset(c.in)
			if c.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				require.Contains(t, err.Error(), "read-data subset")
			}
		})
	}
}

// TestSubsetPartitions: the groups of "n/t" partition the packs (each pack
// in exactly one group), and a percentage selects about that share.
func TestSubsetPartitions(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	names := make([]string, 4000)
	for i := range names {
		names[i] = fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
	}
	const parts = 5
	for _, name := range names {
		in := 0
		for n := 1; n <= parts; n++ {
			s, err := ParseSubset(fmt.Sprintf("%d/%d", n, parts))
			require.NoError(t, err)
			if s.Includes(name) {
				in++
			}
		}
		require.Equal(t, 1, in, "pack %s is in %d of %d groups, want 1", name, in, parts)
	}
	all, _ := ParseSubset("")
	ten, _ := ParseSubset("10%")
	n := 0
	for _, name := range names {
		require.True(t, all.Includes(name))
		if ten.Includes(name) {
			n++
		}
	}
	require.InDelta(t, 400, n, 80, "10%% of 4000 packs selected %d", n)
}

func FuzzParseSubset(f *testing.F) {
	for _, s := range []string{"", "1/1", "2/5", "10%", "0.5%", "0/0", "4/3", "1e2%", "NaN%", "99999999999/99999999999"} {
		f.Add(s, "0123456789abcdef")
	}
	f.Fuzz(func(t *testing.T, spec, name string) {
		s, err := ParseSubset(spec)
		if err != nil {
			return
		}
		_ = s.Includes(name) // must not panic on any name
		if s.percent == 0 && (s.t == 0 || s.n == 0 || s.n > s.t) {
			t.Fatalf("ParseSubset(%q) accepted an empty selection: %+v", spec, s)
		}
	})
}

// TestZeroSubsetIncludesEverything: the zero Subset (not made by
// ParseSubset) selects every pack instead of dividing by zero.
func TestZeroSubsetIncludesEverything(t *testing.T) {
	all, err := ParseSubset("")
	require.NoError(t, err)
	for _, name := range []string{"00000000aa", "ffffffff00", "1234abcd99"} {
		require.True(t, Subset{}.Includes(name))
		require.Equal(t, all.Includes(name), Subset{}.Includes(name))
	}
}

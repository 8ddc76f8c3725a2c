package flags_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/flags"
	"github.com/iluxsys/steward/storage"
)

func ptr[T any](v T) *T { return &v }

// TestUpdateChangesOnlyTheFieldsGiven is issue 17's finding 3: a flag at
// 25 % with target acme keeps both when only its description changes.
func TestUpdateChangesOnlyTheFieldsGiven(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	s, err := flags.New(context.Background(), store, nil)
	require.NoError(t, err)
	require.NoError(t, s.Set(ctx, "new-ui", true, flags.Options{RolloutPercentage: 25, TargetTenants: []string{"acme"}}))

	require.NoError(t, s.Update(ctx, "new-ui", flags.Patch{Description: ptr("new UI")}))
	f, ok := s.Get("new-ui")
	require.True(t, ok)
	require.Equal(t, "new UI", f.Description)
	require.Equal(t, 25.0, f.RolloutPercentage, "the rollout survived a description change")
	require.Equal(t, []string{"acme"}, f.TargetTenants)
	require.True(t, f.Enabled)
	require.True(t, s.Enabled("new-ui", "acme"), "acme kept the feature")

	require.NoError(t, s.Update(ctx, "new-ui", flags.Patch{Enabled: ptr(false), TargetTenants: ptr([]string{"b", "a", "b"})}))
	f, _ = s.Get("new-ui")
	require.False(t, f.Enabled)
	require.Equal(t, []string{"a", "b"}, f.TargetTenants, "targets sorted and deduplicated as Set stores them")
	require.Equal(t, "new UI", f.Description)
	require.Equal(t, uint64(3), f.Version)

	// A fresh Set reads the same state back.
	fresh, err := flags.New(context.Background(), store, nil)
	require.NoError(t, err)
	g, _ := fresh.Get("new-ui")
	require.Equal(t, f, g)
}

func TestUpdateOfANewFlagAndBadInput(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	s, err := flags.New(context.Background(), store, nil)
	require.NoError(t, err)
	require.NoError(t, s.Update(ctx, "fresh", flags.Patch{RolloutPercentage: ptr(10.0)}))
	f, ok := s.Get("fresh")
	require.True(t, ok)
	require.False(t, f.Enabled, "a new flag starts from the zero Flag")
	require.Equal(t, 10.0, f.RolloutPercentage)

	before := f.Version
	err = s.Update(ctx, "fresh", flags.Patch{RolloutPercentage: ptr(150.0)})
	require.ErrorIs(t, err, flags.ErrInvalid)
	f, _ = s.Get("fresh")
	require.Equal(t, before, f.Version, "a refused patch writes nothing")
	require.Equal(t, 10.0, f.RolloutPercentage)
	require.ErrorIs(t, s.Update(ctx, "Bad Name", flags.Patch{}), flags.ErrInvalid)
}

package openfeature_test

import (
	"context"
	"testing"

	of "github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/flags"
	"github.com/iluxsys/steward/flags/openfeature"
	"github.com/iluxsys/steward/storage"
)

func TestProviderThroughClient(t *testing.T) {
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
	set, err := flags.New(ctx, storage.NewMemory(), nil)
	require.NoError(t, err)
	require.NoError(t, set.Set(ctx, "targeted", true, flags.Options{TargetTenants: []string{"acme"}}))
	require.NoError(t, set.Set(ctx, "everyone", true, flags.Options{RolloutPercentage: 100}))
	require.NoError(t, set.Set(ctx, "off", false, flags.Options{RolloutPercentage: 100}))

	require.NoError(t, of.SetNamedProviderAndWait("steward-test", openfeature.New(set)))
	client := of.NewClient("steward-test")
	acme := of.NewEvaluationContext("acme", nil)
	globex := of.NewEvaluationContext("globex", nil)

	d, err := client.BooleanValueDetails(context.Background(), "targeted", false, acme)
	require.NoError(t, err)
	require.True(t, d.Value)
	require.Equal(t, of.TargetingMatchReason, d.Reason)

	d, err = client.BooleanValueDetails(context.Background(), "targeted", true, globex)
	require.NoError(t, err)
	require.False(t, d.Value)
	require.Equal(t, of.SplitReason, d.Reason)

	d, err = client.BooleanValueDetails(context.Background(), "everyone", false, globex)
	require.NoError(t, err)
	require.True(t, d.Value)
	require.Equal(t, of.SplitReason, d.Reason)

	d, err = client.BooleanValueDetails(context.Background(), "off", true, acme)
	require.NoError(t, err)
	require.False(t, d.Value)
	require.Equal(t, of.DisabledReason, d.Reason)

	v, err := client.BooleanValue(context.Background(), "unknown", true, acme)
	require.Error(t, err)
	require.True(t, v, "unknown flags give the default")
	d, _ = client.BooleanValueDetails(context.Background(), "unknown", true, acme)
	require.Equal(t, of.FlagNotFoundCode, d.ErrorCode)

	s, err := client.StringValue(context.Background(), "everyone", "dflt", acme)
	require.Error(t, err)
	require.Equal(t, "dflt", s)
	sd, _ := client.StringValueDetails(context.Background(), "everyone", "dflt", acme)
	require.Equal(t, of.TypeMismatchCode, sd.ErrorCode)
}

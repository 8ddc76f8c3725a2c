package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
)

// TestProtectsAsksTheReleaseLog: the CLI's engine protects every artifact
// the release log names (artifacts made before releases tagged them rely
// on this hook), and nothing else.
func TestProtectsAsksTheReleaseLog(t *testing.T) {
	f := newReleaseFixture(t)
	a := &app{storeURL: f.store}
	_, err := a.open(context.Background(), true)
	require.NoError(t, err)
	defer a.close()
	ctx := context.Background()
	require.True(t, a.protects(ctx, backup.Releases, f.r1.ArtifactSnapshot))
	require.True(t, a.protects(ctx, backup.Releases, f.r2.ArtifactSnapshot))
	require.False(t, a.protects(ctx, backup.Releases, "01a22ee7-7807-74da-a3f9-1f1d03a935c1"), "a snapshot no release names")
	require.False(t, a.protects(ctx, "acme", f.r1.ArtifactSnapshot), "tenant scopes hold no artifacts")
}

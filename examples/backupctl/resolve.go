package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/backup"
)

// requireTenant fails unless tenant has a repository in the store: a
// mistyped tenant is an error naming the tenants there, not an empty
// listing. The general structure and the releases scope are not tenants
// and are taken as they are.
func requireTenant(ctx context.Context, e *backup.Engine, tenant string) error {
	if tenant == "" {
		return fmt.Errorf("--tenant is required: %w", backup.ErrInvalidOptions)
	}
	if tenant == backup.General || tenant == backup.Releases {
		return nil
	}
	ts, err := e.Tenants(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(ts, tenant) {
		return nil
	}
	known := "none"
	if len(ts) > 0 {
		known = strings.Join(ts, ", ")
	}
	return fmt.Errorf("tenant %q has no repository in this store (tenants: %s): %w", tenant, known, backup.ErrNotFound)
}

// resolveSnapshot returns the snapshot ID that id names in tenant's
// catalog: latest as it is, a full ID as it is, or a unique prefix of
// one. An unknown ID is an error naming the tenant, an ambiguous prefix
// one naming the candidates; both match backup.ErrNotFound. The tenant
// must exist (requireTenant).
func resolveSnapshot(ctx context.Context, e *backup.Engine, tenant, id string) (string, error) {
	if id == backup.Latest || strings.ContainsAny(id, "/\\\x00.") {
		return id, nil // latest, or an ID the engine refuses with its own error
	}
	if err := requireTenant(ctx, e, tenant); err != nil {
		return "", err
	}
	cat, err := e.Catalog(ctx, tenant)
	if err != nil {
		// A catalog that cannot be read (a corrupt manifest) leaves id
		// to the engine, which names the damage (forget --force of a
		// corrupt snapshot must still reach it).
		return id, nil
	}
	var matches []string
	for _, s := range cat {
		if s.ID == id {
			return id, nil
		}
		if strings.HasPrefix(s.ID, id) {
			matches = append(matches, s.ID)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", fmt.Errorf("tenant %q has no snapshot %q (list them with: snapshots --tenant %s): %w", tenant, id, tenant, backup.ErrNotFound)
	}
	return "", fmt.Errorf("snapshot prefix %q of tenant %q is ambiguous: %s; give more characters: %w", id, tenant, strings.Join(matches, ", "), backup.ErrNotFound)
}

// snapshotFlag adds --snapshot ID|prefix|latest to cmd, with --id as
// its alias (the name these commands took first).
func snapshotFlag(cmd *cobra.Command, id *string) {
	cmd.Flags().StringVar(id, "snapshot", backup.Latest, "snapshot ID, a unique prefix of one, or latest")
	cmd.Flags().StringVar(id, "id", backup.Latest, "alias of --snapshot")
}

// beginTenant is beginRead for a command on one tenant that must exist.
func (a *app) beginTenant(cmd *cobra.Command, tenant string) (context.Context, *backup.Engine, error) {
	ctx, e, err := a.beginRead(cmd)
	if err == nil {
		err = requireTenant(ctx, e, tenant)
	}
	return ctx, e, err
}

// beginSnapshot is beginTenant for a command on one snapshot: *id is
// resolved in place (a prefix becomes the full ID).
func (a *app) beginSnapshot(cmd *cobra.Command, tenant string, id *string) (context.Context, *backup.Engine, error) {
	ctx, e, err := a.beginTenant(cmd, tenant)
	if err == nil {
		*id, err = resolveSnapshot(ctx, e, tenant, *id)
	}
	return ctx, e, err
}

package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/backup"
)

func (a *app) snapshotCmd() *cobra.Command {
	var tenant, id string
	cmd := &cobra.Command{
		Use:   "snapshot --tenant T [--snapshot ID|prefix|latest]",
		Short: "Show one snapshot's manifest (metadata, checksums, components)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, e, err := a.beginSnapshot(cmd, tenant, &id)
			if err != nil {
				return err
			}
			s, err := e.Snapshot(ctx, tenant, id)
			if err != nil {
				return err
			}
			return a.print(s, func() { a.printSnapshot(s) })
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	snapshotFlag(cmd, &id)
	return cmd
}

func (a *app) printSnapshot(s *backup.Snapshot) {
	m := s.Metadata
	fmt.Fprintf(a.out, "snapshot %s (%s) of %s at %s\n", s.ID, s.Type, s.Tenant, s.Timestamp.Format(time.RFC3339))
	fmt.Fprintf(a.out, "  %d files, %d bytes, %d stored, encrypted %v, took %s\n", m.FileCount, m.SizeBytes, m.StoredBytes, m.Encrypted, time.Duration(m.DurationMS)*time.Millisecond)
	if len(s.Tags) > 0 {
		fmt.Fprintf(a.out, "  tags: %s\n", strings.Join(s.Tags, ","))
	}
	for _, c := range s.Components {
		fmt.Fprintf(a.out, "  component %s %s\n", c.Name, c.Version)
	}
	for _, name := range slices.Sorted(maps.Keys(s.Checksums)) {
		fmt.Fprintf(a.out, "  checksum %s %s\n", name, s.Checksums[name])
	}
}

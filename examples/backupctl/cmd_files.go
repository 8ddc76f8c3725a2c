package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// fileLine is one entry as `files --json` prints it.
type fileLine struct {
	Path   string `json:"path"`
	Mode   string `json:"mode"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}

func (a *app) filesCmd() *cobra.Command {
	var tenant, id string
	cmd := &cobra.Command{
		Use:   "files --tenant T [--snapshot ID|prefix|latest]",
		Short: "List a snapshot's entries with their SHA-256",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, e, err := a.beginSnapshot(cmd, tenant, &id)
			if err != nil {
				return err
			}
			lines := []fileLine{} // collected for --json only
			for f, err := range e.Files(ctx, tenant, id) {
				if err != nil {
					return err
				}
				if a.jsonOut {
					lines = append(lines, fileLine{f.Path, f.Mode.String(), f.Size, f.SHA256})
					continue
				}
				fmt.Fprintf(a.out, "%s  %10d  %s  %s\n", f.Mode, f.Size, f.SHA256, f.Path)
			}
			return a.print(lines, func() {})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant ID")
	snapshotFlag(cmd, &id)
	return cmd
}

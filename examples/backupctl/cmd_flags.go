package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/flags"
)

// flagSet opens the store's feature flags for a command; readOnly as
// beginRead.
func (a *app) flagSet(cmd *cobra.Command, readOnly bool) (context.Context, *flags.Set, error) {
	begin := a.begin
	if readOnly {
		begin = a.beginRead
	}
	ctx, _, err := begin(cmd)
	if err != nil {
		return nil, nil, err
	}
	// STEWARD_FLAGS_KEY authenticates flag versions (flags.Config.RecordKey).
	s, err := flags.New(ctx, a.store, &flags.Config{Auditor: a.auditor(), RecordKey: []byte(os.Getenv("STEWARD_FLAGS_KEY")), SingleWriter: a.singleWriter})
	return ctx, s, err
}

func (a *app) flagsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "flags", Short: "Feature flags: set, get, list, delete (STEWARD_FLAGS_KEY authenticates them)"}
	cmd.AddCommand(a.flagsSetCmd(), a.flagsGetCmd(), a.flagsListCmd(), a.flagsDeleteCmd())
	return cmd
}

func (a *app) flagsSetCmd() *cobra.Command {
	var desc, targets string
	var pct float64
	var on, off bool
	cmd := &cobra.Command{
		Use:   "set NAME [--on|--off] [--percentage P] [--targets a,b] [--description D]",
		Short: "Create a flag, or change the fields given (the others keep their values)",
		Long: "Create a flag (on unless --off), or change an existing one: only the options given change; " +
			"--targets \"\" clears the targets.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if on && off {
				return fmt.Errorf("--on and --off: give one")
			}
			ctx, s, err := a.flagSet(cmd, false)
			if err != nil {
				return err
			}
			p := flagsPatch(cmd, s, args[0], desc, targets, pct, off)
			if err := s.Update(ctx, args[0], p); err != nil {
				return err
			}
			f, _ := s.Get(args[0])
			return a.print(f, func() { printFlag(a.out, f) })
		},
	}
	cmd.Flags().StringVar(&desc, "description", "", "what the flag does")
	cmd.Flags().Float64Var(&pct, "percentage", 0, "share of tenants enabled by the sticky rollout (0-100)")
	cmd.Flags().StringVar(&targets, "targets", "", "tenants always enabled, comma-separated (\"\" clears them)")
	cmd.Flags().BoolVar(&on, "on", false, "enable the flag")
	cmd.Flags().BoolVar(&off, "off", false, "disable the flag")
	return cmd
}

// flagsPatch is the change `flags set` asks for: the options given on the
// command line; a flag that does not exist yet is enabled unless --off.
func flagsPatch(cmd *cobra.Command, s *flags.Set, name, desc, targets string, pct float64, off bool) flags.Patch {
	var p flags.Patch
	fl := cmd.Flags()
	if _, exists := s.Get(name); !exists || fl.Changed("on") || fl.Changed("off") {
		enabled := !off
		p.Enabled = &enabled
	}
	if fl.Changed("description") {
		p.Description = &desc
	}
	if fl.Changed("percentage") {
		p.RolloutPercentage = &pct
	}
	if fl.Changed("targets") {
		list := []string{}
		if targets != "" {
			list = strings.Split(targets, ",")
		}
		p.TargetTenants = &list
	}
	return p
}

func (a *app) flagsGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME [TENANT]",
		Short: "Show a flag, or whether it is on for a tenant",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, s, err := a.flagSet(cmd, true)
			if err != nil {
				return err
			}
			f, ok := s.Get(args[0])
			if !ok {
				return fmt.Errorf("%w: %q", flags.ErrNotFound, args[0])
			}
			if len(args) == 2 {
				on, why := s.Evaluate(args[0], args[1])
				ev := flagEvaluation{Flag: args[0], Tenant: args[1], Enabled: on, Reason: fmt.Sprint(why), Bucket: flags.Bucket(args[0], args[1])}
				return a.print(ev, func() {
					fmt.Fprintf(a.out, "%s for %s: %v (%s, bucket %d)\n", ev.Flag, ev.Tenant, ev.Enabled, ev.Reason, ev.Bucket)
				})
			}
			return a.print(f, func() { printFlag(a.out, f) })
		},
	}
}

func (a *app) flagsListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List every flag",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, s, err := a.flagSet(cmd, true)
			if err != nil {
				return err
			}
			fs := nonNil(s.List())
			return a.print(fs, func() {
				for _, f := range fs {
					printFlag(a.out, f)
				}
			})
		},
	}
}

func (a *app) flagsDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a flag",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, s, err := a.flagSet(cmd, false)
			if err != nil {
				return err
			}
			if err := s.Delete(ctx, args[0]); err != nil {
				return err
			}
			res := struct {
				Name    string `json:"name"`
				Deleted bool   `json:"deleted"`
			}{args[0], true}
			return a.print(res, func() { fmt.Fprintf(a.out, "flag %s deleted\n", args[0]) })
		},
	}
}

// flagEvaluation is what `flags get NAME TENANT` prints.
type flagEvaluation struct {
	Flag    string `json:"flag"`
	Tenant  string `json:"tenant"`
	Enabled bool   `json:"enabled"`
	Reason  string `json:"reason"`
	Bucket  uint32 `json:"bucket"`
}

func printFlag(w io.Writer, f flags.Flag) {
	state := "off"
	if f.Enabled {
		state = "on"
	}
	fmt.Fprintf(w, "%-24s %-3s %6.2f%%  targets=%s  v%d by %s  %s\n", f.Name, state, f.RolloutPercentage, strings.Join(f.TargetTenants, ","), f.Version, f.UpdatedBy, f.Description)
}

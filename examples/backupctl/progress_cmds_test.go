package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// check --read-data, validate and drill draw the bar as backup and restore
// do: on a terminal only, never with --json or --no-progress, cleared
// before the result; a structural check draws none (issue 17, finding 11).
func TestProgressOfCheckValidateDrill(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name   string
		args   []string
		result string // how the text result starts
		bar    bool   // drawn on a terminal
	}{
		{"check", []string{"check", "--tenant", "acme", "--read-data"}, "1 snapshots, ", true},
		{"check", []string{"check", "--tenant", "acme", "--read-data-subset", "100%"}, "1 snapshots, ", true},
		{"check", []string{"check", "--tenant", "acme"}, "1 snapshots, ", false},
		{"validate", []string{"validate", "--tenant", "acme"}, "acme " + f.snap.ID + ": passed", true},
		{"drill", []string{"drill"}, "acme ", true},
	} {
		for _, tc := range []struct {
			name     string
			terminal bool
			flags    []string
		}{
			{"not a terminal", false, nil},
			{"terminal", true, nil},
			{"terminal, --json", true, []string{"--json"}},
			{"terminal, --no-progress", true, []string{"--no-progress"}},
		} {
			t.Run(strings.Join(c.args, " ")+"/"+tc.name, func(t *testing.T) {
				drawEveryUpdate(t)
				if tc.terminal {
					forceTerminal(t)
				}
				args := append(append([]string{"--store", f.store}, c.args...), tc.flags...)
				var out, errOut bytes.Buffer
				require.NoError(t, runTo(t, &out, &errOut, args...))
				if len(tc.flags) > 0 && tc.flags[0] == "--json" {
					require.True(t, json.Valid(out.Bytes()), "stdout %q is not JSON", out.String())
				} else {
					require.True(t, strings.HasPrefix(out.String(), c.result), "stdout %q, want %q...", out.String(), c.result)
				}
				if !tc.terminal || len(tc.flags) > 0 || !c.bar {
					require.Empty(t, errOut.String(), "%v drew on stderr, want nothing", args)
					return
				}
				require.Contains(t, errOut.String(), c.name, "stderr %q does not name the command", errOut.String())

				// stdout and stderr on one terminal: the bar is gone before the result.
				var both bytes.Buffer
				require.NoError(t, runTo(t, &both, &both, args...))
				rest := afterBar(t, both.String())
				require.True(t, strings.HasPrefix(rest, c.result), "after the bar came %q, want the result %q...", rest, c.result)
				require.NotContains(t, rest, "%", "after the bar came %q: a bar was drawn after the result", rest)
			})
		}
	}
}

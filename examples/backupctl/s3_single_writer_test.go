package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/s3test"
	"github.com/iluxsys/steward/storage"
)

// TestSingleWriterOverS3IgnoringConditionalCreate drives the CLI against
// an S3 API server on loopback that ignores conditional create (issue 17,
// finding 12): without --single-writer every writing command fails with
// storage.ErrNoConditionalCreate and names the flag; with it, or with
// STEWARD_SINGLE_WRITER=1, a round trip works and restores the same bytes.
func TestSingleWriterOverS3IgnoringConditionalCreate(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	unsetenv(t, "STEWARD_PASSPHRASE")
	unsetenv(t, "STEWARD_SINGLE_WRITER")
	srv := s3test.StartIgnoringConditionalCreate(t)
	srv.Store(t, "cli").Close() // creates the bucket
	store := srv.URL("cli")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "m1"), 0o755))
	want := map[string][]byte{"m1/a.txt": []byte("alpha"), "m1/big.bin": bytes.Repeat([]byte("0123456789abcdef"), 64<<10)}
	for p, b := range want {
		require.NoError(t, os.WriteFile(filepath.Join(src, filepath.FromSlash(p)), b, 0o644))
	}

	for _, args := range [][]string{
		{"init", "--tenant", "acme"},
		{"backup", "--tenant", "acme", "--source", src},
		{"flags", "set", "beta", "--percentage", "10"},
		{"prune", "--tenant", "acme"},
	} {
		_, err := run(t, append([]string{"--store", store}, args...)...)
		require.ErrorIs(t, err, storage.ErrNoConditionalCreate, "%v without --single-writer", args)
		require.ErrorContains(t, err, "--single-writer", "%v: the error does not name the flag", args)
	}

	for _, how := range []string{"flag", "env"} {
		t.Run(how, func(t *testing.T) {
			sw := []string{"--store", store + "&prefix=" + how + "/"}
			if how == "flag" {
				sw = append(sw, "--single-writer")
			} else {
				t.Setenv("STEWARD_SINGLE_WRITER", "1")
			}
			cli := func(args ...string) string {
				t.Helper()
				out, err := run(t, append(append([]string(nil), sw...), args...)...)
				require.NoError(t, err, "%v", args)
				return out
			}
			cli("init", "--tenant", "acme")
			var snap backup.Snapshot
			out := cli("backup", "--tenant", "acme", "--source", src, "--json")
			require.NoError(t, json.Unmarshal([]byte(out), &snap), "backup --json printed %q", out)
			var snaps []backup.Snapshot
			out = cli("snapshots", "--tenant", "acme", "--json")
			require.NoError(t, json.Unmarshal([]byte(out), &snaps), "snapshots --json printed %q", out)
			require.Len(t, snaps, 1)
			require.Equal(t, snap.ID, snaps[0].ID)

			target := filepath.Join(t.TempDir(), "out")
			cli("restore", "--tenant", "acme", "--snapshot", snap.ID, "--target", target)
			for p, b := range want {
				got, err := os.ReadFile(filepath.Join(target, filepath.FromSlash(p)))
				require.NoError(t, err)
				require.True(t, bytes.Equal(b, got), "%s: restored %d bytes, want the source's %d", p, len(got), len(b))
			}

			cli("flags", "set", "beta", "--percentage", "10")
			require.Contains(t, cli("flags", "get", "beta"), "10.00%", "flags get does not show the rollout set")
			cli("prune", "--tenant", "acme")
			out = cli("audit", "verify")
			m := regexp.MustCompile(`^audit log intact: (\d+) events`).FindStringSubmatch(out)
			require.NotNil(t, m, "audit verify printed %q", out)
			n, _ := strconv.Atoi(m[1])
			require.GreaterOrEqual(t, n, 4, "audit verify: %d events, want init, backup, flags set and prune at least", n)
		})
	}
}

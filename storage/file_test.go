package storage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

const raceEnv = "STEWARD_STORAGE_RACE_DIR"

// TestFileCreateRaceAcrossProcesses starts several copies of this test
// binary that race to create the same keys with IfNotExist in one directory:
// for every key exactly one process wins, and its bytes are whole.
func TestFileCreateRaceAcrossProcesses(t *testing.T) {
	if dir := os.Getenv(raceEnv); dir != "" {
		raceChild(t, dir)
		return
	}
	dir := t.TempDir()
	const procs, keys = 4, 200
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*strings.Builder, procs)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileCreateRaceAcrossProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), raceEnv+"="+dir, fmt.Sprintf("STEWARD_RACE_ID=p%d", i))
		outs[i] = &strings.Builder{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		require.NoError(t, cmd.Start())
		cmds[i] = cmd
	}
	wins := map[string]int{}
	for i, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "child %d: %s", i, outs[i])
		for _, line := range strings.Split(outs[i].String(), "\n") {
			if k, ok := strings.CutPrefix(line, "WON "); ok {
				wins[k]++
			}
		}
	}
	s, err := storage.OpenDir(dir)
	require.NoError(t, err)
	require.Len(t, wins, keys, "every key has a winner")
	for k, n := range wins {
		require.Equal(t, 1, n, "key %s won %d times", k, n)
		b, err := storage.ReadAll(context.Background(), s, k)
		require.NoError(t, err)
		require.Regexp(t, `^p\d-x+$`, string(b))
		require.Len(t, b, 4099)
	}
	entries, err := filepath.Glob(filepath.Join(dir, "race", ".steward-tmp-*"))
	require.NoError(t, err)
	require.Empty(t, entries, "no temporary files left")
}

func raceChild(t *testing.T, dir string) {
	s, err := storage.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := os.Getenv("STEWARD_RACE_ID")
	body := id + "-" + strings.Repeat("x", 4096)
	for i := range 200 {
		key := fmt.Sprintf("race/k%03d", i)
		err := storage.PutBytes(context.Background(), s, key, []byte(body), &storage.PutOptions{IfNotExist: true})
		switch {
		case err == nil:
			fmt.Println("WON " + key)
		case errors.Is(err, storage.ErrExists):
		default:
			t.Fatal(err)
		}
	}
}

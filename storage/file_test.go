package storage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

// TestFileRefusesKeysItCannotHold checks that keys fileblob would store under
// an escaped name are refused before any I/O, for every operation, and that
// nothing is written.
func TestFileRefusesKeysItCannotHold(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := storage.OpenDir(dir)
	require.NoError(t, err)
	for _, k := range []string{"a\tb", "new\nline", "x__0x2f__y", "a../b", "d/.steward-tmp-1", "o.attrs", "del\x7f"} {
		t.Run(fmt.Sprintf("%q", k), func(t *testing.T) {
			for _, cond := range []bool{false, true} {
				err := storage.PutBytes(ctx, s, k, []byte("x"), &storage.PutOptions{IfNotExist: cond})
				require.ErrorIs(t, err, storage.ErrInvalidKey, "put IfNotExist=%v", cond)
			}
			_, err := s.Get(ctx, k)
			require.ErrorIs(t, err, storage.ErrInvalidKey)
			_, err = s.Stat(ctx, k)
			require.ErrorIs(t, err, storage.ErrInvalidKey)
			require.ErrorIs(t, s.Delete(ctx, k), storage.ErrInvalidKey)
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "refused keys write nothing")

	// Keys that merely look similar are fine and round-trip.
	for _, k := range []string{"a..", "a/b..", "..a/b", "x_0x2f", "d/steward-tmp-1", "o.attrs.json"} {
		require.NoError(t, storage.PutBytes(ctx, s, k, []byte(k), &storage.PutOptions{IfNotExist: true}), "key %q", k)
		got, err := storage.ReadAll(ctx, s, k)
		require.NoError(t, err, "key %q", k)
		require.Equal(t, k, string(got))
	}
}

// TestFilePlainPutLeavesNoTemporaryFiles overwrites objects many times and
// lists concurrently: a listing never shows a temporary file, every read sees
// a whole version, and the directory holds only the objects afterwards.
func TestFilePlainPutLeavesNoTemporaryFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := storage.OpenDir(dir)
	require.NoError(t, err)
	body := func(v int) []byte { return []byte(fmt.Sprintf("v%03d-%s", v, strings.Repeat("y", 64<<10))) }
	require.NoError(t, storage.PutBytes(ctx, s, "ow/k", body(0), nil))
	done := make(chan struct{})
	listErr := make(chan error, 1)
	go func() {
		defer close(listErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			for oi, err := range s.List(ctx, "ow/") {
				if err != nil {
					listErr <- err
					return
				}
				if oi.Key != "ow/k" {
					listErr <- fmt.Errorf("listing shows %q", oi.Key)
					return
				}
			}
			b, err := storage.ReadAll(ctx, s, "ow/k")
			if err != nil {
				listErr <- err
				return
			}
			if len(b) != len(body(0)) {
				listErr <- fmt.Errorf("read a partial object of %d bytes", len(b))
				return
			}
		}
	}()
	for v := 1; v <= 50; v++ {
		require.NoError(t, storage.PutBytes(ctx, s, "ow/k", body(v), nil))
	}
	close(done)
	require.NoError(t, <-listErr)
	got, err := storage.ReadAll(ctx, s, "ow/k")
	require.NoError(t, err)
	require.Equal(t, body(50), got)
	entries, err := os.ReadDir(filepath.Join(dir, "ow"))
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the object remains")
	require.Equal(t, "k", entries[0].Name())
}

// TestFileCreateOfATakenKeyReadsNothing: a conditional create of a key
// that exists fails with ErrExists before it reads its body or writes
// anything (no temporary file, no fsync), and leaves the object as it was;
// a directory at the key is refused the same way.
func TestFileCreateOfATakenKeyReadsNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := storage.OpenDir(dir)
	require.NoError(t, err)
	create := &storage.PutOptions{IfNotExist: true}
	require.NoError(t, storage.PutBytes(ctx, s, "reg/acme", []byte("first"), create))
	require.NoError(t, storage.PutBytes(ctx, s, "reg/sub/x", []byte("x"), nil))
	for _, key := range []string{"reg/acme", "reg/sub"} {
		body := &untouchable{}
		err := s.Put(ctx, key, body, create)
		require.ErrorIs(t, err, storage.ErrExists, key)
		require.False(t, body.read, "%s: the body was read", key)
	}
	got, err := storage.ReadAll(ctx, s, "reg/acme")
	require.NoError(t, err)
	require.Equal(t, "first", string(got))
	entries, err := os.ReadDir(filepath.Join(dir, "reg"))
	require.NoError(t, err)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.Equal(t, []string{"acme", "sub"}, names, "no temporary file was made")
}

// untouchable is a body that records being read.
type untouchable struct{ read bool }

func (u *untouchable) Read(p []byte) (int, error) {
	u.read = true
	return 0, errors.New("read")
}

// TestFileListWhileOthersWrite lists a directory that four writers keep
// adding to, each through temporary files that appear and vanish during
// the walk: every listing succeeds, lists every object that was there
// before it began, once each and in walk order, and never a temporary
// file.
func TestFileListWhileOthersWrite(t *testing.T) {
	ctx := context.Background()
	s, err := storage.OpenDir(t.TempDir())
	require.NoError(t, err)
	var before []string
	for i := range 300 {
		k := fmt.Sprintf("log/a/%04d", i)
		require.NoError(t, storage.PutBytes(ctx, s, k, []byte("x"), nil))
		before = append(before, k)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_ = storage.PutBytes(ctx, s, fmt.Sprintf("log/a/w%d-%06d", w, i), []byte("y"), nil)
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for range 40 {
		var keys []string
		for oi, err := range s.List(ctx, "log/") {
			require.NoError(t, err)
			require.NotContains(t, oi.Key, ".steward-tmp-")
			keys = append(keys, oi.Key)
		}
		require.True(t, slices.IsSorted(keys), "listed in walk order")
		require.Len(t, slices.Compact(slices.Clone(keys)), len(keys), "each key once")
		for _, k := range before {
			_, found := slices.BinarySearch(keys, k)
			require.True(t, found, "%s is listed", k)
		}
	}
}

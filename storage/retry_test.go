package storage_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/storage"
)

func noSleep(context.Context, time.Duration) error { return nil }

func TestRetryTransientFailuresAllSucceed(t *testing.T) {
	ctx := context.Background()
	fs := faultstore.New(storage.NewMemory(), 7)
	fs.AddRule(&faultstore.Rule{Probability: 0.05})
	s := storage.WithRetry(fs, &storage.RetryOptions{Attempts: 8, Sleep: noSleep})
	for i := range 400 {
		key := fmt.Sprintf("w/%04d", i)
		data := bytes.Repeat([]byte{byte(i)}, 100+i)
		require.NoError(t, s.Put(ctx, key, bytes.NewReader(data), nil))
		got, err := storage.ReadAll(ctx, s, key)
		require.NoError(t, err)
		require.Equal(t, data, got)
		_, err = s.Stat(ctx, key)
		require.NoError(t, err)
	}
	n := 0
	for _, err := range s.List(ctx, "w/") {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 400, n)
	for i := range 400 {
		require.NoError(t, s.Delete(ctx, fmt.Sprintf("w/%04d", i)))
	}
	require.Greater(t, fs.Injected(), int64(20), "the workload met injected faults")
}

func TestRetryPermanentFailureIsFinal(t *testing.T) {
	ctx := context.Background()
	fs := faultstore.New(storage.NewMemory(), 1)
	fs.AddRule(&faultstore.Rule{Op: faultstore.OpGet, FromNth: 1, Permanent: true})
	s := storage.WithRetry(fs, &storage.RetryOptions{Sleep: noSleep})
	_, err := s.Get(ctx, "k")
	require.ErrorIs(t, err, storage.ErrPermission)
	require.Equal(t, int64(1), fs.Calls(faultstore.OpGet), "a permanent error is not retried")

	_, err = s.Stat(ctx, "missing")
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.Equal(t, int64(1), fs.Calls(faultstore.OpStat), "not found is final")

	require.NoError(t, storage.PutBytes(ctx, s, "c", []byte("x"), &storage.PutOptions{IfNotExist: true}))
	err = storage.PutBytes(ctx, s, "c", []byte("y"), &storage.PutOptions{IfNotExist: true})
	require.ErrorIs(t, err, storage.ErrExists)
	require.Equal(t, int64(2), fs.Calls(faultstore.OpPut), "exists is final")
}

func TestRetryGivesUpAfterAttempts(t *testing.T) {
	fs := faultstore.New(storage.NewMemory(), 1)
	fs.AddRule(&faultstore.Rule{Op: faultstore.OpStat, FromNth: 1})
	s := storage.WithRetry(fs, &storage.RetryOptions{Attempts: 3, Sleep: noSleep})
	_, err := s.Stat(context.Background(), "k")
	require.ErrorIs(t, err, faultstore.ErrInjected)
	require.Equal(t, int64(3), fs.Calls(faultstore.OpStat))
}

func TestRetryDoesNotReplayOneShotStreams(t *testing.T) {
	fs := faultstore.New(storage.NewMemory(), 1)
	fs.AddRule(&faultstore.Rule{Op: faultstore.OpPut, Nth: 1})
	s := storage.WithRetry(fs, &storage.RetryOptions{Sleep: noSleep})
	err := s.Put(context.Background(), "k", io.MultiReader(bytes.NewReader([]byte("stream"))), nil)
	require.ErrorIs(t, err, faultstore.ErrInjected)
	require.Equal(t, int64(1), fs.Calls(faultstore.OpPut))
}

func TestRetryHonoursContext(t *testing.T) {
	fs := faultstore.New(storage.NewMemory(), 1)
	fs.AddRule(&faultstore.Rule{FromNth: 1})
	s := storage.WithRetry(fs, &storage.RetryOptions{Base: time.Hour, Max: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, err := s.Stat(ctx, "k")
	require.ErrorIs(t, err, context.Canceled)
}

func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	mem := storage.NewMemory()
	require.NoError(t, storage.PutBytes(ctx, mem, "k", []byte("v"), nil))
	ro := storage.ReadOnly(mem)
	require.ErrorIs(t, storage.PutBytes(ctx, ro, "k2", []byte("v"), nil), storage.ErrPermission)
	require.ErrorIs(t, ro.Delete(ctx, "k"), storage.ErrPermission)
	got, err := storage.ReadAll(ctx, ro, "k")
	require.NoError(t, err)
	require.Equal(t, "v", string(got))
	require.Equal(t, mem, ro.(storage.Unwrapper).Unwrap())
}

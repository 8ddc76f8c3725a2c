package faultstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/internal/faultstore"
	"github.com/iluxsys/steward/storage"
)

func TestNthFailure(t *testing.T) {
	ctx := context.Background()
	fs := faultstore.New(storage.NewMemory(), 1)
	fs.AddRule(&faultstore.Rule{Op: faultstore.OpPut, Nth: 2})
	require.NoError(t, storage.PutBytes(ctx, fs, "a", []byte("1"), nil))
	err := storage.PutBytes(ctx, fs, "b", []byte("2"), nil)
	require.ErrorIs(t, err, faultstore.ErrInjected)
	require.NoError(t, storage.PutBytes(ctx, fs, "c", []byte("3"), nil))
	_, err = fs.Unwrap().Stat(ctx, "b")
	require.ErrorIs(t, err, storage.ErrNotFound, "a failed put must write nothing")
	require.Equal(t, int64(3), fs.Calls(faultstore.OpPut))
	require.Equal(t, int64(1), fs.Injected())
}

func TestPermanentMatchesPermission(t *testing.T) {
	fs := faultstore.New(storage.NewMemory(), 1)
	fs.AddRule(&faultstore.Rule{Op: faultstore.OpGet, FromNth: 1, Permanent: true})
	_, err := fs.Get(context.Background(), "x")
	require.ErrorIs(t, err, storage.ErrPermission)
	var se *storage.Error
	require.True(t, errors.As(err, &se))
	require.Equal(t, "x", se.Key)
}

func TestProbabilityIsSeeded(t *testing.T) {
	count := func() int64 {
		fs := faultstore.New(storage.NewMemory(), 42)
		fs.AddRule(&faultstore.Rule{Probability: 0.2})
		for range 1000 {
			_, _ = fs.Stat(context.Background(), "k")
		}
		return fs.Injected()
	}
	a, b := count(), count()
	require.Equal(t, a, b, "same seed must inject the same faults")
	require.InDelta(t, 200, a, 60)
}

func TestCorruptAndShortReads(t *testing.T) {
	ctx := context.Background()
	mem := storage.NewMemory()
	data := bytes.Repeat([]byte("abcdefgh"), 100)
	require.NoError(t, storage.PutBytes(ctx, mem, "p/obj", data, nil))

	fs := faultstore.New(mem, 1)
	fs.ShortReads = true
	got, err := storage.ReadAll(ctx, fs, "p/obj")
	require.NoError(t, err)
	require.Equal(t, data, got, "short reads keep the content")

	fs.CorruptReads, fs.CorruptPrefix = true, "p/"
	got, err = storage.ReadAll(ctx, fs, "p/obj")
	require.NoError(t, err)
	require.NotEqual(t, data, got)
	require.Len(t, got, len(data))
	diff := 0
	for i := range got {
		if got[i] != data[i] {
			diff++
		}
	}
	require.Equal(t, 1, diff, "exactly one byte flipped")
}

func TestIgnoringConditional(t *testing.T) {
	ctx := context.Background()
	fs := faultstore.IgnoringConditional(storage.NewMemory())
	require.NoError(t, storage.PutBytes(ctx, fs, "k", []byte("first"), &storage.PutOptions{IfNotExist: true}))
	require.NoError(t, storage.PutBytes(ctx, fs, "k", []byte("second"), &storage.PutOptions{IfNotExist: true}))
	rc, err := fs.Get(ctx, "k")
	require.NoError(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	require.Equal(t, "second", string(b), "the decorator overwrites silently")
}

func TestLatencyAndShortReadsPerOp(t *testing.T) {
	ctx := context.Background()
	mem := storage.NewMemory()
	data := bytes.Repeat([]byte("abcdefgh"), 100)
	require.NoError(t, storage.PutBytes(ctx, mem, "obj", data, nil))

	fs := faultstore.New(mem, 1)
	fs.Latency, fs.LatencyJitter = 20*time.Millisecond, 5*time.Millisecond
	fs.LatencyOps = []faultstore.Op{faultstore.OpStat}
	start := time.Now()
	_, err := fs.Stat(ctx, "obj")
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond, "stat is delayed")
	start = time.Now()
	for range 5 {
		_, err := storage.ReadAll(ctx, fs, "obj")
		require.NoError(t, err)
	}
	require.Less(t, time.Since(start), 20*time.Millisecond, "get is not")

	fs.ShortReads, fs.ShortReadOps = true, []faultstore.Op{faultstore.OpGetRange}
	rc, err := fs.Get(ctx, "obj")
	require.NoError(t, err)
	buf := make([]byte, 100)
	n, _ := rc.Read(buf)
	rc.Close()
	require.Equal(t, 100, n, "get reads in full")
	rc, err = fs.GetRange(ctx, "obj", 8, 100)
	require.NoError(t, err)
	n, _ = rc.Read(buf)
	require.LessOrEqual(t, n, 7, "getrange reads short")
	rest, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	require.Equal(t, data[8:108], append(buf[:n:n], rest...), "short reads keep the content")
}

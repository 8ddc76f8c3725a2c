package siem_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/storage"
)

// The seam the sinks rest on, audit.Log.Observe, tested here with its
// consumer.

// TestLogObserveInOrderUnderConcurrency: with eight goroutines
// recording at once, an observer sees every event once, in sequence
// order, each chained to the one before, its JSON the stored event with
// the ID and timestamp the Log filled in.
func TestLogObserveInOrderUnderConcurrency(t *testing.T) {
	log, seen := newLog(t, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				require.NoError(t, log.Record(master(), audit.Event{Type: "host.note", Tenant: "t" + strconv.Itoa(g), Data: map[string]any{"i": i}}))
			}
		})
	}
	wg.Wait()
	all := seen.get()
	require.Len(t, all, 200)
	head, hash := log.Head()
	require.Equal(t, uint64(200), head)
	prev := ""
	for i, r := range all {
		require.Equal(t, uint64(i+1), r.Seq)
		require.Equal(t, prev, r.Prev, "seq %d is chained to the one before", r.Seq)
		sum := sha256.Sum256([]byte(strconv.FormatUint(r.Seq, 10) + "\n" + r.Prev + "\n" + string(r.JSON)))
		require.Equal(t, hex.EncodeToString(sum[:]), r.Hash)
		var e audit.Event
		require.NoError(t, json.Unmarshal(r.JSON, &e))
		require.NotEmpty(t, r.Event.ID)
		require.Equal(t, r.Event.ID, e.ID)
		require.True(t, r.Event.Timestamp.Equal(e.Timestamp))
		require.Equal(t, audit.LevelInfo, r.Event.Level, "the level as stored")
		prev = r.Hash
	}
	require.Equal(t, hash, prev)
	rep, err := log.Verify(master())
	require.NoError(t, err)
	require.Equal(t, uint64(200), rep.Events)
}

// TestLogObserveRemove: a removed observer is told nothing more; others
// go on; removing twice is harmless.
func TestLogObserveRemove(t *testing.T) {
	log, seen := newLog(t, nil)
	var mine []uint64
	remove := log.Observe(func(r audit.Recorded) { mine = append(mine, r.Seq) })
	require.NoError(t, log.Record(master(), audit.Event{Type: "host.note"}))
	remove()
	remove()
	require.NoError(t, log.Record(master(), audit.Event{Type: "host.note"}))
	require.Equal(t, []uint64{1}, mine)
	require.Len(t, seen.get(), 2)
}

// TestLogObserveOnlyItsOwn: two Logs on one store (two writers) each
// observe the events they append; the sequence numbers one sees skip the
// other's, and together they cover the log.
func TestLogObserveOnlyItsOwn(t *testing.T) {
	store := storage.NewMemory()
	a, seenA := newLog(t, store)
	b, seenB := newLog(t, store)
	ctx := context.Background()
	require.NoError(t, a.Record(ctx, audit.Event{Type: "host.note", Message: "a1"}))
	require.NoError(t, b.Record(ctx, audit.Event{Type: "host.note", Message: "b1"}))
	require.NoError(t, a.Record(ctx, audit.Event{Type: "host.note", Message: "a2"}))
	seqs := func(rs []audit.Recorded) (s []uint64) {
		for _, r := range rs {
			s = append(s, r.Seq)
		}
		return s
	}
	require.Equal(t, []uint64{1, 3}, seqs(seenA.get()))
	require.Equal(t, []uint64{2}, seqs(seenB.get()))
	require.Equal(t, seenB.get()[0].Hash, seenA.get()[1].Prev, "a's second event follows b's")
}

// TestLogObserveNotOnFailure: an event the store refused is not
// observed.
func TestLogObserveNotOnFailure(t *testing.T) {
	log, seen := newLog(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, log.Record(ctx, audit.Event{Type: "host.note"}), context.Canceled)
	require.Empty(t, seen.get())
}

package audit_test

import (
	"context"
	"encoding/json"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/storage"
)

// readCounter counts Gets.
type readCounter struct {
	storage.Store
	gets atomic.Int64
}

func (c *readCounter) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, key)
}

// TestVerifySinceIncremental: a first VerifySince checks the whole log
// and returns its head; later ones check only the events appended since,
// at a cost in reads of about the number of new events (not the log's
// length), and agree with Head.
func TestVerifySinceIncremental(t *testing.T) {
	store := &readCounter{Store: storage.NewMemory()}
	l := newLog(t, store)
	fill(t, l, 250)
	at, rep, err := l.VerifySince(master(), audit.Checkpoint{})
	require.NoError(t, err)
	require.Equal(t, uint64(250), rep.Events)
	require.Equal(t, 25, rep.Checkpoints)
	seq, hash := l.Head()
	require.Equal(t, audit.Checkpoint{Seq: seq, Hash: hash}, at)

	fill(t, l, 12)
	store.gets.Store(0)
	at2, rep, err := l.VerifySince(master(), at)
	require.NoError(t, err)
	require.Equal(t, uint64(12), rep.Events, "only the new events are checked")
	require.Equal(t, 1, rep.Checkpoints, "the checkpoint at 260")
	require.Equal(t, uint64(262), at2.Seq)
	require.LessOrEqual(t, store.gets.Load(), int64(12+3), "reads: the anchor, the new events, the one not there and a checkpoint")

	again, rep, err := l.VerifySince(master(), at2)
	require.NoError(t, err)
	require.Zero(t, rep.Events)
	require.Equal(t, at2, again, "nothing new: the point stays")

	_, _, err = l.VerifySince(context.Background(), at2)
	require.ErrorIs(t, err, steward.ErrUnauthenticated)
}

// TestVerifySinceDetectsTampering: an edited new event, an edited
// anchor event and a removed new event are each a *TamperError at the
// event, and the point returned stays where it was.
func TestVerifySinceDetectsTampering(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, store storage.Store)
		at     uint64
	}{
		{"edited new event", func(t *testing.T, store storage.Store) { editMessage(t, store, 25) }, 25},
		{"edited anchor event", func(t *testing.T, store storage.Store) { editMessage(t, store, 20) }, 20},
		{"removed new event", func(t *testing.T, store storage.Store) {
			require.NoError(t, store.Delete(context.Background(), eventKey(23)))
		}, 23},
		{"removed last event", func(t *testing.T, store storage.Store) {
			require.NoError(t, store.Delete(context.Background(), eventKey(30)))
		}, 30},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := storage.NewMemory()
			l := newLog(t, store)
			fill(t, l, 20)
			at, _, err := l.VerifySince(master(), audit.Checkpoint{})
			require.NoError(t, err)
			fill(t, l, 10)
			c.tamper(t, store)
			got, _, err := l.VerifySince(master(), at)
			requireTamperedAt(t, err, c.at, false)
			require.Equal(t, at, got)
		})
	}
}

// editMessage rewrites the message of event seq in place (its hash and
// MAC no longer match).
func editMessage(t *testing.T, store storage.Store, seq int) {
	b, err := storage.ReadAll(context.Background(), store, eventKey(seq))
	require.NoError(t, err)
	var r storedRecord
	require.NoError(t, json.Unmarshal(b, &r))
	var e map[string]any
	require.NoError(t, json.Unmarshal(r.Event, &e))
	e["message"] = "nothing happened"
	r.Event, _ = json.Marshal(e)
	b, _ = json.Marshal(r)
	require.NoError(t, storage.PutBytes(context.Background(), store, eventKey(seq), b, nil))
}

// TestDrills: the drill metrics per tenant: counts, the newest drill,
// its TTR against the SLO, the success rate; other events are ignored.
func TestDrills(t *testing.T) {
	l := newLog(t, storage.NewMemory())
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	rec := func(typ audit.EventType, tenant string, ttr, slo int64) {
		at = at.AddDate(0, 3, 0)
		require.NoError(t, l.Record(ctx, audit.Event{Type: typ, Tenant: tenant, Timestamp: at, Data: map[string]any{audit.DataTTRMS: ttr, audit.DataSLOMS: slo}}))
	}
	rec(audit.TypeDrillPassed, "bravo", 1000, 60000)
	rec(audit.TypeDrillPassed, "alpha", 2000, 60000)
	rec(audit.TypeDrillFailed, "alpha", 500, 60000)
	rec(audit.TypeBackupCreated, "alpha", 0, 0)
	rec(audit.TypeDrillPassed, "bravo", 90000, 60000)
	got, err := l.Drills(master())
	require.NoError(t, err)
	require.Len(t, got, 2)
	a, b := got[0], got[1]
	require.Equal(t, "alpha", a.Tenant)
	require.Equal(t, 1, a.Passed)
	require.Equal(t, 1, a.Failed)
	require.Equal(t, "failed", a.LastStatus)
	require.NotNil(t, a.LastSuccess)
	require.True(t, a.LastSuccess.Before(a.LastDrill))
	require.Equal(t, 0.5, a.SuccessRate)
	require.Equal(t, "bravo", b.Tenant)
	require.Equal(t, 1.0, b.SuccessRate)
	require.Equal(t, 90000.0, b.TTRMS)
	require.True(t, b.OverSLO, "90 s against a 60 s SLO")
}

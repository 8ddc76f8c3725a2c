package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/internal/record"
	"github.com/iluxsys/steward/storage"
)

// storedRecord mirrors an event object, as an attacker would edit it.
type storedRecord struct {
	Seq   uint64          `json:"seq"`
	Prev  string          `json:"prev"`
	Hash  string          `json:"hash"`
	Event json.RawMessage `json:"event"`
	Tag   string          `json:"tag,omitempty"`
}

func cpKey(seq int) string { return fmt.Sprintf("audit/checkpoints/%020d", seq) }

// rechain is the unkeyed chain hash anyone can compute.
func rechain(seq uint64, prev string, event []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\n%s\n", seq, prev)
	h.Write(event)
	return hex.EncodeToString(h.Sum(nil))
}

// anchoredLog is a keyed log (checkpoints every 10) of n events; the
// returned slice collects the checkpoints OnCheckpoint handed over.
func anchoredLog(t *testing.T, store storage.Store, n int) (*audit.Log, *[]audit.Checkpoint) {
	var got []audit.Checkpoint
	l, err := audit.NewLog(context.Background(), store, &audit.LogConfig{RecordKey: key, CheckpointEvery: 10,
		OnCheckpoint: func(_ context.Context, cp audit.Checkpoint) { got = append(got, cp) }})
	require.NoError(t, err)
	fill(t, l, n)
	return l, &got
}

// requireTamperedAt requires a *TamperError at seq, also matching
// steward.ErrForged when forged.
func requireTamperedAt(t *testing.T, err error, seq uint64, forged bool) {
	t.Helper()
	require.ErrorIs(t, err, audit.ErrTampered)
	var te *audit.TamperError
	require.True(t, errors.As(err, &te), "got %T %v, want *audit.TamperError", err, err)
	require.Equal(t, seq, te.Seq, "got the problem at %d, want %d: %v", te.Seq, seq, err)
	if forged {
		require.ErrorIs(t, err, steward.ErrForged)
	}
}

func readRec(t *testing.T, s storage.Store, seq int) storedRecord {
	b, err := storage.ReadAll(context.Background(), s, eventKey(seq))
	require.NoError(t, err)
	var r storedRecord
	require.NoError(t, json.Unmarshal(b, &r))
	return r
}

func writeRec(t *testing.T, s storage.Store, r storedRecord) {
	b, err := json.Marshal(r)
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(context.Background(), s, eventKey(int(r.Seq)), b, nil))
}

func deleteAll(t *testing.T, s storage.Store, keys ...string) {
	for _, k := range keys {
		require.NoError(t, s.Delete(context.Background(), k))
	}
}

// TestAttackCutEventsAndCheckpoints: events 13-35 and the checkpoints
// inside the cut are removed; Verify names the gap, or the first missing
// checkpoint when only checkpoints are removed.
func TestAttackCutEventsAndCheckpoints(t *testing.T) {
	cases := []struct {
		name string
		cut  bool
		seq  uint64
	}{
		{"events 13-35 and checkpoints 20, 30", true, 13},
		{"checkpoints 20, 30 only", false, 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := storage.NewMemory()
			l, _ := anchoredLog(t, store, 40)
			deleteAll(t, store, cpKey(20), cpKey(30))
			for i := 13; c.cut && i <= 35; i++ {
				deleteAll(t, store, eventKey(i))
			}
			_, err := l.Verify(master())
			requireTamperedAt(t, err, c.seq, false)
		})
	}
}

// TestAttackEditAndRechain: event 5 is edited and every later event
// re-chained with recomputed (unkeyed) hashes, every checkpoint deleted;
// the records keep their old MACs, or lose them. Verify and Query refuse
// at 5.
func TestAttackEditAndRechain(t *testing.T) {
	for _, strip := range []bool{false, true} {
		t.Run(fmt.Sprintf("strip MACs %v", strip), func(t *testing.T) {
			store := storage.NewMemory()
			l, _ := anchoredLog(t, store, 25)
			prev := readRec(t, store, 4).Hash
			for i := 5; i <= 25; i++ {
				r := readRec(t, store, i)
				if i == 5 {
					r.Event = bytes.Replace(r.Event, []byte("event 4"), []byte("event X"), 1)
				}
				r.Prev, r.Hash = prev, rechain(r.Seq, prev, r.Event)
				if strip {
					r.Tag = ""
				}
				writeRec(t, store, r)
				prev = r.Hash
			}
			deleteAll(t, store, cpKey(10), cpKey(20))
			_, err := l.Verify(master())
			requireTamperedAt(t, err, 5, true)
			_, err = l.Query(master(), audit.Filter{})
			requireTamperedAt(t, err, 5, true)
		})
	}
}

// TestAttackForgedTail: a record appended at the tail with a correct chain
// hash, but without a MAC, with another key's MAC or with a copied one, is
// refused by Verify, Query, Export, Dashboard and NewLog.
func TestAttackForgedTail(t *testing.T) {
	other, err := record.New([]byte("the attacker's own key, 32 bytes"), "audit")
	require.NoError(t, err)
	cases := map[string]func(r *storedRecord, prev storedRecord){
		"no MAC":      func(r *storedRecord, _ storedRecord) {},
		"other key":   func(r *storedRecord, _ storedRecord) { record.Stamp(other, eventKey(26), r, &r.Tag) },
		"copied MAC":  func(r *storedRecord, prev storedRecord) { r.Tag = prev.Tag },
		"checksum":    func(r *storedRecord, _ storedRecord) { record.Stamp(record.Key{}, eventKey(26), r, &r.Tag) },
		"garbage MAC": func(r *storedRecord, _ storedRecord) { r.Tag = "hmac-sha256:00" },
	}
	for name, forge := range cases {
		t.Run(name, func(t *testing.T) {
			store := storage.NewMemory()
			l, _ := anchoredLog(t, store, 25)
			last := readRec(t, store, 25)
			ev := []byte(`{"id":"x","timestamp":"2026-01-01T00:00:00Z","type":"backup.deleted","level":"info","message":"nothing to see"}`)
			r := storedRecord{Seq: 26, Prev: last.Hash, Hash: rechain(26, last.Hash, ev), Event: ev}
			forge(&r, last)
			writeRec(t, store, r)
			_, err := l.Verify(master())
			requireTamperedAt(t, err, 26, true)
			_, err = l.Query(master(), audit.Filter{})
			requireTamperedAt(t, err, 26, true)
			requireTamperedAt(t, l.Export(master(), &bytes.Buffer{}, audit.JSONL, audit.Filter{}), 26, true)
			_, err = l.Dashboard(master())
			requireTamperedAt(t, err, 26, true)
			_, err = audit.NewLog(context.Background(), store, &audit.LogConfig{RecordKey: key, CheckpointEvery: 10})
			requireTamperedAt(t, err, 26, true)
		})
	}
}

// TestAttackTruncateTailWithAnchor: the tail is cut below the newest
// checkpoint, which is deleted too. Verify cannot tell (nothing in the
// store remembers the tail); VerifyFrom with the checkpoint OnCheckpoint
// handed over names the first missing event.
func TestAttackTruncateTailWithAnchor(t *testing.T) {
	store := storage.NewMemory()
	l, anchors := anchoredLog(t, store, 25)
	require.Len(t, *anchors, 2, "checkpoints 10 and 20 handed over")
	newest := (*anchors)[1]
	require.Equal(t, uint64(20), newest.Seq)
	rep, err := l.VerifyFrom(master(), newest)
	require.NoError(t, err)
	require.Equal(t, uint64(25), rep.Events)

	deleteAll(t, store, cpKey(20))
	for i := 16; i <= 25; i++ {
		deleteAll(t, store, eventKey(i))
	}
	rep, err = l.Verify(master())
	require.NoError(t, err, "the documented limit without an anchor")
	require.Equal(t, uint64(15), rep.Events)
	_, err = l.VerifyFrom(master(), newest)
	requireTamperedAt(t, err, 16, false)

	forged := newest
	forged.Seq = 30
	_, err = l.VerifyFrom(master(), forged)
	require.ErrorIs(t, err, steward.ErrForged, "an anchor whose MAC fails is refused")
}

// TestVerifyFromHead: without a key a store writer can rewrite the chain
// consistently; a head the host kept elsewhere still shows it.
func TestVerifyFromHead(t *testing.T) {
	store := storage.NewMemory()
	l, err := audit.NewLog(context.Background(), store, nil)
	require.NoError(t, err)
	fill(t, l, 12)
	seq, hash := l.Head()
	head := audit.Checkpoint{Seq: seq, Hash: hash}
	r := readRec(t, store, 12)
	r.Event = bytes.Replace(r.Event, []byte("event 11"), []byte("event X"), 1)
	r.Hash = rechain(r.Seq, r.Prev, r.Event)
	writeRec(t, store, r)
	_, err = l.Verify(master())
	require.NoError(t, err, "without a key a consistent rewrite passes Verify")
	_, err = l.VerifyFrom(master(), head)
	requireTamperedAt(t, err, 12, false)
}

// TestCrashLeavesNewestCheckpointMissing: the newest checkpoint may be
// missing (a crash between its event and itself); reopening the log
// rewrites it, so it is no gap once the log grows past the next one.
func TestCrashLeavesNewestCheckpointMissing(t *testing.T) {
	store := storage.NewMemory()
	l, _ := anchoredLog(t, store, 25)
	deleteAll(t, store, cpKey(20))
	rep, err := l.Verify(master())
	require.NoError(t, err)
	require.Equal(t, 1, rep.Checkpoints)

	l2, anchors := anchoredLog(t, store, 10)
	require.Equal(t, []uint64{20, 30}, seqs(*anchors), "the rewritten checkpoint is handed over too")
	rep, err = l2.Verify(master())
	require.NoError(t, err)
	require.Equal(t, uint64(35), rep.Events)
	require.Equal(t, 3, rep.Checkpoints)
}

func seqs(cps []audit.Checkpoint) []uint64 {
	var out []uint64
	for _, cp := range cps {
		out = append(out, cp.Seq)
	}
	return out
}

// failingCheckpoints fails Puts of checkpoints while fail is set.
type failingCheckpoints struct {
	storage.Store
	fail bool
}

func (s *failingCheckpoints) Put(ctx context.Context, k string, r io.Reader, o *storage.PutOptions) error {
	if s.fail && strings.Contains(k, "/checkpoints/") {
		return errors.New("injected checkpoint failure")
	}
	return s.Store.Put(ctx, k, r, o)
}

// TestCheckpointWriteRetried: a checkpoint whose write failed is written
// by the next Record, before its event, so it is no gap.
func TestCheckpointWriteRetried(t *testing.T) {
	store := &failingCheckpoints{Store: storage.NewMemory()}
	l := newLog(t, store)
	fill(t, l, 9)
	store.fail = true
	require.Error(t, l.Record(context.Background(), audit.Event{Type: "x"}))
	require.Error(t, l.Record(context.Background(), audit.Event{Type: "x"}), "refused while checkpoint 10 cannot be written")
	store.fail = false
	fill(t, l, 15)
	rep, err := l.Verify(master())
	require.NoError(t, err)
	require.Equal(t, uint64(25), rep.Events)
	require.Equal(t, 2, rep.Checkpoints)
}

// TestMigrationToRecordKey: a log written without a key is pinned by the
// first record written with one; an old record edited afterwards is
// reported at its sequence number, or (re-chained) at the pin.
func TestMigrationToRecordKey(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	old, err := audit.NewLog(ctx, store, &audit.LogConfig{CheckpointEvery: 10})
	require.NoError(t, err)
	fill(t, old, 12)
	// What a log of the CheckpointKey era also holds.
	require.NoError(t, storage.PutBytes(ctx, store, cpKey(10), []byte(`{"seq":10,"hash":"x","signature":"y"}`), nil))

	l := newLog(t, store)
	_, err = l.Verify(master())
	requireTamperedAt(t, err, 1, true) // nothing written with the key pins the log yet
	fill(t, l, 10)
	rep, err := l.Verify(master())
	require.NoError(t, err)
	require.Equal(t, uint64(22), rep.Events)
	require.Equal(t, 1, rep.Checkpoints, "checkpoint 20; 10 predates the key")
	got, err := l.Query(master(), audit.Filter{})
	require.NoError(t, err)
	require.Len(t, got, 22)

	t.Run("edited", func(t *testing.T) {
		s := clone(t, store)
		r := readRec(t, s, 5)
		r.Event = bytes.Replace(r.Event, []byte("event 4"), []byte("event X"), 1)
		writeRec(t, s, r)
		requireTamperedAt(t, reopenAndVerify(s), 5, false)
	})
	t.Run("edited and re-chained", func(t *testing.T) {
		s := clone(t, store)
		prev := readRec(t, s, 4).Hash
		for i := 5; i <= 12; i++ {
			r := readRec(t, s, i)
			if i == 5 {
				r.Event = bytes.Replace(r.Event, []byte("event 4"), []byte("event X"), 1)
			}
			r.Prev, r.Hash = prev, rechain(r.Seq, prev, r.Event)
			writeRec(t, s, r)
			prev = r.Hash
		}
		requireTamperedAt(t, reopenAndVerify(s), 13, false) // the first keyed record pins 1-12
		lr := newLog(t, s)
		for e, err := range lr.Events(master(), audit.Filter{}) {
			requireTamperedAt(t, err, 13, false)
			require.Empty(t, e.ID, "nothing is yielded before the prefix is checked")
			break
		}
	})
}

// clone copies every object of src into a new memory store.
func clone(t testing.TB, src storage.Store) storage.Store {
	ctx := context.Background()
	dst := storage.NewMemory()
	for oi, err := range src.List(ctx, "") {
		require.NoError(t, err)
		b, err := storage.ReadAll(ctx, src, oi.Key)
		require.NoError(t, err)
		require.NoError(t, storage.PutBytes(ctx, dst, oi.Key, b, nil))
	}
	return dst
}

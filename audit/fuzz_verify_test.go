package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/storage"
)

// The fuzzed log: fzEvents events, a checkpoint every fzEvery. Objects are
// numbered events first (object i is event i+1), then checkpoints (object
// fzEvents+j is checkpoint (j+1)*fzEvery).
const (
	fzEvents  = 25
	fzEvery   = 5
	fzObjects = fzEvents + fzEvents/fzEvery
)

// fzObject is the key and stored bytes of object i.
type fzObject struct {
	key string
	b   []byte
}

// fzTemplate records the fuzzed log once, with fixed IDs and timestamps.
func fzTemplate(f *testing.F) []fzObject {
	ctx := context.Background()
	store := storage.NewMemory()
	l, err := audit.NewLog(ctx, store, &audit.LogConfig{RecordKey: key, CheckpointEvery: fzEvery})
	require.NoError(f, err)
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for i := range fzEvents {
		require.NoError(f, l.Record(ctx, audit.Event{ID: fmt.Sprintf("fuzz-%02d", i), Timestamp: at.Add(time.Duration(i) * time.Minute), Type: audit.TypeBackupCreated, Message: fmt.Sprintf("event %d", i)}))
	}
	objs := make([]fzObject, fzObjects)
	for i := range objs {
		objs[i].key = eventKey(i + 1)
		if i >= fzEvents {
			objs[i].key = cpKey((i - fzEvents + 1) * fzEvery)
		}
		objs[i].b, err = storage.ReadAll(ctx, store, objs[i].key)
		require.NoError(f, err)
	}
	return objs
}

// fzSeq is the sequence number of object i (event or checkpoint).
func fzSeq(i int) int {
	if i < fzEvents {
		return i + 1
	}
	return (i - fzEvents + 1) * fzEvery
}

// fzExpectTampered says whether deleting the objects in del leaves a log
// Verify must refuse, and its head: an event at or below the head is gone,
// a checkpoint at or below it other than the newest is gone, or one above
// it remains (a cut tail). Cutting the tail together with the checkpoints
// above it is not visible without an anchor.
func fzExpectTampered(del uint32) (bool, uint64) {
	gone := func(i int) bool { return del>>i&1 == 1 }
	head := 0
	for i := fzEvents - 1; i >= 0 && head == 0; i-- {
		if !gone(i) {
			head = i + 1
		}
	}
	newest := head - head%fzEvery
	for i := range fzObjects {
		s := fzSeq(i)
		switch {
		case i < fzEvents && s <= head && gone(i):
			return true, uint64(head)
		case i >= fzEvents && s <= head && s != newest && gone(i):
			return true, uint64(head)
		case i >= fzEvents && s > head && !gone(i):
			return true, uint64(head)
		}
	}
	return false, uint64(head)
}

// fzEdit changes the bytes of object i; every edit changes what they say.
// kind 1 changes a field, 2 replays another object's bytes, 3 cuts the
// bytes short (a strict prefix of a JSON object never parses).
func fzEdit(t *testing.T, objs []fzObject, i int, kind, arg uint8) []byte {
	b := objs[i].b
	switch kind {
	case 1:
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		fields := []string{"seq", "hash", "prev", "tag", "event", "mac"}
		f := fields[int(arg)%len(fields)]
		switch v := m[f].(type) {
		case float64:
			m[f] = v + 1
		case string:
			m[f] = v + "0"
		case map[string]any:
			v["message"] = "edited"
		default:
			m["hash"] = m["hash"].(string) + "0" // a checkpoint has no prev, tag or event
		}
		out, err := json.Marshal(m)
		require.NoError(t, err)
		return out
	case 2:
		return objs[(i+1+int(arg)%(fzObjects-1))%fzObjects].b
	default:
		return b[:int(arg)%len(b)]
	}
}

// FuzzVerifyDeletedObjects deletes a fuzz-chosen subset of a keyed log's
// objects (events and checkpoints) and optionally rewrites one that is
// left, then verifies: Verify must report ErrTampered whenever anything at
// or below the head was deleted or changed, and pass, counting the events
// up to the head, when nothing was.
func FuzzVerifyDeletedObjects(f *testing.F) {
	objs := fzTemplate(f)
	cp := func(seq int) uint32 { return 1 << (fzEvents + seq/fzEvery - 1) }
	ev := func(seq int) uint32 { return 1 << (seq - 1) }
	f.Add(uint32(0), uint8(0), uint8(0), uint8(0))                                 // untouched
	f.Add(ev(25)|ev(24)|ev(23)|ev(22)|ev(21)|cp(25), uint8(0), uint8(0), uint8(0)) // tail cut with its checkpoint
	f.Add(cp(25), uint8(0), uint8(0), uint8(0))                                    // crash before the newest checkpoint
	f.Add(ev(5), uint8(0), uint8(0), uint8(0))                                     // event gone
	f.Add(cp(10)|cp(15), uint8(0), uint8(0), uint8(0))                             // checkpoints gone
	f.Add(ev(25)|ev(24)|ev(23)|ev(22)|ev(21), uint8(0), uint8(0), uint8(0))        // tail cut below checkpoint 25
	f.Add(uint32(0), uint8(1), uint8(4), uint8(4))                                 // event 5 edited
	f.Add(uint32(0), uint8(2), uint8(26), uint8(0))                                // checkpoint 10 replaced by 15
	f.Add(uint32(0), uint8(3), uint8(0), uint8(40))                                // event 1 cut short
	f.Fuzz(func(t *testing.T, del uint32, kind, target, arg uint8) {
		ctx := context.Background()
		store := storage.NewMemory()
		for _, o := range objs {
			require.NoError(t, storage.PutBytes(ctx, store, o.key, o.b, nil))
		}
		l, err := audit.NewLog(ctx, store, &audit.LogConfig{RecordKey: key, CheckpointEvery: fzEvery})
		require.NoError(t, err)
		tampered, head := fzExpectTampered(del)
		if i := int(target) % fzObjects; kind%4 != 0 && del>>i&1 == 0 {
			require.NoError(t, storage.PutBytes(ctx, store, objs[i].key, fzEdit(t, objs, i, kind%4, arg), nil))
			tampered = true
		}
		for i, o := range objs {
			if del>>i&1 == 1 {
				require.NoError(t, store.Delete(ctx, o.key))
			}
		}
		rep, err := l.Verify(master())
		if tampered {
			require.ErrorIs(t, err, audit.ErrTampered, "deleted %#x, edit %d of object %d: accepted", del, kind%4, int(target)%fzObjects)
			return
		}
		require.NoError(t, err, "deleted %#x: nothing at or below the head %d", del, head)
		require.Equal(t, head, rep.Events)
	})
}

package audit_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/storage"
)

// since collects what Since yields after from, and the error that ends it.
func since(l *audit.Log, from audit.Checkpoint) ([]audit.Recorded, error) {
	var out []audit.Recorded
	for r, err := range l.Since(master(), from) {
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// TestSinceFollowsTheLog: Since from the start yields every record in
// order; from a point, only the records after it, at a cost in reads of
// those records (not the log's length), including records another Log
// appended.
func TestSinceFollowsTheLog(t *testing.T) {
	store := &readCounter{Store: storage.NewMemory()}
	l := newLog(t, store)
	fill(t, l, 250)
	all, err := since(l, audit.Checkpoint{})
	require.NoError(t, err)
	require.Len(t, all, 250)
	for i, r := range all {
		require.Equal(t, uint64(i+1), r.Seq)
		require.Equal(t, audit.TypeBackupCreated, r.Event.Type)
	}
	seq, hash := l.Head()
	require.Equal(t, hash, all[249].Hash)

	other := newLog(t, store) // a second writer appends 3 events
	fill(t, other, 3)
	store.gets.Store(0)
	more, err := since(l, audit.Checkpoint{Seq: seq, Hash: hash})
	require.NoError(t, err)
	require.Len(t, more, 3)
	require.Equal(t, uint64(251), more[0].Seq)
	require.Equal(t, hash, more[0].Prev)
	require.LessOrEqual(t, store.gets.Load(), int64(5), "reads to follow 3 events: the point, 3 records, the end")

	store.gets.Store(0)
	none, err := since(l, audit.Checkpoint{Seq: more[2].Seq, Hash: more[2].Hash})
	require.NoError(t, err)
	require.Empty(t, none)
	require.LessOrEqual(t, store.gets.Load(), int64(2), "reads with nothing new")
}

// TestSinceRefusesTampering: an edited record after the point, or a point
// whose record changed, ends Since with a TamperError naming it.
func TestSinceRefusesTampering(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	l := newLog(t, store)
	fill(t, l, 30)
	b, err := storage.ReadAll(ctx, store, eventKey(27))
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(ctx, store, eventKey(27), bytes.Replace(b, []byte("event 26"), []byte("event X"), 1), nil))

	got, err := since(l, audit.Checkpoint{})
	requireTamperedAt(t, err, 27, false)
	require.Len(t, got, 26, "the records before the edited one")
	_, err = since(l, audit.Checkpoint{Seq: 27, Hash: got[25].Hash})
	requireTamperedAt(t, err, 27, false)
}

// TestSinceIsAuthorized: a tenant-scoped principal may not follow the
// whole log.
func TestSinceIsAuthorized(t *testing.T) {
	l := newLog(t, storage.NewMemory())
	fill(t, l, 3)
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "t", Tenants: []string{"acme"}})
	for _, err := range l.Since(ctx, audit.Checkpoint{}) {
		require.ErrorIs(t, err, steward.ErrForbidden)
	}
}

// TestFollowIsSinceForTheHost: Follow yields what Since yields, whatever
// the context's principal (none, or a tenant-scoped one Since refuses),
// and refuses tampering as Since does.
func TestFollowIsSinceForTheHost(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	l := newLog(t, store)
	fill(t, l, 30)
	want, err := since(l, audit.Checkpoint{Seq: 10, Hash: mustSince(t, l)[9].Hash})
	require.NoError(t, err)
	require.Len(t, want, 20)
	tenant := steward.WithPrincipal(ctx, steward.Principal{ID: "t", Tenants: []string{"acme"}})
	for _, c := range []context.Context{ctx, tenant} {
		var got []audit.Recorded
		for r, err := range l.Follow(c, audit.Checkpoint{Seq: 10, Hash: want[0].Prev}) {
			require.NoError(t, err)
			got = append(got, r)
		}
		require.Equal(t, want, got)
	}
	b, err := storage.ReadAll(ctx, store, eventKey(27))
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(ctx, store, eventKey(27), bytes.Replace(b, []byte("event 26"), []byte("event X"), 1), nil))
	var last error
	for _, err := range l.Follow(tenant, audit.Checkpoint{}) {
		last = err
	}
	requireTamperedAt(t, last, 27, false)
}

// mustSince is since from the first record, which must succeed.
func mustSince(t *testing.T, l *audit.Log) []audit.Recorded {
	t.Helper()
	all, err := since(l, audit.Checkpoint{})
	require.NoError(t, err)
	return all
}

// TestRecentReadsFromTheTail: the newest Limit matches, newest first, at
// a cost of about Limit reads; a filter reads further back; Limit 0 reads
// everything.
func TestRecentReadsFromTheTail(t *testing.T) {
	store := &readCounter{Store: storage.NewMemory()}
	l := newLog(t, store)
	fill(t, l, 1000)
	require.NoError(t, l.Record(context.Background(), audit.Event{Type: audit.TypeFlagChanged, Tenant: "globex", Message: "flag"}))
	fill(t, l, 20)

	store.gets.Store(0)
	evs, scanned, err := l.Recent(master(), audit.Filter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, evs, 10)
	require.Equal(t, "event 19", evs[0].Message, "newest first")
	require.Equal(t, "event 10", evs[9].Message)
	require.Equal(t, 10, scanned)
	require.LessOrEqual(t, store.gets.Load(), int64(10), "reads for the newest 10 of 1,021")

	evs, scanned, err = l.Recent(master(), audit.Filter{Tenant: "globex", Limit: 10})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "flag", evs[0].Message)
	require.Equal(t, 1021, scanned, "a selective filter reads back to the first event")

	evs, _, err = l.Recent(master(), audit.Filter{Types: []audit.EventType{audit.TypeFlagChanged}, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, "flag", evs[0].Message)
	evs, _, err = l.Recent(master(), audit.Filter{})
	require.NoError(t, err)
	require.Len(t, evs, 1021)
	want, err := l.Query(master(), audit.Filter{})
	require.NoError(t, err)
	for i := range evs {
		require.Equal(t, want[len(want)-1-i].ID, evs[i].ID, "Recent is Query reversed")
	}
}

// TestRecentRecordsPlaceEachEvent: RecentRecords returns Recent's events
// with the sequence numbers and hashes Since gives them.
func TestRecentRecordsPlaceEachEvent(t *testing.T) {
	l := newLog(t, storage.NewMemory())
	fill(t, l, 40)
	require.NoError(t, l.Record(context.Background(), audit.Event{Type: audit.TypeFlagChanged, Tenant: "globex", Message: "flag"}))
	fill(t, l, 5)
	all := mustSince(t, l)
	for _, f := range []audit.Filter{{Limit: 7}, {Tenant: "globex"}, {}} {
		recs, _, err := l.RecentRecords(master(), f)
		require.NoError(t, err)
		evs, _, err := l.Recent(master(), f)
		require.NoError(t, err)
		require.Len(t, recs, len(evs))
		for i, r := range recs {
			require.Equal(t, evs[i], r.Event)
			require.Equal(t, all[r.Seq-1], r, "record %d as Since gave it", r.Seq)
		}
	}
}

// TestRecentSeesAnotherWritersEvents: events appended by another Log
// after this one's head are read too.
func TestRecentSeesAnotherWritersEvents(t *testing.T) {
	store := storage.NewMemory()
	l := newLog(t, store)
	fill(t, l, 5)
	other := newLog(t, store)
	require.NoError(t, other.Record(context.Background(), audit.Event{Type: audit.TypeFlagChanged, Message: "from the other"}))
	evs, _, err := l.Recent(master(), audit.Filter{Limit: 1})
	require.NoError(t, err)
	require.Equal(t, "from the other", evs[0].Message)
}

// TestRecentRefusesTampering: an edited record among those read, or a
// broken link, is a TamperError; the tail must keep the hash this Log
// appended.
func TestRecentRefusesTampering(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		seq  int
		edit func(b []byte) []byte
	}{
		{"edited event", 45, func(b []byte) []byte { return bytes.Replace(b, []byte("event 44"), []byte("event X"), 1) }},
		{"tail replaced", 50, func(b []byte) []byte { return bytes.Replace(b, []byte("event 49"), []byte("event X"), 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := storage.NewMemory()
			l, err := audit.NewLog(ctx, store, nil) // no key: the hashes alone must catch it
			require.NoError(t, err)
			fill(t, l, 50)
			b, err := storage.ReadAll(ctx, store, eventKey(tc.seq))
			require.NoError(t, err)
			require.NoError(t, storage.PutBytes(ctx, store, eventKey(tc.seq), tc.edit(b), nil))
			_, _, err = l.Recent(master(), audit.Filter{Limit: 20})
			requireTamperedAt(t, err, uint64(tc.seq), false)
		})
	}
}

// TestAtRereadsFollowedEvents: At reads the records a follower saw, one
// read each, and refuses one whose content or hash changed since, and one
// of another tenant when a tenant is named.
func TestAtRereadsFollowedEvents(t *testing.T) {
	ctx := context.Background()
	store := &readCounter{Store: storage.NewMemory()}
	l := newLog(t, store)
	fill(t, l, 20)
	require.NoError(t, l.Record(ctx, audit.Event{Type: audit.TypeFlagChanged, Tenant: "globex", Message: "flag"}))
	all, err := since(l, audit.Checkpoint{})
	require.NoError(t, err)
	points := []audit.Checkpoint{{Seq: 21, Hash: all[20].Hash}, {Seq: 3, Hash: all[2].Hash}}

	store.gets.Store(0)
	got, err := l.At(master(), "", points)
	require.NoError(t, err)
	require.Equal(t, "flag", got[0].Event.Message)
	require.Equal(t, "event 2", got[1].Event.Message)
	require.Equal(t, int64(2), store.gets.Load(), "one read a record")

	_, err = l.At(master(), "acme", points)
	require.ErrorIs(t, err, steward.ErrForbidden, "event 21 is globex's")
	_, err = l.At(master(), "", []audit.Checkpoint{{Seq: 3, Hash: all[3].Hash}})
	requireTamperedAt(t, err, 3, false)
	_, err = l.At(master(), "", []audit.Checkpoint{{Seq: 99, Hash: "x"}})
	require.ErrorIs(t, err, storage.ErrNotFound)
}

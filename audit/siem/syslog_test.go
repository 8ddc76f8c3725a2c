package siem_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/audit/siem"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// trickyMessages exercise the escapes of structured data and JSON.
var trickyMessages = []string{
	`plain`, `a "quoted" word`, `a ] bracket`, `a \ backslash`, `ünïcödé ✓`, `"]\` + `\"`, ``,
}

// TestSyslogToRsyslog runs a real backup.Engine on a file store whose
// audit Log streams to rsyslogd on loopback:
//
//   - every event arrives once, in order, with its sequence number and
//     fields as the Log stored them, each line's hash covering its seq,
//     prev and message; rsyslog's own parser reads the same priority,
//     MSGID and structured data;
//   - with the daemon stopped, backups and Records go on at store speed,
//     the sink drops what its queue cannot hold, and counts it;
//   - after a restart delivery resumes: every event not dropped arrives,
//     a repeated line is byte for byte the first, and the drop is
//     recorded once, in the Log and at the daemon, with its count and
//     sequence range.
func TestSyslogToRsyslog(t *testing.T) {
	daemon := startRsyslog(t)
	ctx := master()
	store, err := storage.Open(ctx, t.TempDir())
	require.NoError(t, err)
	log, seen := newLog(t, store)
	const queue = 16
	sink, err := siem.NewSyslog(daemon.addr(), &siem.SyslogConfig{Config: fastRetries(siem.Config{QueueSize: queue}), Hostname: "steward-test"})
	require.NoError(t, err)
	require.NoError(t, sink.Attach(log))
	engine, err := backup.New(store, &backup.Config{Auditor: log})
	require.NoError(t, err)

	// Phase 1: the daemon up.
	backupTenants(t, ctx, engine, "acme", "globex")
	for i, m := range trickyMessages {
		require.NoError(t, log.Record(ctx, audit.Event{Type: "host.note", Tenant: "acme", UserID: "ops", Message: m, Data: map[string]any{"i": i}}))
	}
	require.NoError(t, log.Record(ctx, audit.Event{Type: audit.TypeAccessDenied, Level: audit.LevelWarning, UserID: "eve",
		Message: "refused", Data: map[string]any{audit.DataAction: "backup", audit.DataError: "forbidden"}}))
	phase1 := seen.get()
	require.Greater(t, len(phase1), len(trickyMessages)+2, "backups recorded events")
	last := phase1[len(phase1)-1].Seq
	eventually(t, 20*time.Second, func() bool { return daemon.hasSeq(last) }, "rsyslog never wrote event %d", last)
	got := daemon.received()
	require.Len(t, got, len(phase1), "each event once")
	for i, r := range phase1 {
		require.Equal(t, uint64(i+1), r.Seq)
		requireLineOf(t, r, got[i])
		require.Equal(t, "steward-test", got[i].Hostname)
	}
	denied := got[len(got)-1]
	require.Equal(t, "failure", denied.Outcome)
	require.Equal(t, "backup", denied.Action)
	require.Equal(t, siem.SeverityError, denied.Severity)
	requireRsyslogParsed(t, daemon, got)

	// Phase 2: the daemon down. Nothing waits for it.
	daemon.stop()
	start := time.Now()
	backupTenants(t, ctx, engine, "acme")
	for i := range 10 * queue {
		require.NoError(t, log.Record(ctx, audit.Event{Type: "host.note", Tenant: "acme", Message: fmt.Sprint("while down ", i)}))
	}
	require.Less(t, time.Since(start), 20*time.Second, "Records waited for the daemon")
	require.Greater(t, sink.Dropped(), uint64(0), "a full queue drops")
	require.LessOrEqual(t, sink.Queued(), queue)
	require.Empty(t, dropEvents(t, log), "the drop is recorded once the outage is over")

	// Phase 3: the daemon back.
	require.NoError(t, daemon.start())
	eventually(t, 20*time.Second, func() bool { return len(dropEvents(t, log)) == 1 }, "the drop was not recorded")
	require.NoError(t, log.Record(ctx, audit.Event{Type: "host.note", Message: "after the restart"}))
	all := seen.get()
	final := all[len(all)-1].Seq
	eventually(t, 20*time.Second, func() bool { return daemon.hasSeq(final) }, "delivery did not resume (event %d)", final)
	left, err := sink.Close(context.Background())
	require.NoError(t, err)
	require.Zero(t, left)

	drop := dropEvents(t, log)
	require.Len(t, drop, 1, "one drop event per outage")
	t.Logf("%d events, %d lines received, %d dropped: %s", final, len(daemon.received()), sink.Dropped(), drop[0].Message)
	requireResumed(t, daemon.received(), all, drop[0], sink.Dropped())
}

// backupTenants backs up a small tree of each tenant.
func backupTenants(t *testing.T, ctx context.Context, e *backup.Engine, tenants ...string) {
	t.Helper()
	for _, tn := range tenants {
		src := backup.FSSource(fstest.MapFS{"users/a.json": {Data: []byte(tn + time.Now().String()), Mode: 0o644}})
		_, err := e.Backup(ctx, tn, src, nil)
		require.NoError(t, err)
	}
}

// dropEvents are the Log's TypeDropped events.
func dropEvents(t *testing.T, log *audit.Log) []audit.Event {
	t.Helper()
	evs, err := log.Query(master(), audit.Filter{Types: []audit.EventType{siem.TypeDropped}})
	require.NoError(t, err)
	return evs
}

// requireRsyslogParsed: rsyslog's own parser reads each line's priority,
// APP-NAME, MSGID and structured data as written.
func requireRsyslogParsed(t *testing.T, d *rsyslogd, lines []*siem.Line) {
	t.Helper()
	parsed := d.file("parsed.log")
	require.Len(t, parsed, len(lines))
	for i, l := range lines {
		raw := string(l.Append(nil))
		sd := raw[strings.Index(raw, " [")+1 : strings.LastIndex(raw, "] {")+1]
		want := fmt.Sprintf("%d|steward|%s|%s", l.Facility*8+l.Severity, l.MsgID, sd)
		require.Equal(t, want, parsed[i], "rsyslog's reading of line %d", l.Seq)
	}
}

// requireResumed checks what the daemon received over the whole run
// against every event the Log stored: each arrived, except the ones
// dropped; a line seen twice (written again after a reconnection) is the
// same line; first sightings are in order.
func requireResumed(t *testing.T, got []*siem.Line, all []audit.Recorded, drop audit.Event, dropped uint64) {
	t.Helper()
	first := map[uint64]*siem.Line{}
	var prev uint64
	for _, l := range got {
		if f, ok := first[l.Seq]; ok {
			require.Equal(t, f.Append(nil), l.Append(nil), "seq %d arrived twice, different", l.Seq)
			continue
		}
		require.Greater(t, l.Seq, prev, "first sightings out of order")
		first[l.Seq], prev = l, l.Seq
	}
	lo, hi := num(t, drop.Data[siem.DataFirstSeq]), num(t, drop.Data[siem.DataLastSeq])
	require.Equal(t, dropped, num(t, drop.Data[siem.DataDropped]))
	var missing uint64
	for _, r := range all {
		l, ok := first[r.Seq]
		if !ok {
			require.True(t, r.Seq >= lo && r.Seq <= hi, "event %d missing outside the dropped range %d-%d", r.Seq, lo, hi)
			missing++
			continue
		}
		requireLineOf(t, r, l)
	}
	require.Equal(t, dropped, missing, "missing events are the ones dropped")
	dl := first[seqOf(t, all, siem.TypeDropped)]
	require.NotNil(t, dl, "the drop event reached the daemon")
	require.Equal(t, "failure", dl.Outcome)
	require.Contains(t, dl.Message, strconv.FormatUint(dropped, 10)+" audit events")
}

func seqOf(t *testing.T, all []audit.Recorded, typ audit.EventType) uint64 {
	t.Helper()
	for _, r := range all {
		if r.Event.Type == typ {
			return r.Seq
		}
	}
	t.Fatalf("no %s event", typ)
	return 0
}

// num reads a number from an event read back (float64).
func num(t *testing.T, v any) uint64 {
	t.Helper()
	f, ok := v.(float64)
	require.True(t, ok, "%v (%T) is not a number read back", v, v)
	return uint64(f)
}

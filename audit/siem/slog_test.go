package siem_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/audit/siem"
)

// TestSlogSink: each event becomes one slog record, in order, at its
// time and level, with the documented attribute names in the "audit"
// group and Data in its "data" group.
func TestSlogSink(t *testing.T) {
	var buf bytes.Buffer
	log, seen := newLog(t, nil)
	sink := siem.NewSlog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), nil)
	require.NoError(t, sink.Attach(log))
	ctx := master()
	require.NoError(t, log.Record(ctx, audit.Event{Type: audit.TypeBackupCreated, Tenant: "acme", UserID: "ops", Message: "full backup",
		Data: map[string]any{audit.DataSnapshotID: "s1", audit.DataSizeBytes: 42}}))
	require.NoError(t, log.Record(ctx, audit.Event{Type: audit.TypeRPOBreach, Level: audit.LevelWarning, Tenant: "acme"}))
	require.NoError(t, log.Record(ctx, audit.Event{Type: audit.TypeAccessDenied, Level: audit.LevelWarning, UserID: "eve", Message: "refused",
		Data: map[string]any{audit.DataAction: "restore", audit.DataError: "forbidden"}}))
	left, err := sink.Close(context.Background())
	require.NoError(t, err)
	require.Zero(t, left)

	var recs, top []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		top = append(top, m)
		a, ok := m[siem.AttrGroup].(map[string]any)
		require.True(t, ok, "no %q group in %s", siem.AttrGroup, line)
		recs = append(recs, a)
	}
	all := seen.get()
	require.Len(t, recs, 3)
	for i, r := range all {
		m := recs[i]
		require.Equal(t, float64(r.Seq), m[siem.ParamSeq])
		require.Equal(t, r.Event.ID, m[siem.ParamID])
		require.Equal(t, string(r.Event.Type), m[siem.ParamType])
		require.Equal(t, r.Hash, m[siem.ParamHash])
		require.Equal(t, r.Prev, m[siem.ParamPrev])
		require.Equal(t, r.Event.Timestamp.Format("2006-01-02T15:04:05.999999999Z07:00"), top[i]["time"], "the record's time is the event's")
		require.Equal(t, string(r.Event.Level), m[siem.ParamLevel])
	}
	require.Equal(t, "full backup", top[0]["msg"])
	require.Equal(t, "INFO", top[0]["level"])
	require.Equal(t, "success", recs[0][siem.ParamOutcome])
	require.Equal(t, map[string]any{audit.DataSnapshotID: "s1", audit.DataSizeBytes: float64(42)}, recs[0][siem.AttrData])
	require.Equal(t, "rpo.breach", top[1]["msg"], "an empty message is the type")
	require.Equal(t, "WARN", top[1]["level"])
	require.Equal(t, "ERROR", top[2]["level"], "an access denial is a failure")
	require.Equal(t, "failure", recs[2][siem.ParamOutcome])
	require.Equal(t, "restore", recs[2][siem.ParamAction])
	require.Equal(t, "eve", recs[2][siem.ParamPrincipal])
}

// flakyHandler fails its first n records, then keeps them.
type flakyHandler struct {
	mu    sync.Mutex
	fails int
	seqs  []uint64
}

func (h *flakyHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *flakyHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *flakyHandler) WithGroup(string) slog.Handler            { return h }

func (h *flakyHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fails > 0 {
		h.fails--
		return errors.New("collector unavailable")
	}
	r.Attrs(func(a slog.Attr) bool {
		for _, a := range a.Value.Group() {
			if a.Key == siem.ParamSeq {
				h.seqs = append(h.seqs, a.Value.Uint64())
			}
		}
		return true
	})
	return nil
}

// TestSlogSinkRetriesAFailingHandler: a handler's error is a failed
// delivery: the record is handled again, and the order kept.
func TestSlogSinkRetriesAFailingHandler(t *testing.T) {
	h := &flakyHandler{fails: 3}
	log, _ := newLog(t, nil)
	var errs []error
	cfg := fastRetries(siem.Config{OnError: func(err error) { errs = append(errs, err) }})
	sink := siem.NewSlog(slog.New(h), &cfg)
	require.NoError(t, sink.Attach(log))
	for range 5 {
		require.NoError(t, log.Record(master(), audit.Event{Type: "host.note"}))
	}
	_, err := sink.Close(context.Background())
	require.NoError(t, err)
	require.Equal(t, []uint64{1, 2, 3, 4, 5}, h.seqs)
	require.Len(t, errs, 3)
	require.ErrorContains(t, errs[0], "siem: slog handler: collector unavailable")
}

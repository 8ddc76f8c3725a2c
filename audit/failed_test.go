package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/storage"
)

func TestEventFailed(t *testing.T) {
	cases := []struct {
		name string
		e    audit.Event
		want bool
	}{
		{"success", audit.Event{Type: audit.TypeBackupCreated}, false},
		{"info level", audit.Event{Type: audit.TypeFlagChanged, Level: audit.LevelInfo}, false},
		{"warning without error", audit.Event{Type: audit.TypeRPOBreach, Level: audit.LevelWarning}, false},
		{"error level under a success type", audit.Event{Type: audit.TypeRepoInitialized, Level: audit.LevelError}, true},
		{"DataError under a success type", audit.Event{Type: audit.TypeRetentionApplied, Data: map[string]any{audit.DataError: "boom"}}, true},
		{"empty DataError", audit.Event{Type: audit.TypeFlagChanged, Data: map[string]any{audit.DataError: ""}}, false},
		{"non-string DataError", audit.Event{Type: audit.TypeFlagChanged, Data: map[string]any{audit.DataError: map[string]any{"code": 1.0}}}, true},
		{"access denied", audit.Event{Type: audit.TypeAccessDenied, Level: audit.LevelWarning, Data: map[string]any{audit.DataError: "forbidden"}}, true},
		{"failure type at info level", audit.Event{Type: audit.TypeBackupFailed}, true},
		{"deploy failure type", audit.Event{Type: audit.TypeReleaseDeployFail, Level: audit.LevelInfo}, true},
		{"host type", audit.Event{Type: "host.thing"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, c.e.Failed(), "Failed() of %+v", c.e)
		})
	}
}

// oldEvent is an event as the code before EventType encoded it, by hand:
// Type was a plain string field with the tag "type".
const oldEvent = `{"id":"0190a3c4-0000-7000-8000-000000000001","timestamp":"2026-04-01T10:00:00Z",` +
	`"type":"repo.initialized","level":"error","message":"repository of \"acme\" created: already exists",` +
	`"user_id":"ops","tenant":"acme","data":{"error":"already exists"}}`

// A log written before EventType, and before Failed, reads back unchanged:
// the type is the same string, the failure recorded under a success type
// is one, and the stored bytes still verify.
func TestOldLogReadsBack(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	h := sha256.Sum256([]byte("1\n\n" + oldEvent)) // chainHash(1, "", event)
	rec, err := json.Marshal(map[string]any{"seq": 1, "prev": "", "hash": hex.EncodeToString(h[:]), "event": json.RawMessage(oldEvent)})
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(ctx, store, eventKey(1), rec, nil))

	l, err := audit.NewLog(ctx, store, nil)
	require.NoError(t, err)
	rep, err := l.Verify(master())
	require.NoError(t, err)
	require.Equal(t, uint64(1), rep.Events)
	got, err := l.Query(master(), audit.Filter{Types: []audit.EventType{audit.TypeRepoInitialized}})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, audit.TypeRepoInitialized, got[0].Type)
	require.True(t, got[0].Failed())
	b, err := json.Marshal(got[0])
	require.NoError(t, err)
	require.JSONEq(t, oldEvent, string(b))
	require.Equal(t, oldEvent, string(b), "the same bytes, field order included")

	r, err := audit.DecodeRecord(rec)
	require.NoError(t, err)
	require.Equal(t, audit.EventType("repo.initialized"), r.Event.Type)

	// The log goes on after it.
	require.NoError(t, l.Record(ctx, audit.Event{Type: audit.TypeBackupCreated, Tenant: "acme"}))
	rep, err = l.Verify(master())
	require.NoError(t, err)
	require.Equal(t, uint64(2), rep.Events)
	stored, err := storage.ReadAll(ctx, store, eventKey(1))
	require.NoError(t, err)
	require.Equal(t, rec, stored)
}

// The packages record failures under their usual types with LevelError
// and DataError (backup.Engine.Init, retention.Apply, flags.Set): the
// Dashboard counts them as failures, not successes.
func TestDashboardCountsFailuresWhateverTheType(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	l, err := audit.NewLog(context.Background(), storage.NewMemory(), &audit.LogConfig{Clock: fakeclock.New(now)})
	require.NoError(t, err)
	failed := func(typ audit.EventType, msg string) audit.Event {
		return audit.Event{Type: typ, Level: audit.LevelError, Tenant: "acme", Message: msg, Data: map[string]any{audit.DataError: msg}}
	}
	for _, e := range []audit.Event{
		failed(audit.TypeRepoInitialized, `repository of "acme" already exists`),
		failed(audit.TypeRetentionApplied, `retention of "acme" failed: lock held`),
		failed(audit.TypeFlagChanged, `flag "beta" not changed: version conflict`),
		{Type: audit.TypeFlagChanged, Message: `flag "beta" set to on`},
		{Type: audit.TypeRetentionApplied, Tenant: "acme", Message: `retention of "acme": 3 kept, 1 forgotten`},
		// Under a backup type, with the failure only in DataError.
		{Type: audit.TypeBackupCreated, Tenant: "acme", Data: map[string]any{audit.DataError: "upload failed", audit.DataDurationMS: 5}},
		{Type: audit.TypeBackupCreated, Tenant: "acme", Data: map[string]any{audit.DataDurationMS: 100}},
		{Type: audit.TypeRestoreCompleted, Tenant: "acme", Level: audit.LevelError, Data: map[string]any{audit.DataTTRMS: 1}},
		{Type: audit.TypeReleaseDeployed, Data: map[string]any{audit.DataVersion: "1.0.0"}},
		// A deployment whose record failed: it does not make 2.0.0 active.
		{Type: audit.TypeReleaseDeployed, Level: audit.LevelError, Data: map[string]any{audit.DataVersion: "2.0.0", audit.DataError: "append failed"}},
		{Type: audit.TypeReleaseDeployFail, Level: audit.LevelError, Data: map[string]any{audit.DataError: "artifact missing"}},
	} {
		require.NoError(t, l.Record(context.Background(), e))
	}
	d, err := l.Dashboard(master())
	require.NoError(t, err)

	require.Equal(t, 11, d.Events.TotalCount)
	require.Equal(t, 7, d.Events.FailedCount)
	require.Equal(t, 4, d.Events.SuccessCount, "the failed repo.initialized, retention.applied and flag.changed are not successes")
	require.Equal(t, map[audit.EventType]int{
		audit.TypeRepoInitialized:   1,
		audit.TypeRetentionApplied:  1,
		audit.TypeFlagChanged:       1,
		audit.TypeBackupCreated:     1,
		audit.TypeRestoreCompleted:  1,
		audit.TypeReleaseDeployed:   1,
		audit.TypeReleaseDeployFail: 1,
	}, d.Events.FailuresByType)
	require.Equal(t, now, *d.Events.LastFailure)

	require.Equal(t, 2, d.TenantBackups.TotalCount)
	require.Equal(t, 1, d.TenantBackups.FailedCount, "backup.created with a DataError is a failed backup")
	require.InDelta(t, 100, d.TenantBackups.AvgDurationMS, 1e-9, "the failure's duration is left out")
	require.InDelta(t, 0.5, d.TenantBackups.SuccessRate, 1e-9)
	require.Equal(t, 1, d.Restores.FailedCount)
	require.Zero(t, d.Restores.SuccessCount)
	require.Equal(t, 1, d.Releases.TotalCount)
	require.Equal(t, 2, d.Releases.FailedCount)
	require.Equal(t, "1.0.0", d.Releases.ActiveVersion)

	b, err := json.Marshal(d)
	require.NoError(t, err)
	require.Contains(t, string(b), `"events":{"total_count":11,"success_count":4,"failed_count":7,`)

	// The Dashboard returned is a copy.
	bld := audit.NewDashboardBuilder(now)
	bld.Add(&audit.Event{Type: audit.TypeFlagChanged, Level: audit.LevelError})
	first := bld.Result()
	bld.Add(&audit.Event{Type: audit.TypeFlagChanged, Level: audit.LevelError})
	require.Equal(t, 1, first.Events.FailuresByType[audit.TypeFlagChanged])
}

// Exports carry each event's outcome; FailuresOnly selects failures
// whatever their type and level.
func TestExportOutcome(t *testing.T) {
	ctx := context.Background()
	l, err := audit.NewLog(ctx, storage.NewMemory(), nil)
	require.NoError(t, err)
	require.NoError(t, l.Record(ctx, audit.Event{Type: audit.TypeFlagChanged, Message: "set"}))
	require.NoError(t, l.Record(ctx, audit.Event{Type: audit.TypeFlagChanged, Level: audit.LevelError, Message: "not set", Data: map[string]any{audit.DataError: "conflict"}}))
	require.NoError(t, l.Record(ctx, audit.Event{Type: audit.TypeAccessDenied, Level: audit.LevelWarning, Data: map[string]any{audit.DataError: "forbidden"}}))

	var jl bytes.Buffer
	require.NoError(t, l.Export(master(), &jl, audit.JSONL, audit.Filter{}))
	var outcomes []string
	for line := range strings.Lines(jl.String()) {
		var row struct {
			Type    string `json:"type"`
			Outcome string `json:"outcome"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &row))
		outcomes = append(outcomes, row.Type+" "+row.Outcome)
		var e audit.Event
		require.NoError(t, json.Unmarshal([]byte(line), &e), "an export line still decodes as an Event")
	}
	require.Equal(t, []string{"flag.changed success", "flag.changed failure", "access.denied failure"}, outcomes)

	var cs bytes.Buffer
	require.NoError(t, l.Export(master(), &cs, audit.CSV, audit.Filter{FailuresOnly: true}))
	rows, err := csv.NewReader(&cs).ReadAll()
	require.NoError(t, err)
	require.Equal(t, audit.CSVHeader, rows[0])
	require.Equal(t, "outcome", rows[0][len(rows[0])-1], "the new column comes last")
	require.Len(t, rows, 3, "header and the two failures")
	for _, r := range rows[1:] {
		require.Equal(t, "failure", r[len(r)-1])
	}
}

// Notifiers follow the same rule: a failed flag change notifies and is
// logged at error level, though recorded under a success type.
func TestNotifyFailuresWhateverTheType(t *testing.T) {
	require.True(t, audit.DefaultNotifyFilter(&audit.Event{Type: audit.TypeFlagChanged, Data: map[string]any{audit.DataError: "conflict"}}))
	require.True(t, audit.DefaultNotifyFilter(&audit.Event{Type: audit.TypeRetentionApplied, Level: audit.LevelError}))
	require.False(t, audit.DefaultNotifyFilter(&audit.Event{Type: audit.TypeFlagChanged}))
	require.True(t, audit.DefaultNotifyFilter(&audit.Event{Type: audit.TypeRPOBreach, Level: audit.LevelWarning}))

	var buf bytes.Buffer
	n := audit.Slog{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	require.NoError(t, n.Notify(context.Background(), audit.Event{Type: audit.TypeFlagChanged, Level: audit.LevelInfo, Message: "not set", Data: map[string]any{audit.DataError: "conflict"}}))
	require.Contains(t, buf.String(), `"level":"ERROR"`)
	require.Contains(t, buf.String(), `"outcome":"failure"`)
	require.Contains(t, buf.String(), `"type":"flag.changed"`)
}

// Webhook and SMTP bodies carry the outcome; the SMTP subject says ERROR
// for a failure recorded at a lower level.
func TestNotifiersCarryOutcome(t *testing.T) {
	bodies := make(chan []byte, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
	}))
	defer srv.Close()
	a := audit.Notifying(audit.Nop(), nil, func(_ audit.Notifier, err error) { t.Error(err) }, &audit.Webhook{URL: srv.URL})
	require.NoError(t, a.Record(context.Background(), audit.Event{Type: audit.TypeFlagChanged, Message: "set"}))
	require.NoError(t, a.Record(context.Background(), audit.Event{Type: audit.TypeFlagChanged, Message: "not set", Data: map[string]any{audit.DataError: "conflict"}}))
	require.Len(t, bodies, 1, "only the failure notifies")
	var got struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Outcome string `json:"outcome"`
	}
	require.NoError(t, json.Unmarshal(<-bodies, &got))
	require.Equal(t, "flag.changed not set failure", got.Type+" "+got.Message+" "+got.Outcome)

	addr, msgs := smtpServer(t)
	n := &audit.SMTP{Addr: addr, From: "steward@example.test", To: []string{"ops@example.test"}}
	require.NoError(t, n.Notify(context.Background(), audit.Event{Type: audit.TypeAccessDenied, Level: audit.LevelWarning, Tenant: "acme", Data: map[string]any{audit.DataError: "forbidden"}}))
	select {
	case m := <-msgs:
		require.Contains(t, m, "Subject: [steward] ERROR access.denied acme")
		require.Contains(t, m, `"outcome": "failure"`)
	case <-time.After(5 * time.Second):
		t.Fatal("no mail received")
	}
}

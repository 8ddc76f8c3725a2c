package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/storage"
)

const fzCheckpointKey = "audit/checkpoints/00000000000000000010"

// fzFill records 20 events with fixed IDs and timestamps, so the chain and
// its signed checkpoints are the same on every run (the stored seeds hold
// genuine checkpoints).
func fzFill(t testing.TB, l *audit.Log) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for i := range 20 {
		require.NoError(t, l.Record(context.Background(), audit.Event{ID: fmt.Sprintf("fuzz-%02d", i), Timestamp: at.Add(time.Duration(i) * time.Minute),
			Type: audit.TypeBackupCreated, Message: fmt.Sprintf("event %d", i), Tenant: "acme", Data: map[string]any{"i": i}}))
	}
}

// FuzzVerifyCheckpoint replaces checkpoint 10 of a 20-event log with the
// fuzzed bytes and verifies the log: only checkpoint 10 as the log signed it
// passes (checkpoint 20, whose MAC is bound to its own name, does not);
// anything else is ErrTampered, never a panic.
func FuzzVerifyCheckpoint(f *testing.F) {
	ctx := context.Background()
	store := storage.NewMemory()
	l := newLog(f, store)
	fzFill(f, l)
	var signed []audit.Checkpoint
	for _, k := range []string{fzCheckpointKey, "audit/checkpoints/00000000000000000020"} {
		b, err := storage.ReadAll(ctx, store, k)
		require.NoError(f, err)
		f.Add(b)
		var cp audit.Checkpoint
		require.NoError(f, json.Unmarshal(b, &cp))
		signed = append(signed, cp)
	}
	f.Add([]byte(`{"seq":0,"hash":"","mac":""}`))
	f.Add([]byte(`{"seq":99,"hash":"x","mac":"y"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		require.NoError(t, storage.PutBytes(ctx, store, fzCheckpointKey, b, nil))
		rep, err := l.Verify(master())
		var cp audit.Checkpoint
		if json.Unmarshal(b, &cp) == nil && cp == signed[0] {
			require.NoError(t, err)
			require.Equal(t, uint64(20), rep.Events)
			require.Equal(t, 2, rep.Checkpoints)
			return
		}
		require.ErrorIs(t, err, audit.ErrTampered, "accepted checkpoint %q", b)
	})
}

func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{"json", "JSONL", " csv\n", "xml", "", "json l"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := audit.ParseFormat(s)
		if err != nil {
			require.Empty(t, got)
			require.Contains(t, err.Error(), "use json, jsonl or csv")
			return
		}
		require.Contains(t, []audit.Format{audit.JSON, audit.JSONL, audit.CSV}, got)
		require.Equal(t, strings.ToLower(strings.TrimSpace(s)), string(got))
		again, err := audit.ParseFormat(string(got))
		require.NoError(t, err)
		require.Equal(t, got, again)
	})
}

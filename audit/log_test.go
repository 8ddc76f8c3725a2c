package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/audit/audittest"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/storage"
)

func master() context.Context {
	return steward.WithPrincipal(context.Background(), steward.Principal{ID: "auditor", Roles: []string{steward.RoleMaster}})
}

var key = []byte("audit record key for tests")

func newLog(t testing.TB, store storage.Store) *audit.Log {
	l, err := audit.NewLog(context.Background(), store, &audit.LogConfig{RecordKey: key, CheckpointEvery: 10})
	require.NoError(t, err)
	return l
}

func fill(t testing.TB, l *audit.Log, n int) {
	for i := range n {
		require.NoError(t, l.Record(context.Background(), audit.Event{Type: audit.TypeBackupCreated, Message: fmt.Sprintf("event %d", i), Tenant: "acme", Data: map[string]any{"i": i}}))
	}
}

func TestConformance(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Auditor { return newLog(t, storage.NewMemory()) })
	audittest.Run(t, func(t *testing.T) audit.Auditor { return audit.Nop() })
}

func TestVerifyUntouched(t *testing.T) {
	n := 10_000
	if os.Getenv("STEWARD_HEAVY") != "" {
		n = 100_000
	}
	store := storage.NewMemory()
	l := newLog(t, store)
	fill(t, l, n)
	start := time.Now()
	rep, err := l.Verify(master())
	require.NoError(t, err)
	require.Equal(t, uint64(n), rep.Events)
	require.Equal(t, n/10, rep.Checkpoints)
	t.Logf("verified %d events in %s", n, time.Since(start))
	// A reopened log continues the chain.
	l2 := newLog(t, store)
	fill(t, l2, 3)
	rep, err = l2.Verify(master())
	require.NoError(t, err)
	require.Equal(t, uint64(n+3), rep.Events)
}

func eventKey(seq int) string { return fmt.Sprintf("audit/events/%020d", seq) }

func TestVerifyDetectsTampering(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		tamper func(t *testing.T, s storage.Store)
		seq    uint64
	}{
		{"edited field", func(t *testing.T, s storage.Store) {
			b, err := storage.ReadAll(ctx, s, eventKey(7))
			require.NoError(t, err)
			b = bytes.Replace(b, []byte("event 6"), []byte("event X"), 1)
			require.NoError(t, storage.PutBytes(ctx, s, eventKey(7), b, nil))
		}, 7},
		{"deleted event", func(t *testing.T, s storage.Store) {
			require.NoError(t, s.Delete(ctx, eventKey(12)))
		}, 12},
		{"swapped events", func(t *testing.T, s storage.Store) {
			a, _ := storage.ReadAll(ctx, s, eventKey(4))
			b, _ := storage.ReadAll(ctx, s, eventKey(5))
			require.NoError(t, storage.PutBytes(ctx, s, eventKey(4), b, nil))
			require.NoError(t, storage.PutBytes(ctx, s, eventKey(5), a, nil))
		}, 4},
		{"truncated tail", func(t *testing.T, s storage.Store) {
			for i := 15; i <= 25; i++ {
				require.NoError(t, s.Delete(ctx, eventKey(i)))
			}
		}, 15},
		{"rewritten chain", func(t *testing.T, s storage.Store) {
			// An attacker rewrites events 15..25 with valid hashes but
			// cannot make their MACs.
			for i := 15; i <= 25; i++ {
				require.NoError(t, s.Delete(ctx, eventKey(i)))
			}
			l, err := audit.NewLog(ctx, s, &audit.LogConfig{CheckpointEvery: 1000})
			require.NoError(t, err)
			fill(t, l, 11)
		}, 15},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := storage.NewMemory()
			l := newLog(t, store)
			fill(t, l, 25)
			_, err := l.Verify(master())
			require.NoError(t, err)
			c.tamper(t, store)
			err = reopenAndVerify(store)
			require.ErrorIs(t, err, audit.ErrTampered)
			var te *audit.TamperError
			require.True(t, errors.As(err, &te))
			require.Equal(t, c.seq, te.Seq, "first problem at %d: %v", c.seq, err)
			require.Contains(t, te.Key, "audit/")
		})
	}
}

// reopenAndVerify opens the log in store with the key and verifies it: it
// returns the first error, NewLog's (which checks the tail) or Verify's.
func reopenAndVerify(store storage.Store) error {
	l, err := audit.NewLog(context.Background(), store, &audit.LogConfig{RecordKey: key, CheckpointEvery: 10})
	if err != nil {
		return err
	}
	_, err = l.Verify(master())
	return err
}

func TestConcurrentWritersOneChain(t *testing.T) {
	per := 2000
	if os.Getenv("STEWARD_HEAVY") != "" {
		per = 10_000
	}
	store := storage.NewMemory()
	a, b := newLog(t, store), newLog(t, store) // two writers with their own tails
	var wg sync.WaitGroup
	for _, l := range []*audit.Log{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fill(t, l, per)
		}()
	}
	wg.Wait()
	rep, err := newLog(t, store).Verify(master())
	require.NoError(t, err)
	require.Equal(t, uint64(2*per), rep.Events)
}

const childEnv = "STEWARD_AUDIT_CHILD_DIR"

// perProcess is the events each child appends: 10,000 with STEWARD_HEAVY.
func perProcess() int {
	if os.Getenv("STEWARD_HEAVY") != "" {
		return 10_000
	}
	return 500
}

func TestTwoProcessesOneChain(t *testing.T) {
	if dir := os.Getenv(childEnv); dir != "" {
		s, err := storage.OpenDir(dir)
		require.NoError(t, err)
		l := newLog(t, s)
		fill(t, l, perProcess())
		return
	}
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTwoProcessesOneChain$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+dir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(out.String())
			}
		})
	}
	for _, c := range cmds {
		require.NoError(t, c.Wait())
	}
	s, err := storage.OpenDir(dir)
	require.NoError(t, err)
	rep, err := newLog(t, s).Verify(master())
	require.NoError(t, err)
	require.Equal(t, uint64(2*perProcess()), rep.Events)
}

func TestQueryAndExport(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	l, err := audit.NewLog(context.Background(), storage.NewMemory(), &audit.LogConfig{Clock: clock})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, l.Record(ctx, audit.Event{Type: audit.TypeBackupCreated, Tenant: "acme", UserID: "u1", Message: "=HYPERLINK(\"http://evil\")"}))
	clock.Advance(time.Hour)
	require.NoError(t, l.Record(ctx, audit.Event{Type: audit.TypeBackupFailed, Level: audit.LevelError, Tenant: "globex", UserID: "u2", Message: "-1+2", Data: map[string]any{"error": "@SUM(A1)"}}))
	clock.Advance(time.Hour)
	require.NoError(t, l.Record(ctx, audit.Event{Type: audit.TypeRestoreCompleted, Tenant: "acme", UserID: "u1", Message: "fine"}))

	got, err := l.Query(master(), audit.Filter{Tenant: "acme"})
	require.NoError(t, err)
	require.Len(t, got, 2)
	got, err = l.Query(master(), audit.Filter{Levels: []audit.Level{audit.LevelError}})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "globex", got[0].Tenant)
	got, err = l.Query(master(), audit.Filter{From: clock.Now().Add(-90 * time.Minute), Limit: 1})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, audit.TypeRestoreCompleted, got[0].Type)

	var js bytes.Buffer
	require.NoError(t, l.Export(master(), &js, audit.JSON, audit.Filter{}))
	var arr []audit.Event
	require.NoError(t, json.Unmarshal(js.Bytes(), &arr))
	require.Len(t, arr, 3)

	var jl bytes.Buffer
	require.NoError(t, l.Export(master(), &jl, audit.JSONL, audit.Filter{}))
	require.Equal(t, 3, strings.Count(jl.String(), "\n"))

	var cs bytes.Buffer
	require.NoError(t, l.Export(master(), &cs, audit.CSV, audit.Filter{}))
	rows, err := csv.NewReader(&cs).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4)
	require.Equal(t, audit.CSVHeader, rows[0])
	require.Equal(t, `'=HYPERLINK("http://evil")`, rows[1][4], "formula defused")
	require.Equal(t, "'-1+2", rows[2][4])
	require.Contains(t, rows[2][7], "@SUM", "data is JSON, starting with '{'")

	_, err = audit.ParseFormat("xml")
	require.Error(t, err)

	viewer := steward.WithPrincipal(context.Background(), steward.Principal{ID: "v"})
	_, err = l.Query(viewer, audit.Filter{})
	require.ErrorIs(t, err, steward.ErrForbidden)
}

func TestDashboard(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := fakeclock.New(now.Add(-48 * time.Hour))
	l, err := audit.NewLog(context.Background(), storage.NewMemory(), &audit.LogConfig{Clock: clock})
	require.NoError(t, err)
	ctx := context.Background()
	rec := func(e audit.Event) { require.NoError(t, l.Record(ctx, e)) }
	// Two days ago: one backup. Today: two backups, one failure.
	rec(audit.Event{Type: audit.TypeBackupCreated, Tenant: "a", Data: map[string]any{audit.DataDurationMS: 100, audit.DataSizeBytes: 1000}})
	clock.Set(now.Add(-time.Hour))
	rec(audit.Event{Type: audit.TypeBackupCreated, Tenant: "b", Data: map[string]any{audit.DataDurationMS: 300, audit.DataSizeBytes: 3000}})
	rec(audit.Event{Type: audit.TypeBackupFailed, Level: audit.LevelError, Tenant: "c"})
	rec(audit.Event{Type: audit.TypeBackupCreated, Tenant: "_general", Data: map[string]any{audit.DataDurationMS: 1}})
	for i, ttr := range []int{100, 200, 300, 400, 500, 600, 700, 800, 900, 1000} {
		rec(audit.Event{Type: audit.TypeRestoreCompleted, Tenant: "a", Data: map[string]any{audit.DataTTRMS: ttr, "i": i}})
	}
	rec(audit.Event{Type: audit.TypeRestoreFailed, Level: audit.LevelError, Tenant: "a"})
	rec(audit.Event{Type: audit.TypeReleaseDeployed, Data: map[string]any{audit.DataVersion: "1.0.0"}})
	rec(audit.Event{Type: audit.TypeReleaseDeployed, Data: map[string]any{audit.DataVersion: "1.1.0"}})
	clock.Set(now)
	rec(audit.Event{Type: audit.TypeReleaseRolledBack, Data: map[string]any{audit.DataVersion: "1.0.0"}})

	d, err := l.Dashboard(master())
	require.NoError(t, err)
	require.Equal(t, 3, d.TenantBackups.TotalCount)
	require.Equal(t, 2, d.TenantBackups.Last24h)
	require.Equal(t, 1, d.TenantBackups.FailedCount)
	require.InDelta(t, 200, d.TenantBackups.AvgDurationMS, 0.001)
	require.InDelta(t, 2000, d.TenantBackups.AvgSizeBytes, 0.001)
	require.InDelta(t, 2.0/3.0, d.TenantBackups.SuccessRate, 0.001)
	require.Equal(t, now.Add(-time.Hour), *d.TenantBackups.LastSuccess)
	require.Equal(t, 11, d.Restores.TotalCount)
	require.Equal(t, 10, d.Restores.SuccessCount)
	require.Equal(t, 1, d.Restores.FailedCount)
	require.InDelta(t, 550, d.Restores.AvgTTRMS, 0.001)
	require.InDelta(t, 1000, d.Restores.P95TTRMS, 0.001)
	require.Equal(t, 2, d.Releases.TotalCount)
	require.Equal(t, 1, d.Releases.RollbackCount)
	require.Equal(t, "1.0.0", d.Releases.ActiveVersion)
	require.Equal(t, now, *d.Releases.LastRollback)
	b, _ := json.Marshal(d)
	require.Contains(t, string(b), `"tenant_backups":{"total_count":3`)
}

func TestWebhookNotifier(t *testing.T) {
	secret := []byte("s3cret")
	var got []audit.Event
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // retried
			return
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		if r.Header.Get(audit.SignatureHeader) != audit.Sign(secret, buf.Bytes()) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e audit.Event
		_ = json.Unmarshal(buf.Bytes(), &e)
		got = append(got, e)
	}))
	defer srv.Close()
	wh := &audit.Webhook{URL: srv.URL, Secret: secret, Backoff: time.Millisecond}
	a := audit.Notifying(audit.Nop(), nil, func(_ audit.Notifier, err error) { t.Error(err) }, wh)
	require.NoError(t, a.Record(context.Background(), audit.Event{Type: audit.TypeBackupCreated, Message: "fine"}))
	require.NoError(t, a.Record(context.Background(), audit.Event{Type: audit.TypeBackupFailed, Level: audit.LevelError, Tenant: "acme", Message: "disk full"}))
	require.NoError(t, a.Record(context.Background(), audit.Event{Type: audit.TypeRPOBreach, Level: audit.LevelWarning, Tenant: "acme"}))
	mu.Lock()
	require.Len(t, got, 2, "only the failure and the RPO breach notify")
	require.Equal(t, "disk full", got[0].Message)
	require.Equal(t, 3, calls)
	mu.Unlock()

	bad := &audit.Webhook{URL: srv.URL, Secret: []byte("wrong"), Backoff: time.Millisecond}
	require.Error(t, bad.Notify(context.Background(), audit.Event{Type: "x"}), "a 401 is final")
}

// smtpServer is a minimal SMTP receiver on loopback for the test.
func smtpServer(t *testing.T) (addr string, msgs chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	msgs = make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				w := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
				w("220 test ESMTP")
				var data strings.Builder
				inData := false
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if inData {
						if line == ".\r\n" {
							inData = false
							msgs <- data.String()
							w("250 OK")
							continue
						}
						data.WriteString(line)
						continue
					}
					cmd := strings.ToUpper(strings.TrimSpace(line))
					switch {
					case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
						w("250 test")
					case strings.HasPrefix(cmd, "DATA"):
						inData = true
						w("354 go ahead")
					case strings.HasPrefix(cmd, "QUIT"):
						w("221 bye")
						return
					default:
						w("250 OK")
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), msgs
}

func TestSMTPNotifier(t *testing.T) {
	addr, msgs := smtpServer(t)
	n := &audit.SMTP{Addr: addr, From: "steward@example.test", To: []string{"ops@example.test"}}
	require.NoError(t, n.Notify(context.Background(), audit.Event{Type: audit.TypeRestoreFailed, Level: audit.LevelError, Tenant: "acme", Message: "pack missing"}))
	select {
	case m := <-msgs:
		require.Contains(t, m, "Subject: [steward] ERROR restore.failed acme")
		require.Contains(t, m, "pack missing")
	case <-time.After(5 * time.Second):
		t.Fatal("no mail received")
	}
}

func TestSlogNotifier(t *testing.T) {
	var buf bytes.Buffer
	n := audit.Slog{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	require.NoError(t, n.Notify(context.Background(), audit.Event{Type: audit.TypeRPOBreach, Level: audit.LevelError, Tenant: "acme", Message: "rpo breached"}))
	require.Contains(t, buf.String(), `"level":"ERROR"`)
	require.Contains(t, buf.String(), `"tenant":"acme"`)
}

func FuzzDecodeRecord(f *testing.F) {
	store := storage.NewMemory()
	l, _ := audit.NewLog(context.Background(), store, nil)
	_ = l.Record(context.Background(), audit.Event{Type: "seed", Data: map[string]any{"n": 1}})
	b, _ := storage.ReadAll(context.Background(), store, "audit/events/00000000000000000001")
	f.Add(b)
	f.Add([]byte(`{"seq":0}`))
	f.Add([]byte(`{"seq":1,"event":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := audit.DecodeRecord(b)
		if err != nil {
			require.ErrorIs(t, err, audit.ErrCorrupt)
			return
		}
		if r.Seq == 0 {
			t.Fatal("accepted sequence number 0")
		}
		// Round trip: the record written back in the stored form decodes
		// to the same record.
		ev, err := json.Marshal(r.Event)
		require.NoError(t, err)
		again, err := json.Marshal(map[string]any{"seq": r.Seq, "prev": r.Prev, "hash": r.Hash, "event": json.RawMessage(ev)})
		require.NoError(t, err)
		r2, err := audit.DecodeRecord(again)
		require.NoError(t, err)
		ev2, err := json.Marshal(r2.Event)
		require.NoError(t, err)
		require.Equal(t, r.Seq, r2.Seq)
		require.Equal(t, r.Prev, r2.Prev)
		require.Equal(t, r.Hash, r2.Hash)
		require.JSONEq(t, string(ev), string(ev2))
	})
}

func BenchmarkRecord(b *testing.B) {
	l, err := audit.NewLog(context.Background(), storage.NewMemory(), nil)
	require.NoError(b, err)
	e := audit.Event{Type: audit.TypeBackupCreated, Tenant: "acme", Message: "backup", Data: map[string]any{"size_bytes": 1234}}
	eb, err := json.Marshal(e)
	require.NoError(b, err)
	b.SetBytes(int64(len(eb))) // the event's JSON, without the record envelope
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Record(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
}

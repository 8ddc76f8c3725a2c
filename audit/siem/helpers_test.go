package siem_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/audit/siem"
	"github.com/iluxsys/steward/storage"
)

func master() context.Context {
	return steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}})
}

// newLog is a keyed Log on store (a memory store when nil) and a record
// of every event it stores, in order, as a second observer sees them.
func newLog(t testing.TB, store storage.Store) (*audit.Log, *observed) {
	t.Helper()
	if store == nil {
		store = storage.NewMemory()
	}
	log, err := audit.NewLog(context.Background(), store, &audit.LogConfig{RecordKey: []byte("a host secret of at least 16 bytes")})
	require.NoError(t, err)
	o := &observed{}
	log.Observe(o.add)
	return log, o
}

// observed collects what a Log's observer is told.
type observed struct {
	mu  sync.Mutex
	all []audit.Recorded
}

func (o *observed) add(r audit.Recorded) {
	r.Event.Data = nil // the caller's map: not ours to keep
	o.mu.Lock()
	o.all = append(o.all, r)
	o.mu.Unlock()
}

func (o *observed) get() []audit.Recorded {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]audit.Recorded(nil), o.all...)
}

// fastRetries makes a Sink retry every few milliseconds.
func fastRetries(c siem.Config) siem.Config {
	c.Backoff, c.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	return c
}

// requireChained checks l's hash against its own seq, prev and JSON, as a
// SIEM can.
func requireChained(t testing.TB, l *siem.Line) {
	t.Helper()
	h := sha256.Sum256([]byte(strconv.FormatUint(l.Seq, 10) + "\n" + l.Prev + "\n" + string(l.JSON)))
	require.Equal(t, hex.EncodeToString(h[:]), l.Hash, "line %d: its hash does not cover its seq, prev and message", l.Seq)
}

// requireLineOf checks that l carries r's fields.
func requireLineOf(t testing.TB, r audit.Recorded, l *siem.Line) {
	t.Helper()
	e := r.Event
	require.Equal(t, r.Seq, l.Seq)
	require.Equal(t, e.ID, l.ID, "seq %d", r.Seq)
	require.Equal(t, string(e.Type), l.Type, "seq %d", r.Seq)
	require.Equal(t, string(e.Level), l.Level, "seq %d", r.Seq)
	require.Equal(t, e.Tenant, l.Tenant, "seq %d", r.Seq)
	require.Equal(t, e.UserID, l.Principal, "seq %d", r.Seq)
	require.Equal(t, e.Message, l.Message, "seq %d", r.Seq)
	require.True(t, e.Timestamp.Truncate(time.Microsecond).Equal(l.Timestamp), "seq %d: timestamp %v, want %v", r.Seq, l.Timestamp, e.Timestamp)
	require.Equal(t, r.Hash, l.Hash, "seq %d", r.Seq)
	require.Equal(t, r.Prev, l.Prev, "seq %d", r.Seq)
	require.Equal(t, string(r.JSON), string(l.JSON), "seq %d", r.Seq)
	requireChained(t, l)
}

// frameServer is a syslog receiver on loopback, in Go: it reads
// octet-counted frames (RFC 6587) from each connection in turn.
type frameServer struct {
	ln net.Listener

	mu     sync.Mutex
	frames [][]byte
	conns  int
	// closeFirstAfter, when set, closes the first connection after that
	// many frames.
	closeFirstAfter int
}

func newFrameServer(t testing.TB, ln net.Listener) *frameServer {
	t.Helper()
	s := &frameServer{ln: ln}
	go s.serve()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *frameServer) addr() string { return s.ln.Addr().String() }

func (s *frameServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		s.read(c) // one at a time: a sink has one connection
	}
}

func (s *frameServer) read(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for n := 1; ; n++ {
		f, err := readFrame(br)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.frames = append(s.frames, f)
		stop := s.conns == 1 && s.closeFirstAfter > 0 && n >= s.closeFirstAfter
		s.mu.Unlock()
		if stop {
			return
		}
	}
}

func (s *frameServer) lines(t testing.TB) []*siem.Line {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var ls []*siem.Line
	for _, f := range s.frames {
		l, err := siem.ParseLine(f)
		require.NoError(t, err)
		ls = append(ls, l)
	}
	return ls
}

// readFrame reads "LEN SP LINE".
func readFrame(br *bufio.Reader) ([]byte, error) {
	n, err := br.ReadString(' ')
	if err != nil {
		return nil, err
	}
	size, err := strconv.Atoi(n[:len(n)-1])
	if err != nil || size <= 0 || size > 1<<20 {
		return nil, fmt.Errorf("bad frame length %q", n)
	}
	b := make([]byte, size)
	_, err = io.ReadFull(br, b)
	return b, err
}

// eventually waits up to d for cond.
func eventually(t testing.TB, d time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: "+format, append([]any{d}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

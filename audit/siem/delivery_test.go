package siem_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/audit/siem"
)

// selfSigned is a TLS server config for 127.0.0.1 and a client config
// that trusts it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "siem test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

// TestSyslogTLSResendsAfterBrokenConnection: over TLS, a receiver that
// stops reading and closes its first connection after three lines (the
// lines written after them lost in its socket, as when a daemon stops)
// still gets every event, in order of first sighting, each with its
// fields; lines it gets twice are identical; nothing is dropped.
func TestSyslogTLSResendsAfterBrokenConnection(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	require.NoError(t, err)
	srv := newFrameServer(t, ln)
	srv.closeFirstAfter = 3
	log, seen := newLog(t, nil)
	var errs []error
	sink, err := siem.NewSyslog(srv.addr(), &siem.SyslogConfig{TLS: clientTLS,
		Config: fastRetries(siem.Config{OnError: func(err error) { errs = append(errs, err) }})})
	require.NoError(t, err)
	require.NoError(t, sink.Attach(log))
	ctx := master()
	for i := range 20 {
		require.NoError(t, log.Record(ctx, audit.Event{Type: "host.note", Tenant: "acme", UserID: "ops", Message: fmt.Sprint("event ", i)}))
	}
	eventually(t, 20*time.Second, func() bool { return seqsOf(srv.lines(t))[20] }, "event 20 never arrived")
	left, err := sink.Close(context.Background())
	require.NoError(t, err)
	require.Zero(t, left)

	got := srv.lines(t)
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
	for _, r := range seen.get() {
		require.Contains(t, first, r.Seq, "event %d never arrived", r.Seq)
		requireLineOf(t, r, first[r.Seq])
	}
	srv.mu.Lock()
	conns := srv.conns
	srv.mu.Unlock()
	require.Equal(t, 2, conns, "the receiver closed the first connection")
	require.Zero(t, sink.Dropped())
	require.Equal(t, uint64(20), sink.Delivered())
	for _, err := range errs {
		require.Contains(t, err.Error(), "siem: syslog "+srv.addr())
	}
}

func seqsOf(ls []*siem.Line) map[uint64]bool {
	m := map[uint64]bool{}
	for _, l := range ls {
		m[l.Seq] = true
	}
	return m
}

// stalled accepts connections and never reads: a SIEM that stopped
// taking lines, whose socket buffers fill.
func stalled(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*net.TCPConn).SetReadBuffer(4096) // no autotuning: the buffers fill sooner
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestStalledSIEMNeverBlocksRecord: with a receiver that takes no more
// lines, Record goes on at the store's speed, the sink drops what its
// queue cannot hold, and Close gives up when its context ends, saying how
// many were left, and records the drop.
func TestStalledSIEMNeverBlocksRecord(t *testing.T) {
	log, _ := newLog(t, nil)
	const queue = 16
	sink, err := siem.NewSyslog(stalled(t), &siem.SyslogConfig{Config: siem.Config{QueueSize: queue}, WriteTimeout: time.Hour})
	require.NoError(t, err)
	require.NoError(t, sink.Attach(log))
	ctx := master()
	big := strings.Repeat("x", 32<<10)
	var slowest time.Duration
	for i := range 320 {
		start := time.Now()
		require.NoError(t, log.Record(ctx, audit.Event{Type: "host.note", Message: fmt.Sprint(i, big)}))
		slowest = max(slowest, time.Since(start))
	}
	require.Less(t, slowest, 2*time.Second, "a Record waited for the SIEM")
	require.Greater(t, sink.Dropped(), uint64(0), "10 MiB do not fit the socket buffers and a queue of 16")
	require.LessOrEqual(t, sink.Queued(), queue)
	dropped := sink.Dropped()

	cctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	left, err := sink.Close(cctx)
	require.Less(t, time.Since(start), 5*time.Second, "Close waited past its context")
	require.ErrorIs(t, err, siem.ErrUndelivered)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Greater(t, left, 0)
	require.Greater(t, left, sink.Queued(), "the queue, the line being written, the lines written but not read")
	require.LessOrEqual(t, left, queue+1+1024)

	drops := dropEvents(t, log)
	require.Len(t, drops, 1, "Close records the drop of an outage still open")
	require.Equal(t, dropped, num(t, drops[0].Data[siem.DataDropped]))
	require.Equal(t, audit.LevelError, drops[0].Level)
	require.True(t, drops[0].Failed())
	require.Contains(t, drops[0].Data[audit.DataError], "queue full")
}

// TestCloseDeliversWhatIsQueued: events recorded while nothing listens
// wait in the queue; Close delivers them all once a receiver appears.
func TestCloseDeliversWhatIsQueued(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	log, seen := newLog(t, nil)
	sink, err := siem.NewSyslog(addr, &siem.SyslogConfig{Config: fastRetries(siem.Config{})})
	require.NoError(t, err)
	require.NoError(t, sink.Attach(log))
	for i := range 10 {
		require.NoError(t, log.Record(master(), audit.Event{Type: "host.note", Message: fmt.Sprint(i)}))
	}
	require.Zero(t, sink.Delivered(), "nothing listens yet")
	ln, err = net.Listen("tcp", addr)
	require.NoError(t, err)
	srv := newFrameServer(t, ln)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	left, err := sink.Close(ctx)
	require.NoError(t, err)
	require.Zero(t, left)
	require.Equal(t, uint64(10), sink.Delivered())
	eventually(t, 10*time.Second, func() bool { return len(srv.lines(t)) == 10 }, "the receiver did not get 10 lines")
	for i, l := range srv.lines(t) {
		requireLineOf(t, seen.get()[i], l)
	}
	require.Empty(t, dropEvents(t, log), "nothing was dropped")
}

// TestSinkLifecycle: Attach once; after Close the sink is detached (the
// Log's events no longer reach it), a direct Observe is counted as
// dropped, and Attach and Close say ErrClosed.
func TestSinkLifecycle(t *testing.T) {
	srv := newFrameServer(t, mustListen(t))
	log, _ := newLog(t, nil)
	sink, err := siem.NewSyslog(srv.addr(), nil)
	require.NoError(t, err)
	require.NoError(t, sink.Attach(log))
	require.ErrorContains(t, sink.Attach(log), "already attached")
	require.NoError(t, log.Record(master(), audit.Event{Type: "host.note"}))
	_, err = sink.Close(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(1), sink.Delivered())

	require.NoError(t, log.Record(master(), audit.Event{Type: "host.note"}))
	require.Zero(t, sink.Dropped(), "a closed sink is detached from its Log")
	sink.Observe(audit.Recorded{Seq: 9})
	require.Equal(t, uint64(1), sink.Dropped())
	require.ErrorIs(t, sink.Attach(log), siem.ErrClosed)
	_, err = sink.Close(context.Background())
	require.ErrorIs(t, err, siem.ErrClosed)
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

// TestNewSyslogRefuses: a bad address, facility or SD-ID is refused
// before anything is started.
func TestNewSyslogRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, addr string
		cfg        siem.SyslogConfig
		want       string
	}{
		{"no port", "siem.example.com", siem.SyslogConfig{}, "syslog address"},
		{"facility", "127.0.0.1:514", siem.SyslogConfig{Facility: 24}, "facility 24"},
		{"SD-ID with space", "127.0.0.1:514", siem.SyslogConfig{SDID: "my app@1"}, "SD-ID"},
		{"SD-ID with '='", "127.0.0.1:514", siem.SyslogConfig{SDID: "a=b@1"}, "SD-ID"},
		{"SD-ID too long", "127.0.0.1:514", siem.SyslogConfig{SDID: strings.Repeat("s", 33)}, "SD-ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := siem.NewSyslog(tc.addr, &tc.cfg)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestSyslogHeaderAndFacility: the config's header fields and facility
// reach the line; a failure is an error, a warning a warning.
func TestSyslogHeaderAndFacility(t *testing.T) {
	srv := newFrameServer(t, mustListen(t))
	log, _ := newLog(t, nil)
	sink, err := siem.NewSyslog(srv.addr(), &siem.SyslogConfig{Facility: 16, Hostname: "h1", AppName: "app", ProcID: "p1", SDID: "audit@99999"})
	require.NoError(t, err)
	require.NoError(t, sink.Attach(log))
	require.NoError(t, log.Record(master(), audit.Event{Type: audit.TypeRestoreCompleted}))
	require.NoError(t, log.Record(master(), audit.Event{Type: audit.TypeRPOBreach, Level: audit.LevelWarning}))
	require.NoError(t, log.Record(master(), audit.Event{Type: audit.TypeRepoInitialized, Data: map[string]any{audit.DataError: "no space"}}))
	_, err = sink.Close(context.Background())
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() bool { return len(srv.lines(t)) == 3 }, "3 lines")
	ls := srv.lines(t)
	for _, l := range ls {
		require.Equal(t, 16, l.Facility)
		require.Equal(t, []string{"h1", "app", "p1", "audit@99999"}, []string{l.Hostname, l.AppName, l.ProcID, l.SDID})
	}
	require.Equal(t, []int{siem.SeverityInfo, siem.SeverityWarning, siem.SeverityError}, []int{ls[0].Severity, ls[1].Severity, ls[2].Severity})
	require.Equal(t, []string{"success", "success", "failure"}, []string{ls[0].Outcome, ls[1].Outcome, ls[2].Outcome})
}

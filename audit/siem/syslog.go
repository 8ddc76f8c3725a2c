package siem

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Defaults of SyslogConfig.
const (
	// DefaultDialTimeout bounds a connection attempt, TLS handshake included.
	DefaultDialTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds the write of one line.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultReplayWindow is how long after its first write a line is
	// written again on the next connection when its own breaks.
	DefaultReplayWindow = 10 * time.Second
)

// SyslogConfig configures a syslog Sink. A nil *SyslogConfig means
// defaults: plain TCP, facility 13 (log audit), the SD-ID DefaultSDID.
type SyslogConfig struct {
	// Config sets the queue, retries and drop accounting.
	Config
	// TLS, when set, makes the connection TLS (RFC 5425's transport, with
	// RFC 6587's octet counting as on plain TCP). Set ServerName unless
	// the address's host is the name the certificate carries.
	TLS *tls.Config
	// Facility is the RFC 5424 facility, 0 to 23 (default 13, log
	// audit: 0, kern, is not a facility an SDK writes to).
	Facility int
	// Hostname, AppName and ProcID fill the header (defaults: the
	// machine's host name, "steward", the process ID).
	Hostname, AppName, ProcID string
	// SDID is the structured-data element's ID (default DefaultSDID); use
	// "name@<your private enterprise number>".
	SDID string
	// DialTimeout bounds a connection attempt (default DefaultDialTimeout);
	// WriteTimeout the write of one line (default DefaultWriteTimeout).
	DialTimeout, WriteTimeout time.Duration
	// ReplayWindow: when a connection breaks, the lines first written
	// less than ReplayWindow before (at most 1024) are written again on
	// the next one (default DefaultReplayWindow; negative for none). TCP
	// accepts a write before the daemon reads it: lines a daemon had not
	// read when it stopped are lost with its socket, unnoticed, unless
	// written again. The SIEM may then see a line twice, with the same
	// seq and hash. A line written longer ago than the window, on a
	// connection that did not break meanwhile, is taken as read.
	ReplayWindow time.Duration
}

// NewSyslog returns a Sink that writes each event as an RFC 5424 line
// (see Line) to the syslog daemon at addr ("host:port"), over TCP with
// octet-counting framing (RFC 6587: "LEN SP LINE") and TLS when
// cfg.TLS is set. It connects on the first event, and again with
// backoff whenever the connection fails, writing again the line that
// failed and those of the replay window (SyslogConfig.ReplayWindow). It
// returns an error for a bad addr, facility or SD-ID; it does not dial.
func NewSyslog(addr string, cfg *SyslogConfig) (*Sink, error) {
	var c SyslogConfig
	if cfg != nil {
		c = *cfg
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("siem: syslog address %q: %w", addr, err)
	}
	hdr, err := c.header()
	if err != nil {
		return nil, err
	}
	t := &syslogTransport{addr: addr, tls: c.TLS, dialTimeout: c.DialTimeout, writeTimeout: c.WriteTimeout}
	t.window.span = c.ReplayWindow
	if t.dialTimeout <= 0 {
		t.dialTimeout = DefaultDialTimeout
	}
	if t.writeTimeout <= 0 {
		t.writeTimeout = DefaultWriteTimeout
	}
	if t.window.span == 0 {
		t.window.span = DefaultReplayWindow
	}
	scheme := "tcp"
	if c.TLS != nil {
		scheme = "tls"
	}
	return newSink("syslog "+scheme+"://"+addr, t, hdr, &c.Config), nil
}

// header is the header c asks for, over the defaults.
func (c *SyslogConfig) header() (header, error) {
	h := defaultHeader()
	if c.Facility < 0 || c.Facility > 23 {
		return h, fmt.Errorf("siem: syslog facility %d: use 0 to 23 (or 0 for the default, 13)", c.Facility)
	}
	if c.Facility != 0 {
		h.facility = c.Facility
	}
	for _, f := range [...]struct {
		dst *string
		v   string
	}{{&h.hostname, c.Hostname}, {&h.appName, c.AppName}, {&h.procID, c.ProcID}, {&h.sdID, c.SDID}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if h.sdID != sdName(h.sdID) || string(appendHeaderField(nil, h.sdID, 32)) != h.sdID {
		return h, fmt.Errorf("siem: SD-ID %q: use at most 32 printable ASCII characters, none of '=', ']', '\"' or space, as name@number", h.sdID)
	}
	return h, nil
}

// syslogTransport writes framed lines on one connection at a time.
type syslogTransport struct {
	addr         string
	tls          *tls.Config
	dialTimeout  time.Duration
	writeTimeout time.Duration

	conn   net.Conn
	dead   chan struct{} // closed when the connection ends (see watch)
	window replayWindow  // the frames to write again when conn breaks
	frame  []byte        // the frame being sent
	line   []byte        // the buffer a line is built in
}

// send writes l's frame, connecting first when needed.
func (t *syslogTransport) send(ctx context.Context, l *Line) error {
	t.line = l.Append(t.line[:0])
	if t.frame == nil {
		t.frame = t.window.buffer()
	}
	t.frame = appendFrame(t.frame[:0], t.line)
	if err := t.connect(ctx); err != nil {
		return err
	}
	if err := t.write(ctx, t.frame); err != nil {
		return err
	}
	t.window.add(t.frame, time.Now())
	t.frame = nil
	return nil
}

// appendFrame appends line with its octet count (RFC 6587) to dst.
func appendFrame(dst, line []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(line)), 10)
	dst = append(dst, ' ')
	return append(dst, line...)
}

// lost is the watcher's channel while the window holds lines: when the
// connection ends, they may not have been read.
func (t *syslogTransport) lost() <-chan struct{} {
	if t.conn == nil || len(t.window.frames) == 0 {
		return nil
	}
	return t.dead
}

// resend connects again, which writes the window again, unless the
// window has nothing left once the broken connection is let go.
func (t *syslogTransport) resend(ctx context.Context) error {
	if t.conn != nil {
		select {
		case <-t.dead:
			t.disconnect()
		default:
		}
	}
	if len(t.window.frames) == 0 {
		return nil
	}
	return t.connect(ctx)
}

// pending is how many lines the window holds for a connection that
// ended or failed.
func (t *syslogTransport) pending() int {
	if t.conn != nil {
		select {
		case <-t.dead:
		default:
			return 0 // alive: its lines are taken as read
		}
	}
	return len(t.window.frames)
}

// connect makes sure there is a live connection: it dials when there is
// none or the last one ended, then writes the window again.
func (t *syslogTransport) connect(ctx context.Context) error {
	if t.conn != nil {
		select {
		case <-t.dead:
			t.disconnect()
		default:
			return nil
		}
	}
	conn, err := t.dial(ctx)
	if err != nil {
		return fmt.Errorf("siem: syslog %s: connect: %w", t.addr, err)
	}
	t.conn, t.dead = conn, make(chan struct{})
	go watch(conn, t.dead)
	for _, f := range t.window.frames {
		if err := t.write(ctx, f.b); err != nil {
			return err
		}
	}
	return nil
}

func (t *syslogTransport) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: t.dialTimeout}
	if t.tls == nil {
		return d.DialContext(ctx, "tcp", t.addr)
	}
	td := &tls.Dialer{NetDialer: d, Config: t.tls}
	return td.DialContext(ctx, "tcp", t.addr)
}

// watch reads conn until it ends and then closes dead: a syslog daemon
// sends nothing, so a read returns only when the connection is closed or
// broken, which the sender then learns before its next write instead of
// losing that write.
func watch(conn net.Conn, dead chan<- struct{}) {
	defer close(dead)
	buf := make([]byte, 256)
	for {
		if _, err := conn.Read(buf); err != nil {
			return
		}
	}
}

// write writes b within the write timeout, or until ctx ends; on failure
// it drops the connection.
func (t *syslogTransport) write(ctx context.Context, b []byte) error {
	if err := t.conn.SetWriteDeadline(time.Now().Add(t.writeTimeout)); err != nil {
		t.disconnect()
		return fmt.Errorf("siem: syslog %s: %w", t.addr, err)
	}
	conn := t.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetWriteDeadline(time.Unix(1, 0)) })
	_, err := conn.Write(b)
	stop()
	if err != nil {
		t.disconnect()
		if cerr := ctx.Err(); cerr != nil {
			err = cerr // the deadline was Close's giving up, not a slow daemon
		}
		return fmt.Errorf("siem: syslog %s: write: %w", t.addr, err)
	}
	return nil
}

// disconnect closes the connection, if any, and waits for its watcher.
// The window keeps the frames written less than its span before: they
// may not have been read.
func (t *syslogTransport) disconnect() {
	if t.conn == nil {
		return
	}
	_ = t.conn.Close()
	<-t.dead
	t.conn, t.dead = nil, nil
	t.window.trim(time.Now())
}

func (t *syslogTransport) close() error {
	t.disconnect()
	return nil
}

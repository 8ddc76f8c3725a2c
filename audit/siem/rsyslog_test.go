package siem_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit/siem"
)

// rsyslogd is Debian's syslog daemon run by a test on loopback: imtcp on
// a free port, writing each message as received (%rawmsg%) to raw.log and
// its own reading of the header and structured data to parsed.log.
type rsyslogd struct {
	t      *testing.T
	bin    string
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
	out    bytes.Buffer
}

// startRsyslog starts the daemon, or skips the test when rsyslogd cannot
// be found.
func startRsyslog(t *testing.T) *rsyslogd {
	t.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/rsyslogd"); serr != nil {
			t.Skip("rsyslogd not found (install Debian's rsyslog package; .ci/run does): the syslog sink is tested against a real daemon")
		}
		bin = "/usr/sbin/rsyslogd"
	}
	d := &rsyslogd{t: t, bin: bin, dir: t.TempDir()}
	var lastErr error
	for range 3 { // a free port may be taken before the daemon binds it
		d.port = freePort(t)
		if lastErr = d.start(); lastErr == nil {
			t.Cleanup(d.stop)
			return d
		}
	}
	t.Fatalf("rsyslogd did not start: %v", lastErr)
	return nil
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (d *rsyslogd) addr() string { return fmt.Sprintf("127.0.0.1:%d", d.port) }

func (d *rsyslogd) config() string {
	return fmt.Sprintf(`global(workDirectory=%[1]q maxMessageSize="64k")
module(load="imtcp")
template(name="raw" type="string" string="%%rawmsg%%\n")
template(name="parsed" type="string" string="%%pri%%|%%app-name%%|%%msgid%%|%%structured-data%%\n")
ruleset(name="steward") {
  action(type="omfile" file=%[2]q template="raw")
  action(type="omfile" file=%[3]q template="parsed")
}
input(type="imtcp" address="127.0.0.1" port="%[4]d" ruleset="steward")
`, d.dir, filepath.Join(d.dir, "raw.log"), filepath.Join(d.dir, "parsed.log"), d.port)
}

// start runs the daemon and waits until it accepts connections.
func (d *rsyslogd) start() error {
	conf := filepath.Join(d.dir, "rsyslog.conf")
	if err := os.WriteFile(conf, []byte(d.config()), 0o600); err != nil {
		return err
	}
	d.out.Reset()
	d.cmd = exec.Command(d.bin, "-n", "-f", conf, "-i", filepath.Join(d.dir, "rsyslogd.pid"))
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.out
	if err := d.cmd.Start(); err != nil {
		return err
	}
	d.exited = make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			return fmt.Errorf("rsyslogd exited: %s", d.out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", d.addr(), time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.stop()
	return errors.New("rsyslogd did not listen within 15s: " + d.out.String())
}

// stop ends the daemon (SIGTERM, then SIGKILL after 10s) and waits.
func (d *rsyslogd) stop() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
}

// file is the daemon's output file name split in lines.
func (d *rsyslogd) file(name string) []string {
	b, err := os.ReadFile(filepath.Join(d.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(d.t, err)
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// received is raw.log parsed, in order.
func (d *rsyslogd) received() []*siem.Line {
	var ls []*siem.Line
	for _, s := range d.file("raw.log") {
		l, err := siem.ParseLine([]byte(s))
		require.NoError(d.t, err, "raw.log holds %q", s)
		ls = append(ls, l)
	}
	return ls
}

// hasSeq reports whether the daemon wrote a line with seq.
func (d *rsyslogd) hasSeq(seq uint64) bool {
	want := ` seq="` + strconv.FormatUint(seq, 10) + `"`
	for _, s := range d.file("raw.log") {
		if strings.Contains(s, want) {
			return true
		}
	}
	return false
}

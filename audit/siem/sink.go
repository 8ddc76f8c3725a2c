package siem

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iluxsys/steward/audit"
)

// Defaults of Config.
const (
	// DefaultQueueSize is how many events wait for delivery before the
	// next ones are dropped: at most about 4 MiB of lines of 1 KiB.
	DefaultQueueSize = 4096
	// DefaultBackoff is the wait before the first retry of a failed
	// delivery; each retry doubles it up to DefaultMaxBackoff.
	DefaultBackoff = 100 * time.Millisecond
	// DefaultMaxBackoff bounds the wait between retries.
	DefaultMaxBackoff = 30 * time.Second
)

// Errors of a Sink.
var (
	// ErrClosed: the Sink was closed (Attach, or Close a second time).
	ErrClosed = errors.New("siem: sink is closed")
	// ErrUndelivered: Close returned with events not delivered.
	ErrUndelivered = errors.New("siem: events left undelivered")
)

// Config configures a Sink's queue, retries and drop accounting. A nil
// *Config means defaults.
type Config struct {
	// QueueSize bounds the events waiting for delivery (default
	// DefaultQueueSize). When it is full, each further event is dropped
	// and counted, and the drop is audited once (see TypeDropped).
	QueueSize int
	// Auditor records the TypeDropped event that says what a drop lost.
	// Nil means the Log given to Attach; a host that wraps its Log (with
	// audit.Notifying, audit.Metered) passes the wrapper so the drop
	// notifies. Without either, drops are only counted.
	Auditor audit.Auditor
	// OnError, when set, is told of each failed delivery attempt (a
	// refused connection, a write timeout) and of a drop event that could
	// not be recorded. It is called from the sender goroutine and must
	// not call the Sink's Close.
	OnError func(error)
	// Backoff is the wait before the first retry of a failed delivery,
	// doubled at each further retry up to MaxBackoff, with ±20% jitter
	// (defaults DefaultBackoff and DefaultMaxBackoff).
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// transport delivers lines. Its methods are called from the sender
// goroutine only, but for close, called once the sender has exited.
type transport interface {
	// send delivers l; an error means it was not, and will be sent again.
	send(ctx context.Context, l *Line) error
	// lost is closed when lines already sent may have been lost (a
	// connection broke) and should be sent again; nil when none may.
	lost() <-chan struct{}
	// resend sends those lines again.
	resend(ctx context.Context) error
	// pending is how many lines resend would send again.
	pending() int
	close() error
}

// Sink streams audit events, as a Log records them, to a SIEM: a bounded
// queue filled by Observe, which never waits, and one sender goroutine
// that delivers each event in sequence order, retrying with backoff until
// it is delivered. Create one with NewSyslog or NewSlog and Attach it to
// a Log; the zero value is not usable. Its methods are safe for
// concurrent use.
//
// Delivery is at least once while the process runs: an event that could
// not be delivered is retried, never skipped, and only events that find
// the queue full are lost, each counted (Dropped) and all of one outage
// reported by a single TypeDropped event. A SIEM may see an event twice
// (same seq and hash) after a reconnection, and a gap in seq where events
// were dropped.
type Sink struct {
	name   string // what the Sink delivers to, for messages
	cfg    Config
	hdr    header
	tr     transport
	queue  chan Line
	stop   chan struct{} // closed by Close: deliver what is queued, then exit
	done   chan struct{} // closed when the sender exits
	cancel context.CancelFunc
	held   int // 1 when the sender gave up on a line it held; read after done

	delivered atomic.Uint64
	dropped   atomic.Uint64

	mu      sync.Mutex
	closed  bool
	auditor audit.Auditor
	detach  func()
	gap     gap    // drops not yet audited
	lastErr string // the last failed attempt, for the drop event
}

// gap is the events one outage dropped.
type gap struct{ count, first, last uint64 }

func (g *gap) add(seq uint64) {
	if g.count == 0 {
		g.first = seq
	}
	g.last = seq
	g.count++
}

// newSink starts a Sink's sender over tr.
func newSink(name string, tr transport, hdr header, cfg *Config) *Sink {
	s := &Sink{name: name, tr: tr, hdr: hdr}
	if cfg != nil {
		s.cfg = *cfg
	}
	if s.cfg.QueueSize <= 0 {
		s.cfg.QueueSize = DefaultQueueSize
	}
	if s.cfg.Backoff <= 0 {
		s.cfg.Backoff = DefaultBackoff
	}
	if s.cfg.MaxBackoff <= 0 {
		s.cfg.MaxBackoff = DefaultMaxBackoff
	}
	s.auditor = s.cfg.Auditor
	s.queue = make(chan Line, s.cfg.QueueSize)
	s.stop = make(chan struct{})
	s.done = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.run(ctx)
	return s
}

// defaultHeader is the header of a Sink's lines before its config's.
func defaultHeader() header {
	host, _ := os.Hostname()
	return header{facility: FacilityLogAudit, hostname: host, appName: "steward", procID: strconv.Itoa(os.Getpid()), sdID: DefaultSDID}
}

// Attach makes s observe l (see audit.Log.Observe) until Close, and
// record its drop events on l when Config.Auditor is nil. It returns
// ErrClosed after Close, and an error when s is already attached.
func (s *Sink) Attach(l *audit.Log) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.detach != nil:
		return errors.New("siem: sink is already attached to a Log")
	}
	if s.auditor == nil {
		s.auditor = l
	}
	s.detach = l.Observe(s.Observe)
	return nil
}

// Observe queues r for delivery without waiting: when the queue is full,
// or s is closed, r is dropped and counted. It is the function Attach
// hands to Log.Observe; a host may call it with events of its own.
func (s *Sink) Observe(r audit.Recorded) {
	l := lineFor(r, &s.hdr)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.dropped.Add(1)
		return
	}
	select {
	case s.queue <- l:
	default:
		s.dropped.Add(1)
		s.gap.add(r.Seq)
	}
}

// Dropped is how many events s dropped: those that found the queue full,
// and those observed after Close.
func (s *Sink) Dropped() uint64 { return s.dropped.Load() }

// Delivered is how many events s delivered (an event sent again after a
// reconnection counts once).
func (s *Sink) Delivered() uint64 { return s.delivered.Load() }

// Queued is how many events wait for delivery.
func (s *Sink) Queued() int { return len(s.queue) }

// Close detaches s from its Log, delivers what is queued while ctx lets
// it, closes the connection and records the drop event of an outage
// still open. It returns how many events were left undelivered, with an
// error matching ErrUndelivered (and ctx's error) when any were. A second
// Close returns ErrClosed.
func (s *Sink) Close(ctx context.Context) (left int, err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	s.closed = true
	detach := s.detach
	s.mu.Unlock()
	if detach != nil {
		detach()
	}
	close(s.stop)
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
	left = len(s.queue) + s.held + s.tr.pending()
	cerr := s.tr.close()
	s.auditGap(context.WithoutCancel(ctx))
	if left > 0 {
		return left, fmt.Errorf("%w: %d to %s: %w", ErrUndelivered, left, s.name, context.Cause(ctx))
	}
	return 0, cerr
}

// run is the sender: it delivers queued lines in order, and sends again
// those a broken connection may have lost, until Close.
func (s *Sink) run(ctx context.Context) {
	defer close(s.done)
	for {
		select {
		case l := <-s.queue:
			if !s.deliver(ctx, &l) {
				return
			}
		case <-s.tr.lost():
			if !s.retry(ctx, s.tr.resend) {
				return
			}
		case <-s.stop:
			s.drain(ctx)
			return
		}
	}
}

// drain delivers what is queued and what may have been lost, until
// nothing is left or ctx ends.
func (s *Sink) drain(ctx context.Context) {
	for {
		select {
		case l := <-s.queue:
			if !s.deliver(ctx, &l) {
				return
			}
		case <-s.tr.lost():
			if !s.retry(ctx, s.tr.resend) {
				return
			}
		default:
			return
		}
	}
}

// deliver sends l, retrying with backoff until it is sent or ctx ends
// (false: then l is counted as held).
func (s *Sink) deliver(ctx context.Context, l *Line) bool {
	if !s.retry(ctx, func(ctx context.Context) error { return s.tr.send(ctx, l) }) {
		s.held = 1
		return false
	}
	s.delivered.Add(1)
	s.afterDelivery(ctx)
	return true
}

// retry runs op until it succeeds (true) or ctx ends (false), waiting
// with backoff between attempts.
func (s *Sink) retry(ctx context.Context, op func(context.Context) error) bool {
	for attempt := 0; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() == nil {
			s.failed(err)
		}
		if !sleep(ctx, s.backoff(attempt)) {
			return false
		}
	}
}

// afterDelivery records the drop event once the queue has room for it
// and more: at half its size, so that a SIEM slower than the events
// causes one drop event per outage, not one per delivery.
func (s *Sink) afterDelivery(ctx context.Context) {
	s.mu.Lock()
	pending := s.gap.count > 0
	s.mu.Unlock()
	if pending && len(s.queue) <= cap(s.queue)/2 {
		s.auditGap(ctx)
	}
}

// failed notes a failed attempt.
func (s *Sink) failed(err error) {
	s.mu.Lock()
	s.lastErr = err.Error()
	s.mu.Unlock()
	if s.cfg.OnError != nil {
		s.cfg.OnError(err)
	}
}

// backoff is the wait before retry attempt+1, with ±20% jitter.
func (s *Sink) backoff(attempt int) time.Duration {
	d := s.cfg.Backoff
	for i := 0; i < attempt && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// sleep waits d, or reports false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

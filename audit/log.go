package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/storage"
)

// LogConfig configures a Log. A nil *LogConfig means defaults.
type LogConfig struct {
	// Clock stamps events that have no timestamp (default system clock).
	Clock steward.Clock
	// Prefix is where the log lives in the Store (default "audit/").
	Prefix string
	// CheckpointKey signs checkpoints (HMAC-SHA-256). Without it no
	// checkpoints are written and truncating the tail goes unnoticed.
	CheckpointKey []byte
	// CheckpointEvery is how many events separate checkpoints (default 100).
	CheckpointEvery uint64
	// Authorizer guards Query, Export, Verify and Dashboard (default
	// MasterOnly). Record is not guarded: the SDK's packages write to it.
	Authorizer steward.Authorizer
	// SingleWriter declares this process the only writer of the log. Without
	// it, NewLog refuses a store that ignores conditional create (two
	// writers could fork the chain there).
	SingleWriter bool
	// Meter, when set, receives OpenTelemetry instruments: the counter
	// steward.audit.events (attributes type, level, tenant) and the
	// histograms steward.backup.duration and steward.restore.ttr in ms.
	Meter metric.Meter
}

// Log is an append-only, hash-chained audit trail in a Store. Each event is
// one object, "<prefix>events/<20-digit seq>", created with IfNotExist, so
// two writers — goroutines or processes — never fork the chain: the loser
// of a race reads the winner's record and appends after it. Each record
// holds the previous record's hash; its own hash is SHA-256 over its
// sequence number, the previous hash and the event's JSON bytes as stored.
// Signed checkpoints every CheckpointEvery events let Verify notice a
// truncated tail up to the last checkpoint.
//
// Log implements Auditor and is safe for concurrent use.
type Log struct {
	store storage.Store
	cfg   LogConfig

	mu   sync.Mutex
	seq  uint64 // last known sequence number
	hash string // hash of record seq

	events   metric.Int64Counter
	backupMS metric.Float64Histogram
	ttrMS    metric.Float64Histogram
}

// record is the stored form of one event.
type record struct {
	Seq   uint64          `json:"seq"`
	Prev  string          `json:"prev"`
	Hash  string          `json:"hash"`
	Event json.RawMessage `json:"event"`
}

type checkpoint struct {
	Seq       uint64 `json:"seq"`
	Hash      string `json:"hash"`
	Signature string `json:"signature"`
}

// Errors of the audit log.
var (
	// ErrTampered: Verify found an edited, removed, reordered or truncated event.
	ErrTampered = errors.New("audit: log has been tampered with")
	// ErrCorrupt: a stored record cannot be decoded.
	ErrCorrupt = errors.New("audit: corrupt record")
)

// TamperError says where Verify found the first problem. It matches ErrTampered.
type TamperError struct {
	Seq    uint64
	Key    string
	Reason string
}

// Error says which event is wrong and why.
func (e *TamperError) Error() string {
	return fmt.Sprintf("audit: log tampered at event %d (%s): %s", e.Seq, e.Key, e.Reason)
}

// Is makes TamperError match ErrTampered.
func (e *TamperError) Is(target error) bool { return target == ErrTampered }

// NewLog opens (or starts) the log in store and finds its tail.
func NewLog(ctx context.Context, store storage.Store, cfg *LogConfig) (*Log, error) {
	l := &Log{store: store}
	if cfg != nil {
		l.cfg = *cfg
	}
	l.cfg.Clock = steward.ClockOrSystem(l.cfg.Clock)
	l.cfg.Authorizer = steward.AuthorizerOrDefault(l.cfg.Authorizer)
	if l.cfg.Prefix == "" {
		l.cfg.Prefix = "audit/"
	}
	if !strings.HasSuffix(l.cfg.Prefix, "/") {
		l.cfg.Prefix += "/"
	}
	if l.cfg.CheckpointEvery == 0 {
		l.cfg.CheckpointEvery = 100
	}
	if err := storage.RequireConditionalCreate(ctx, store, nil, l.cfg.SingleWriter, "audit log"); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	meter := l.cfg.Meter
	if meter == nil {
		meter = noop.NewMeterProvider().Meter("steward")
	}
	var err error
	if l.events, err = meter.Int64Counter("steward.audit.events", metric.WithDescription("audit events recorded")); err != nil {
		return nil, err
	}
	if l.backupMS, err = meter.Float64Histogram("steward.backup.duration", metric.WithUnit("ms")); err != nil {
		return nil, err
	}
	if l.ttrMS, err = meter.Float64Histogram("steward.restore.ttr", metric.WithUnit("ms")); err != nil {
		return nil, err
	}
	var last string
	for oi, err := range store.List(ctx, l.eventsPrefix()) {
		if err != nil {
			return nil, fmt.Errorf("audit: open log: %w", err)
		}
		last = oi.Key
	}
	if last != "" {
		rec, err := l.readRecord(ctx, last)
		if err != nil {
			return nil, err
		}
		l.seq, l.hash = rec.Seq, rec.Hash
	}
	return l, nil
}

func (l *Log) eventsPrefix() string { return l.cfg.Prefix + "events/" }

func (l *Log) eventKey(seq uint64) string { return fmt.Sprintf("%s%020d", l.eventsPrefix(), seq) }

func (l *Log) checkpointKey(seq uint64) string {
	return fmt.Sprintf("%scheckpoints/%020d", l.cfg.Prefix, seq)
}

// chainHash is the hash of a record.
func chainHash(seq uint64, prev string, event []byte) string {
	h := sha256.New()
	h.Write([]byte(strconv.FormatUint(seq, 10)))
	h.Write([]byte{'\n'})
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write(event)
	return hex.EncodeToString(h.Sum(nil))
}

// DecodeRecord parses a stored record and checks its own hash. It never
// panics on bad input.
func DecodeRecord(b []byte) (seq uint64, prev, hash string, e Event, err error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, "", "", Event{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if err := json.Unmarshal(r.Event, &e); err != nil {
		return 0, "", "", Event{}, fmt.Errorf("%w: event: %v", ErrCorrupt, err)
	}
	if r.Seq == 0 {
		return 0, "", "", Event{}, fmt.Errorf("%w: sequence number 0", ErrCorrupt)
	}
	return r.Seq, r.Prev, r.Hash, e, nil
}

func (l *Log) readRecord(ctx context.Context, key string) (*record, error) {
	b, err := storage.ReadAll(ctx, l.store, key)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("audit: %q: %w: %v", key, ErrCorrupt, err)
	}
	return &r, nil
}

// Record appends e to the log, filling ID (UUIDv7) and Timestamp when
// empty. It retries after losing a race to another writer.
func (l *Log) Record(ctx context.Context, e Event) error {
	if e.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		e.ID = id.String()
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = l.cfg.Clock.Now()
	}
	e.Timestamp = e.Timestamp.UTC()
	if e.Level == "" {
		e.Level = LevelInfo
	}
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: encode event: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		seq := l.seq + 1
		rec := record{Seq: seq, Prev: l.hash, Event: body}
		rec.Hash = chainHash(seq, l.hash, body)
		b, _ := json.Marshal(rec)
		err := storage.PutBytes(ctx, l.store, l.eventKey(seq), b, &storage.PutOptions{IfNotExist: true})
		if errors.Is(err, storage.ErrExists) {
			// Another writer took seq: follow its record and try after it.
			other, rerr := l.readRecord(ctx, l.eventKey(seq))
			if rerr != nil {
				return rerr
			}
			l.seq, l.hash = other.Seq, other.Hash
			continue
		}
		if err != nil {
			return fmt.Errorf("audit: append event %d: %w", seq, err)
		}
		l.seq, l.hash = seq, rec.Hash
		l.measure(ctx, &e)
		if len(l.cfg.CheckpointKey) > 0 && seq%l.cfg.CheckpointEvery == 0 {
			cp := checkpoint{Seq: seq, Hash: rec.Hash, Signature: l.sign(seq, rec.Hash)}
			cb, _ := json.Marshal(cp)
			err := storage.PutBytes(ctx, l.store, l.checkpointKey(seq), cb, &storage.PutOptions{IfNotExist: true})
			if err != nil && !errors.Is(err, storage.ErrExists) {
				return fmt.Errorf("audit: checkpoint %d: %w", seq, err)
			}
		}
		return nil
	}
}

func (l *Log) measure(ctx context.Context, e *Event) {
	attrs := metric.WithAttributes(attribute.String("type", e.Type), attribute.String("level", string(e.Level)), attribute.String("tenant", e.Tenant))
	l.events.Add(ctx, 1, attrs)
	switch e.Type {
	case TypeBackupCreated:
		if v, ok := num(e.Data[DataDurationMS]); ok {
			l.backupMS.Record(ctx, v, attrs)
		}
	case TypeRestoreCompleted:
		if v, ok := num(e.Data[DataTTRMS]); ok {
			l.ttrMS.Record(ctx, v, attrs)
		}
	}
}

func (l *Log) sign(seq uint64, hash string) string {
	m := hmac.New(sha256.New, l.cfg.CheckpointKey)
	fmt.Fprintf(m, "%d\n%s", seq, hash)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Events      uint64        `json:"events"`
	Checkpoints int           `json:"checkpoints"`
	Duration    time.Duration `json:"duration_ns"`
}

// Verify walks the whole chain and reports the first edited, removed,
// reordered or truncated event as a *TamperError (matching ErrTampered).
// Truncation is detected up to the newest signed checkpoint; events after
// it can be cut without a trace unless the host keeps the newest sequence
// number elsewhere (see Head).
func (l *Log) Verify(ctx context.Context) (*VerifyReport, error) {
	if err := l.cfg.Authorizer.Authorize(ctx, steward.ActionAuditRead, ""); err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &VerifyReport{}
	hashes := map[uint64]string{}
	var prevHash string
	var want uint64 = 1
	for rec, err := range l.records(ctx) {
		if err != nil {
			return rep, err
		}
		key := l.eventKey(rec.Seq)
		if rec.Seq != want {
			if rec.Seq > want {
				return rep, &TamperError{Seq: want, Key: l.eventKey(want), Reason: "event is missing (removed)"}
			}
			return rep, &TamperError{Seq: rec.Seq, Key: key, Reason: "sequence number out of order"}
		}
		if rec.Prev != prevHash {
			return rep, &TamperError{Seq: rec.Seq, Key: key, Reason: "previous-hash link is broken (an earlier event was edited, removed or reordered)"}
		}
		if got := chainHash(rec.Seq, rec.Prev, rec.Event); got != rec.Hash {
			return rep, &TamperError{Seq: rec.Seq, Key: key, Reason: "content does not match its hash (edited)"}
		}
		var e Event
		if err := json.Unmarshal(rec.Event, &e); err != nil {
			return rep, &TamperError{Seq: rec.Seq, Key: key, Reason: "event does not decode: " + err.Error()}
		}
		if len(l.cfg.CheckpointKey) > 0 && rec.Seq%l.cfg.CheckpointEvery == 0 {
			hashes[rec.Seq] = rec.Hash
		}
		prevHash = rec.Hash
		want++
		rep.Events++
	}
	if len(l.cfg.CheckpointKey) > 0 {
		for oi, err := range l.store.List(ctx, l.cfg.Prefix+"checkpoints/") {
			if err != nil {
				return rep, err
			}
			b, err := storage.ReadAll(ctx, l.store, oi.Key)
			if err != nil {
				return rep, err
			}
			var cp checkpoint
			if err := json.Unmarshal(b, &cp); err != nil {
				return rep, &TamperError{Seq: 0, Key: oi.Key, Reason: "checkpoint does not decode"}
			}
			if !hmac.Equal([]byte(cp.Signature), []byte(l.sign(cp.Seq, cp.Hash))) {
				return rep, &TamperError{Seq: cp.Seq, Key: oi.Key, Reason: "checkpoint signature is invalid"}
			}
			if cp.Seq > rep.Events {
				return rep, &TamperError{Seq: rep.Events + 1, Key: l.eventKey(rep.Events + 1), Reason: fmt.Sprintf("log ends at event %d but a signed checkpoint vouches for event %d (tail truncated)", rep.Events, cp.Seq)}
			}
			if hashes[cp.Seq] != cp.Hash {
				return rep, &TamperError{Seq: cp.Seq, Key: l.eventKey(cp.Seq), Reason: "event differs from the signed checkpoint"}
			}
			rep.Checkpoints++
		}
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

// Head returns the newest sequence number and hash this Log has seen.
// Hosts that keep it elsewhere (a database row, a log line) can detect any
// truncation, not only up to the last checkpoint.
func (l *Log) Head() (uint64, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.hash
}

// records yields the stored records in sequence order, reading ahead in
// parallel.
func (l *Log) records(ctx context.Context) iter.Seq2[record, error] {
	return func(yield func(record, error) bool) {
		var keys []string
		for oi, err := range l.store.List(ctx, l.eventsPrefix()) {
			if err != nil {
				yield(record{}, fmt.Errorf("audit: list events: %w", err))
				return
			}
			keys = append(keys, oi.Key)
		}
		const batch = 256
		for start := 0; start < len(keys); start += batch {
			end := min(start+batch, len(keys))
			recs := make([]record, end-start)
			errs := make([]error, end-start)
			var wg sync.WaitGroup
			sem := make(chan struct{}, 16)
			for i := start; i < end; i++ {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					b, err := storage.ReadAll(ctx, l.store, keys[i])
					if err != nil {
						errs[i-start] = fmt.Errorf("audit: %w", err)
						return
					}
					if err := json.Unmarshal(b, &recs[i-start]); err != nil {
						errs[i-start] = &TamperError{Key: keys[i], Reason: "record does not decode: " + err.Error()}
						return
					}
					if want := l.eventKey(recs[i-start].Seq); want != keys[i] {
						at, _ := strconv.ParseUint(strings.TrimPrefix(keys[i], l.eventsPrefix()), 10, 64)
						errs[i-start] = &TamperError{Seq: at, Key: keys[i], Reason: fmt.Sprintf("record of event %d stored under this key (moved or swapped)", recs[i-start].Seq)}
					}
				}()
			}
			wg.Wait()
			for i := range recs {
				if errs[i] != nil {
					yield(record{}, errs[i])
					return
				}
				if !yield(recs[i], nil) {
					return
				}
			}
		}
	}
}

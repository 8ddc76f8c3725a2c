package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/record"
	"github.com/iluxsys/steward/storage"
)

// LogConfig configures a Log. A nil *LogConfig means defaults.
type LogConfig struct {
	// Clock stamps events that have no timestamp (default system clock).
	Clock steward.Clock
	// Prefix is where the log lives in the Store (default "audit/").
	Prefix string
	// RecordKey is a secret the host holds and the Store never sees, at
	// least steward.MinRecordKey random bytes (NewLog refuses a shorter
	// one). It authenticates every record (HMAC-SHA-256 bound to the
	// record's object key) and signs a checkpoint every CheckpointEvery
	// events. Nil means a store writer can forge, edit and re-chain the log
	// and cut its tail unnoticed: the hash chain then only catches damage.
	RecordKey []byte
	// CheckpointEvery is how many events separate checkpoints (default 100).
	// Keep it fixed for a log's life: Verify requires a checkpoint at every
	// multiple of it.
	CheckpointEvery uint64
	// OnCheckpoint, when set, is handed each signed checkpoint after it is
	// stored, so the host can keep it outside the Store (another bucket, a
	// database row, a log line) and later pass the newest to VerifyFrom: a
	// store writer who cuts the tail and deletes its checkpoints cannot
	// reach that copy. It is called synchronously by Record (and by NewLog
	// when it rewrites a checkpoint a crash left missing), without the
	// Log's lock held, so it may call the Log; it should return quickly.
	OnCheckpoint func(ctx context.Context, cp Checkpoint)
	// Authorizer guards Query, Export, Verify and Dashboard (default
	// MasterOnly). Record is not guarded: the SDK's packages write to it.
	Authorizer steward.Authorizer
	// SingleWriter declares this process the only writer of the log. Without
	// it, NewLog refuses a store that ignores conditional create (two
	// writers could fork the chain there).
	SingleWriter bool
}

// Log is an append-only, hash-chained audit trail in a Store. Each event is
// one object, "<prefix>events/<20-digit seq>", created with IfNotExist, so
// two writers — goroutines or processes — never fork the chain: the loser
// of a race reads the winner's record and appends after it. Each record
// holds the previous record's hash; its own hash is SHA-256 over its
// sequence number, the previous hash and the event's JSON bytes as stored.
//
// With a RecordKey, each record also carries a MAC bound to its object key,
// and a signed checkpoint ("<prefix>checkpoints/<seq>") is stored at every
// multiple of CheckpointEvery. Reading the log (Verify, Query, Export,
// Dashboard, NewLog's tail) then refuses a forged, edited, moved or
// re-chained record (ErrTampered and steward.ErrForged), and Verify refuses
// a missing event or checkpoint (only the newest checkpoint may be missing,
// after a crash) and a tail cut below a stored checkpoint. A tail cut
// together with the checkpoints above it is detected only against a
// checkpoint the host kept outside the Store (OnCheckpoint, VerifyFrom).
// Records written before the key existed carry no MAC; they are accepted
// while a record written with the key follows them, whose chain pins them.
//
// Without a key the chain only detects damage: a store writer can rewrite
// it consistently or cut its tail.
//
// Log implements Auditor and is safe for concurrent use. It measures
// nothing itself: wrap it with Metered for OpenTelemetry metrics.
type Log struct {
	store storage.Store
	cfg   LogConfig
	key   record.Key

	mu   sync.Mutex
	seq  uint64      // last known sequence number
	hash string      // hash of record seq
	due  *Checkpoint // a checkpoint whose write failed, retried by Record
	obs  observers   // see Observe
}

// Errors of the audit log.
var (
	// ErrTampered: an edited, forged, removed, reordered or truncated event
	// or checkpoint.
	ErrTampered = errors.New("audit: log has been tampered with")
	// ErrCorrupt: a stored record cannot be decoded.
	ErrCorrupt = errors.New("audit: corrupt record")
)

// TamperError says where the first problem is. It matches ErrTampered, and
// Err (steward.ErrForged when a record or checkpoint fails its MAC).
type TamperError struct {
	Seq    uint64 // the event or checkpoint's sequence number
	Key    string // its object key
	Reason string // what is wrong, in words
	Err    error  // the cause, or nil
}

// Error says which event or checkpoint is wrong and why.
func (e *TamperError) Error() string {
	s := fmt.Sprintf("audit: log tampered at %d (%s): %s", e.Seq, e.Key, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is makes TamperError match ErrTampered.
func (e *TamperError) Is(target error) bool { return target == ErrTampered }

// Unwrap returns the cause.
func (e *TamperError) Unwrap() error { return e.Err }

// NewLog opens (or starts) the log in store and finds its tail. With a
// RecordKey it refuses a tail record that fails its MAC; when the tail
// carries no MAC (a log written before the key existed) it walks the log
// once to check that no record written with the key precedes it. It
// rewrites the newest checkpoint when a crash left it missing.
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
	var err error
	if l.key, err = record.New(l.cfg.RecordKey, "audit"); err != nil {
		return nil, errs.Errorf("audit", "%w", err)
	}
	if err := storage.RequireConditionalCreate(ctx, store, nil, l.cfg.SingleWriter, "audit log"); err != nil {
		return nil, errs.Errorf("audit", "%w", err)
	}
	if err := l.openTail(ctx); err != nil {
		return nil, err
	}
	cp, err := l.repairCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	l.anchor(ctx, cp)
	return l, nil
}

// openTail finds the newest record and checks it.
func (l *Log) openTail(ctx context.Context) error {
	var last string
	for oi, err := range l.store.List(ctx, l.eventsPrefix()) {
		if err != nil {
			return errs.Errorf("audit", "open log: %w", err)
		}
		last = oi.Key
	}
	if last == "" {
		return nil
	}
	rec, err := l.readRecord(ctx, last)
	if err != nil {
		return err
	}
	if l.key.Keyed() && rec.Tag == "" {
		if err := l.checkUntagged(ctx); err != nil {
			return err
		}
	}
	l.seq, l.hash = rec.Seq, rec.Hash
	return nil
}

// checkUntagged walks a log whose tail carries no MAC: that is a log
// written before the key existed only if no record before it carries one.
func (l *Log) checkUntagged(ctx context.Context) error {
	c := l.newChain()
	for rec, err := range l.records(ctx) {
		if err == nil {
			err = c.next(&rec)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// repairCheckpoint writes the newest checkpoint when a crash between its
// event and itself left it missing, so that it does not become a gap once
// the log grows past the next one.
func (l *Log) repairCheckpoint(ctx context.Context) (*Checkpoint, error) {
	m := l.seq - l.seq%l.cfg.CheckpointEvery
	if !l.key.Keyed() || m == 0 {
		return nil, nil
	}
	_, err := l.store.Stat(ctx, l.checkpointKey(m))
	if !errors.Is(err, storage.ErrNotFound) {
		if err != nil {
			return nil, errs.Errorf("audit", "checkpoint %d: %w", m, err)
		}
		return nil, nil
	}
	rec, err := l.readRecord(ctx, l.eventKey(m))
	if err != nil || rec.Tag == "" {
		return nil, err // an untagged record m: a log written before the key
	}
	return l.writeCheckpoint(ctx, m, rec.Hash)
}

func (l *Log) eventsPrefix() string { return l.cfg.Prefix + "events/" }

func (l *Log) eventKey(seq uint64) string { return fmt.Sprintf("%s%020d", l.eventsPrefix(), seq) }

func (l *Log) checkpointsPrefix() string { return l.cfg.Prefix + "checkpoints/" }

func (l *Log) checkpointKey(seq uint64) string {
	return fmt.Sprintf("%s%020d", l.checkpointsPrefix(), seq)
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

// Record appends e to the log, filling ID (UUIDv7) and Timestamp when
// empty. It retries after losing a race to another writer. With a key it
// refuses to append after a record another writer stored without it, and
// fails (before appending) while an earlier checkpoint cannot be stored.
func (l *Log) Record(ctx context.Context, e Event) error {
	body, err := l.encode(&e)
	if err != nil {
		return err
	}
	cps, err := l.append(ctx, &e, body)
	for _, cp := range cps {
		l.anchor(ctx, &cp)
	}
	return err
}

func (l *Log) encode(e *Event) ([]byte, error) {
	if e.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
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
		return nil, errs.Errorf("audit", "encode event: %w", err)
	}
	return body, nil
}

// append stores body, the encoding of e, as the next record, tells the
// observers, then stores the checkpoint due at its sequence number, if
// any; it returns the checkpoints it stored.
func (l *Log) append(ctx context.Context, e *Event, body []byte) ([]Checkpoint, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var cps []Checkpoint
	if err := l.flushDue(ctx, &cps); err != nil {
		return cps, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return cps, err
		}
		seq := l.seq + 1
		rec := l.newRecord(seq, body)
		b, _ := json.Marshal(rec)
		err := storage.PutBytes(ctx, l.store, l.eventKey(seq), b, &storage.PutOptions{IfNotExist: true})
		if errors.Is(err, storage.ErrExists) {
			if err := l.follow(ctx, seq); err != nil {
				return cps, err
			}
			continue
		}
		if err != nil {
			return cps, errs.Errorf("audit", "append event %d: %w", seq, err)
		}
		l.seq, l.hash = seq, rec.Hash
		l.notify(rec, e)
		if l.key.Keyed() && seq%l.cfg.CheckpointEvery == 0 {
			l.due = &Checkpoint{Seq: seq, Hash: rec.Hash}
		}
		return cps, l.flushDue(ctx, &cps)
	}
}

// newRecord builds record seq after the tail, with its MAC when keyed.
func (l *Log) newRecord(seq uint64, body []byte) *entry {
	rec := &entry{Seq: seq, Prev: l.hash, Event: body}
	rec.Hash = chainHash(seq, l.hash, body)
	if l.key.Keyed() {
		record.Stamp(l.key, l.eventKey(seq), rec, &rec.Tag)
	}
	return rec
}

// follow moves the tail to record seq, which another writer stored.
func (l *Log) follow(ctx context.Context, seq uint64) error {
	other, err := l.readRecord(ctx, l.eventKey(seq))
	if err != nil {
		return err
	}
	if l.key.Keyed() && other.Tag == "" {
		return &TamperError{Seq: seq, Key: l.eventKey(seq), Reason: "another writer stored this record without the record key", Err: steward.ErrForged}
	}
	l.seq, l.hash = other.Seq, other.Hash
	return nil
}

// flushDue stores the due checkpoint, if any, adding it to *cps.
func (l *Log) flushDue(ctx context.Context, cps *[]Checkpoint) error {
	if l.due == nil {
		return nil
	}
	cp, err := l.writeCheckpoint(ctx, l.due.Seq, l.due.Hash)
	if err != nil {
		return err
	}
	l.due = nil
	if cp != nil {
		*cps = append(*cps, *cp)
	}
	return nil
}

// writeCheckpoint signs and stores the checkpoint for record seq. It
// returns nil when another writer stored it first.
func (l *Log) writeCheckpoint(ctx context.Context, seq uint64, hash string) (*Checkpoint, error) {
	cp := &Checkpoint{Seq: seq, Hash: hash}
	key := l.checkpointKey(seq)
	record.Stamp(l.key, key, cp, &cp.MAC)
	b, _ := json.Marshal(cp)
	err := storage.PutBytes(ctx, l.store, key, b, &storage.PutOptions{IfNotExist: true})
	if errors.Is(err, storage.ErrExists) {
		return nil, nil
	}
	if err != nil {
		return nil, errs.Errorf("audit", "checkpoint %d: %w", seq, err)
	}
	return cp, nil
}

// anchor hands a stored checkpoint to the host.
func (l *Log) anchor(ctx context.Context, cp *Checkpoint) {
	if cp != nil && l.cfg.OnCheckpoint != nil {
		l.cfg.OnCheckpoint(ctx, *cp)
	}
}

// Head returns the newest sequence number and hash this Log has seen.
// A host that keeps them elsewhere can pass them to VerifyFrom as a
// Checkpoint without a MAC to detect any truncation, not only up to the
// newest stored checkpoint.
func (l *Log) Head() (uint64, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.hash
}

package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/record"
	"github.com/iluxsys/steward/storage"
)

// Checkpoint vouches that record Seq of the log has chain hash Hash. MAC
// (record.Key, purpose "audit") covers Seq and Hash and is bound to the
// checkpoint's object key, so only a holder of the RecordKey can make one.
// The Log stores one every CheckpointEvery events and hands it to
// LogConfig.OnCheckpoint; VerifyFrom takes one back.
type Checkpoint struct {
	// Seq is the sequence number of the event it pins.
	Seq uint64 `json:"seq"`
	// Hash is that event's chain hash.
	Hash string `json:"hash"`
	// MAC authenticates Seq and Hash; empty in a checkpoint the host made
	// from Head, which VerifyFrom then trusts as the host's own.
	MAC string `json:"mac"`
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	// Events is the number of events checked.
	Events uint64 `json:"events"`
	// Checkpoints is the number of stored checkpoints checked.
	Checkpoints int `json:"checkpoints"`
	// Duration is how long the verification took.
	Duration time.Duration `json:"duration_ns"`
}

// Verify walks the whole log, streaming, and reports the first problem as
// a *TamperError (matching ErrTampered, and steward.ErrForged when a MAC
// fails): an edited, forged, moved, removed or reordered event; with a
// key, a record without MAC after one with it (or one no keyed record
// pins), a checkpoint that fails its MAC or disagrees with its event, a
// missing checkpoint at a multiple of CheckpointEvery (only the newest may
// be missing, after a crash), and a tail cut below a stored checkpoint. A
// tail cut together with the checkpoints above it goes unnoticed here: see
// VerifyFrom.
func (l *Log) Verify(ctx context.Context) (*VerifyReport, error) {
	return l.verify(ctx, nil)
}

// VerifyFrom is Verify that also requires the log to reach anchor, a
// checkpoint the host kept outside the Store (from OnCheckpoint, or Head
// without a MAC): a log that ends before anchor.Seq, or whose record there
// has another hash, is reported as a *TamperError naming the sequence
// number. An anchor with a MAC is checked first (a wrong one gives an
// error matching steward.ErrForged).
func (l *Log) VerifyFrom(ctx context.Context, anchor Checkpoint) (*VerifyReport, error) {
	if anchor.MAC != "" && l.key.Keyed() {
		if err := record.Verify(l.key, l.checkpointKey(anchor.Seq), &anchor, &anchor.MAC); err != nil {
			return nil, errs.Errorf("audit", "anchor checkpoint %d: %w", anchor.Seq, err)
		}
	}
	return l.verify(ctx, &anchor)
}

// verifier is the state of one Verify walk.
type verifier struct {
	l       *Log
	chain   *chain
	anchor  *Checkpoint
	missing uint64 // a checkpoint found missing; only the newest may be
	rep     VerifyReport
}

func (l *Log) verify(ctx context.Context, anchor *Checkpoint) (*VerifyReport, error) {
	if err := l.cfg.Authorizer.Authorize(ctx, steward.ActionAuditRead, ""); err != nil {
		return nil, err
	}
	start := time.Now()
	v := &verifier{l: l, chain: l.newChain(), anchor: anchor}
	for rec, err := range l.records(ctx) {
		if err == nil {
			err = v.step(ctx, &rec)
		}
		if err != nil {
			return &v.rep, err
		}
	}
	if err := v.finish(ctx); err != nil {
		return &v.rep, err
	}
	v.rep.Duration = time.Since(start)
	return &v.rep, nil
}

// step checks one record and the checkpoint due at it.
func (v *verifier) step(ctx context.Context, rec *entry) error {
	if err := v.chain.next(rec); err != nil {
		return err
	}
	key := v.l.eventKey(rec.Seq)
	var e Event
	if err := json.Unmarshal(rec.Event, &e); err != nil {
		return &TamperError{Seq: rec.Seq, Key: key, Reason: "event does not decode: " + err.Error()}
	}
	if a := v.anchor; a != nil && a.Seq == rec.Seq && a.Hash != rec.Hash {
		return &TamperError{Seq: rec.Seq, Key: key, Reason: "event differs from the anchor checkpoint held outside the store"}
	}
	v.rep.Events++
	return v.checkpoint(ctx, rec)
}

// checkpoint checks the checkpoint of rec when one is due: with a key, at
// every multiple of CheckpointEvery from the first record with a MAC on.
func (v *verifier) checkpoint(ctx context.Context, rec *entry) error {
	l := v.l
	if !l.key.Keyed() || rec.Tag == "" || rec.Seq%l.cfg.CheckpointEvery != 0 {
		return nil
	}
	if m := v.missing; m != 0 {
		return &TamperError{Seq: m, Key: l.checkpointKey(m), Reason: fmt.Sprintf("checkpoint is missing (deleted), though event %d follows it; only the newest may be missing", rec.Seq)}
	}
	cp, err := l.readCheckpoint(ctx, l.checkpointKey(rec.Seq))
	if errors.Is(err, storage.ErrNotFound) {
		v.missing = rec.Seq
		return nil
	}
	if err != nil {
		return err
	}
	if cp.Seq != rec.Seq || cp.Hash != rec.Hash {
		return &TamperError{Seq: rec.Seq, Key: l.eventKey(rec.Seq), Reason: "event differs from its signed checkpoint"}
	}
	v.rep.Checkpoints++
	return nil
}

// finish checks what only the end of the walk shows: records without MAC
// left unpinned and a tail cut below the anchor or a stored checkpoint.
func (v *verifier) finish(ctx context.Context) error {
	if err := v.chain.finish(); err != nil {
		return err
	}
	head := v.chain.head()
	if a := v.anchor; a != nil && head < a.Seq {
		return v.truncated(head, fmt.Sprintf("the anchor checkpoint held outside the store vouches for event %d", a.Seq))
	}
	if !v.l.key.Keyed() {
		return nil
	}
	for oi, err := range v.l.store.List(ctx, v.l.checkpointsPrefix()) {
		if err != nil {
			return errs.Errorf("audit", "list checkpoints: %w", err)
		}
		seq, err := strconv.ParseUint(strings.TrimPrefix(oi.Key, v.l.checkpointsPrefix()), 10, 64)
		if err != nil {
			return &TamperError{Key: oi.Key, Reason: "unexpected object among the checkpoints"}
		}
		if seq <= head {
			continue
		}
		if _, err := v.l.readCheckpoint(ctx, oi.Key); err != nil {
			return err
		}
		return v.truncated(head, fmt.Sprintf("a signed checkpoint vouches for event %d", seq))
	}
	return nil
}

func (v *verifier) truncated(head uint64, why string) error {
	return &TamperError{Seq: head + 1, Key: v.l.eventKey(head + 1), Reason: fmt.Sprintf("log ends at event %d but %s (tail truncated)", head, why)}
}

// readCheckpoint reads the checkpoint stored under key and checks its MAC.
// A missing one gives an error matching storage.ErrNotFound.
func (l *Log) readCheckpoint(ctx context.Context, key string) (*Checkpoint, error) {
	at, _ := strconv.ParseUint(strings.TrimPrefix(key, l.checkpointsPrefix()), 10, 64)
	b, err := storage.ReadAll(ctx, l.store, key)
	if err != nil {
		return nil, errs.Errorf("audit", "%w", err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, &TamperError{Seq: at, Key: key, Reason: "checkpoint does not decode"}
	}
	if err := record.Verify(l.key, key, &cp, &cp.MAC); err != nil {
		return nil, &TamperError{Seq: at, Key: key, Reason: "checkpoint fails its MAC", Err: err}
	}
	return &cp, nil
}

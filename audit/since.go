package audit

import (
	"context"
	"encoding/json"
	"errors"
	"iter"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/storage"
)

// Since yields the records appended after from, oldest first, each with
// its event: a reader that keeps the last Seq and Hash it was given (as a
// Checkpoint) follows the log at a cost in reads of the events appended
// since, never of the log's length. from is the zero Checkpoint (the
// first record), one Since yielded, one VerifySince returned or Head's.
//
// It first reads the record at from.Seq, which must still have from.Hash;
// then the records up to this Log's head in parallel batches, then each
// next record by its key until one is not stored. Every record is checked
// as Events checks it (numbering, links, hashes, MACs, records without
// MAC after ones with it); a problem ends the sequence with a
// *TamperError. A record stored past a gap is not looked for: Verify and
// VerifySince report gaps.
//
// Like Events without a tenant it needs steward.ActionAuditRead on the
// whole log. Safe for concurrent use.
func (l *Log) Since(ctx context.Context, from Checkpoint) iter.Seq2[Recorded, error] {
	return func(yield func(Recorded, error) bool) {
		if err := l.cfg.Authorizer.Authorize(ctx, steward.ActionAuditRead, ""); err != nil {
			yield(Recorded{}, err)
			return
		}
		l.Follow(ctx, from)(yield)
	}
}

// Follow is Since for the host itself: it reads and checks the records
// exactly as Since does, but asks the Authorizer nothing, whoever the
// context's principal is. Like Observe, it is the host's seam, never a
// request's: the Authorizer guards what principals read through the Log,
// while the process holding the Log already holds its Store and record
// key, so Follow gives it nothing it could not read. A host that keeps
// an index of the log with it (the admin console does) must itself
// authorize each principal for what it serves from that index, by tenant,
// and should read the events it shows with the principal's own rights
// (At, which also refuses a record of another tenant). Safe for
// concurrent use.
func (l *Log) Follow(ctx context.Context, from Checkpoint) iter.Seq2[Recorded, error] {
	return func(yield func(Recorded, error) bool) {
		c, err := l.resume(ctx, from)
		if err != nil {
			yield(Recorded{}, err)
			return
		}
		emit := func(rec entry, err error) bool {
			if err == nil {
				err = c.next(&rec)
			}
			var r Recorded
			if err == nil {
				r, err = l.recorded(&rec)
			}
			return yield(r, err) && err == nil
		}
		if !l.readKnown(ctx, c.want, emit) {
			return
		}
		for {
			rec, err := l.readRecord(ctx, l.eventKey(c.want))
			if errors.Is(err, storage.ErrNotFound) {
				return
			}
			if err != nil {
				yield(Recorded{}, err)
				return
			}
			if !emit(*rec, nil) {
				return
			}
		}
	}
}

// readKnown reads the records from seq up to this Log's head, which are
// known to be stored, in parallel batches; it reports whether to go on.
func (l *Log) readKnown(ctx context.Context, seq uint64, yield func(entry, error) bool) bool {
	const batch = 256
	head, _ := l.Head()
	for seq <= head {
		keys := make([]string, 0, min(batch, head-seq+1))
		for ; seq <= head && len(keys) < batch; seq++ {
			keys = append(keys, l.eventKey(seq))
		}
		if !l.readBatch(ctx, keys, yield) {
			return false
		}
	}
	return true
}

// recorded decodes rec's event.
func (l *Log) recorded(rec *entry) (Recorded, error) {
	var e Event
	if err := json.Unmarshal(rec.Event, &e); err != nil {
		return Recorded{}, &TamperError{Seq: rec.Seq, Key: l.eventKey(rec.Seq), Reason: "event does not decode"}
	}
	return Recorded{Seq: rec.Seq, Prev: rec.Prev, Hash: rec.Hash, Event: e, JSON: rec.Event}, nil
}

// Recent returns the events that match f, newest first: the newest
// f.Limit of them (all with Limit 0). It reads from the log's tail
// backwards, in parallel batches, and stops once it has Limit matches, so
// a page of the newest events costs about Limit reads (more when f is
// selective), whatever the log's length; Scanned says how many records it
// read.
//
// The records read are checked as a chain anchored at the tail: each one's
// hash and MAC, each link to the record before it, and, with a key, that
// no record without MAC follows one with it. What it cannot see is a
// change before the oldest record it read; Verify checks the whole chain.
// Like Events it needs steward.ActionAuditRead on f.Tenant. Safe for
// concurrent use.
func (l *Log) Recent(ctx context.Context, f Filter) (events []Event, scanned int, err error) {
	recs, scanned, err := l.RecentRecords(ctx, f)
	if err != nil {
		return nil, scanned, err
	}
	events = make([]Event, len(recs))
	for i := range recs {
		events[i] = recs[i].Event
	}
	return events, scanned, nil
}

// RecentRecords is Recent with each event's place in the chain: its
// sequence number and hash, which At reads it again by and a reader may
// page from.
func (l *Log) RecentRecords(ctx context.Context, f Filter) (records []Recorded, scanned int, err error) {
	if err := l.cfg.Authorizer.Authorize(ctx, steward.ActionAuditRead, f.Tenant); err != nil {
		return nil, 0, err
	}
	b := backward{l: l}
	tail, err := l.tail(ctx, &b)
	if err != nil {
		return nil, 0, err
	}
	batch := uint64(256)
	if f.Limit > 0 {
		batch = uint64(min(256, f.Limit)) // a first page of the newest: about Limit reads
	}
	for hi := tail; hi > 0 && (f.Limit == 0 || len(records) < f.Limit); batch = 256 {
		lo := hi - min(hi, batch) + 1
		keys := make([]string, 0, hi-lo+1)
		for s := hi; s >= lo; s-- {
			keys = append(keys, l.eventKey(s))
		}
		var serr error
		l.readBatch(ctx, keys, func(rec entry, rerr error) bool {
			var r Recorded
			if r, serr = b.step(&rec, rerr); serr != nil {
				return false
			}
			scanned++
			if f.Match(&r.Event) {
				records = append(records, r)
			}
			return f.Limit == 0 || len(records) < f.Limit
		})
		if serr != nil {
			return nil, scanned, serr
		}
		hi = lo - 1
	}
	return records, scanned, nil
}

// tail is the sequence number of the newest stored record: this Log's
// head, then any record another writer appended after it. When it is the
// head, b is told the head's hash, which the record must still have.
func (l *Log) tail(ctx context.Context, b *backward) (uint64, error) {
	head, hash := l.Head()
	seq := head
	for {
		_, err := l.store.Stat(ctx, l.eventKey(seq+1))
		if errors.Is(err, storage.ErrNotFound) {
			if seq == head {
				b.anchor = hash
			}
			return seq, nil
		}
		if err != nil {
			return 0, errs.Errorf("audit", "find the tail: %w", err)
		}
		seq++
	}
}

// backward checks records read from the tail towards the first.
type backward struct {
	l      *Log
	anchor string // the hash the tail must have ("" when unknown)
	next   *entry // the record after the one being checked (nil at the tail)
	bare   bool   // a record without MAC was seen, newer than the current one
}

// step checks rec, the record before b.next, and decodes its event.
func (b *backward) step(rec *entry, err error) (Recorded, error) {
	if err != nil {
		return Recorded{}, err
	}
	key := b.l.eventKey(rec.Seq)
	switch {
	case b.next == nil && b.anchor != "" && rec.Hash != b.anchor:
		return Recorded{}, &TamperError{Seq: rec.Seq, Key: key, Reason: "newest event differs from the one this Log appended or followed"}
	case b.next != nil && b.next.Seq != rec.Seq+1:
		return Recorded{}, &TamperError{Seq: rec.Seq + 1, Key: b.l.eventKey(rec.Seq + 1), Reason: "sequence number out of order"}
	case b.next != nil && b.next.Prev != rec.Hash:
		return Recorded{}, &TamperError{Seq: b.next.Seq, Key: b.l.eventKey(b.next.Seq), Reason: "previous-hash link is broken (an earlier event was edited, removed or reordered)"}
	case chainHash(rec.Seq, rec.Prev, rec.Event) != rec.Hash:
		return Recorded{}, &TamperError{Seq: rec.Seq, Key: key, Reason: "content does not match its hash (edited)"}
	case b.l.key.Keyed() && rec.Tag == "" && b.next == nil:
		return Recorded{}, &TamperError{Seq: rec.Seq, Key: key, Err: steward.ErrForged,
			Reason: "no record written with the record key follows this one; an event recorded with the key pins the records written before it"}
	case b.l.key.Keyed() && rec.Tag != "" && b.bare:
		return Recorded{}, &TamperError{Seq: rec.Seq + 1, Key: b.l.eventKey(rec.Seq + 1), Err: steward.ErrForged,
			Reason: "record carries no MAC after records that do (stored without the record key)"}
	}
	b.bare = b.bare || rec.Tag == ""
	r, err := b.l.recorded(rec)
	b.next = rec
	return r, err
}

// At returns the records at points, in their order, each read by its key
// (in parallel) and checked on its own: its MAC, its hash over its
// content, and the hash the point names, which a reader that followed the
// chain (Since) saw there. So a reader that keeps the sequence numbers and
// hashes of the events it followed reads any of them again, and only
// them, at one read each. A record that differs is a *TamperError.
//
// It needs steward.ActionAuditRead on tenant; with a tenant, a record of
// another tenant is refused with steward.ErrForbidden. Safe for concurrent
// use.
func (l *Log) At(ctx context.Context, tenant string, points []Checkpoint) ([]Recorded, error) {
	if err := l.cfg.Authorizer.Authorize(ctx, steward.ActionAuditRead, tenant); err != nil {
		return nil, err
	}
	keys := make([]string, len(points))
	for i, p := range points {
		keys[i] = l.eventKey(p.Seq)
	}
	out := make([]Recorded, 0, len(points))
	var err error
	l.readBatch(ctx, keys, func(rec entry, rerr error) bool {
		p := points[len(out)]
		var r Recorded
		switch {
		case rerr != nil:
			err = rerr
		case rec.Hash != p.Hash || chainHash(rec.Seq, rec.Prev, rec.Event) != rec.Hash:
			err = &TamperError{Seq: p.Seq, Key: l.eventKey(p.Seq), Reason: "event differs from when it was read in the chain"}
		default:
			r, err = l.recorded(&rec)
		}
		if err == nil && tenant != "" && r.Event.Tenant != tenant {
			err = errs.Errorf("audit", "event %d is not of tenant %q: %w", p.Seq, tenant, steward.ErrForbidden)
		}
		out = append(out, r)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/record"
	"github.com/iluxsys/steward/storage"
)

// entry is the stored form of one event. Tag is the MAC (record.Key,
// purpose "audit") over the record's JSON without it, bound to its object
// key; it is empty in records written without a key.
type entry struct {
	Seq   uint64          `json:"seq"`
	Prev  string          `json:"prev"`
	Hash  string          `json:"hash"`
	Event json.RawMessage `json:"event"`
	Tag   string          `json:"tag,omitempty"`
}

// Record is a stored audit record as DecodeRecord reads it: the event,
// its sequence number, its chain hash and the hash of the record before.
type Record struct {
	Seq   uint64
	Prev  string
	Hash  string
	Event Event
}

// DecodeRecord parses a stored record. It checks neither the chain nor the
// MAC (that takes the log and its key: see Log.Verify) and never panics on
// bad input; an error matches ErrCorrupt.
func DecodeRecord(b []byte) (Record, error) {
	var r entry
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	var e Event
	if err := json.Unmarshal(r.Event, &e); err != nil {
		return Record{}, fmt.Errorf("%w: event: %v", ErrCorrupt, err)
	}
	if r.Seq == 0 {
		return Record{}, fmt.Errorf("%w: sequence number 0", ErrCorrupt)
	}
	return Record{Seq: r.Seq, Prev: r.Prev, Hash: r.Hash, Event: e}, nil
}

// decode parses the record stored under key and checks that it belongs
// there and, when it carries a MAC and the Log has a key, the MAC.
func (l *Log) decode(key string, b []byte) (*entry, error) {
	at, _ := strconv.ParseUint(strings.TrimPrefix(key, l.eventsPrefix()), 10, 64)
	var r entry
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, &TamperError{Seq: at, Key: key, Reason: "record does not decode: " + err.Error(), Err: ErrCorrupt}
	}
	if l.eventKey(r.Seq) != key {
		return nil, &TamperError{Seq: at, Key: key, Reason: fmt.Sprintf("record of event %d stored under this key (moved or swapped)", r.Seq)}
	}
	if l.key.Keyed() && r.Tag != "" {
		if err := record.Verify(l.key, key, &r, &r.Tag); err != nil {
			return nil, &TamperError{Seq: at, Key: key, Reason: "record fails its MAC", Err: err}
		}
	}
	return &r, nil
}

func (l *Log) readRecord(ctx context.Context, key string) (*entry, error) {
	b, err := storage.ReadAll(ctx, l.store, key)
	if err != nil {
		return nil, errs.Errorf("audit", "%w", err)
	}
	return l.decode(key, b)
}

// chain checks records in sequence order from the first: numbering, links,
// hashes and, with a key, that records without a MAC form a prefix pinned
// by the chain of a record with one.
type chain struct {
	l      *Log
	want   uint64 // next sequence number
	prev   string // hash of record want-1
	tagged bool   // a record with a valid MAC has been seen
	bare   uint64 // first record of a run without MAC not yet pinned (0: none)
}

func (l *Log) newChain() *chain { return &chain{l: l, want: 1} }

// head is the sequence number of the last record accepted.
func (c *chain) head() uint64 { return c.want - 1 }

// next accepts rec, which decode has checked, or says why not.
func (c *chain) next(rec *entry) error {
	key := c.l.eventKey(rec.Seq)
	switch {
	case rec.Seq > c.want:
		return &TamperError{Seq: c.want, Key: c.l.eventKey(c.want), Reason: "event is missing (removed)"}
	case rec.Seq < c.want:
		return &TamperError{Seq: rec.Seq, Key: key, Reason: "sequence number out of order"}
	}
	if err := c.tag(rec, key); err != nil {
		return err
	}
	if rec.Prev != c.prev {
		return &TamperError{Seq: rec.Seq, Key: key, Reason: "previous-hash link is broken (an earlier event was edited, removed or reordered)"}
	}
	if chainHash(rec.Seq, rec.Prev, rec.Event) != rec.Hash {
		return &TamperError{Seq: rec.Seq, Key: key, Reason: "content does not match its hash (edited)"}
	}
	c.prev = rec.Hash
	c.want++
	return nil
}

// tag applies the key's rule: a record without MAC is accepted only
// before the first record with one (whose link then pins it).
func (c *chain) tag(rec *entry, key string) error {
	switch {
	case !c.l.key.Keyed():
	case rec.Tag != "":
		c.tagged, c.bare = true, 0
	case c.tagged:
		return &TamperError{Seq: rec.Seq, Key: key, Reason: "record carries no MAC after records that do (stored without the record key)", Err: steward.ErrForged}
	case c.bare == 0:
		c.bare = rec.Seq
	}
	return nil
}

// finish reports records without MAC that no record with one pins.
func (c *chain) finish() error {
	if c.bare == 0 {
		return nil
	}
	return &TamperError{Seq: c.bare, Key: c.l.eventKey(c.bare), Err: steward.ErrForged,
		Reason: "no record written with the record key follows this one; an event recorded with the key pins the records written before it"}
}

// records yields the stored records in sequence order, decoded and their
// MACs checked, listing and reading ahead in parallel batches: memory stays
// bounded by the batch, whatever the log's length.
func (l *Log) records(ctx context.Context) iter.Seq2[entry, error] {
	const batch = 256
	return func(yield func(entry, error) bool) {
		keys := make([]string, 0, batch)
		for oi, err := range l.store.List(ctx, l.eventsPrefix()) {
			if err != nil {
				yield(entry{}, errs.Errorf("audit", "list events: %w", err))
				return
			}
			if keys = append(keys, oi.Key); len(keys) < batch {
				continue
			}
			if !l.readBatch(ctx, keys, yield) {
				return
			}
			keys = keys[:0]
		}
		l.readBatch(ctx, keys, yield)
	}
}

// readBatch reads keys in parallel and yields them in order; it reports
// whether to go on.
func (l *Log) readBatch(ctx context.Context, keys []string, yield func(entry, error) bool) bool {
	recs := make([]*entry, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, key := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			recs[i], errs[i] = l.readRecord(ctx, key)
		}()
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil {
			yield(entry{}, errs[i])
			return false
		}
		if !yield(*recs[i], nil) {
			return false
		}
	}
	return true
}

package audit

import (
	"context"
	"errors"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/record"
	"github.com/iluxsys/steward/storage"
)

// VerifySince verifies the records after from, the point a previous
// verification reached, and returns the new point (the newest record
// checked) with what it checked. from is a Checkpoint VerifySince
// returned before, one from OnCheckpoint, or Head's sequence number and
// hash; the zero Checkpoint starts at the first record.
//
// It is the cheap, incremental form of Verify for a monitor that runs
// often: it reads the record at from.Seq (which must still have from.Hash)
// and then each newer record by its key, in order, until one is not
// stored, so a log that grew by n events costs about n+2 reads, one
// listing of the last thousand event keys and one of the checkpoints,
// never a read of the records before from. On those records it checks
// what Verify checks (numbering, links, hashes, MACs, the checkpoints due
// among them, records without MAC after ones with it), and at the end
// that no record is stored past a gap, that this Log has not itself
// appended past the end, and that no signed checkpoint vouches for a
// record beyond it. A problem is a *TamperError, as Verify's; the point
// returned with it is from. What VerifySince cannot see is a change to a
// record before from.Seq: run Verify now and then for that.
//
// Like Verify it needs steward.ActionAuditRead. Safe for concurrent use.
func (l *Log) VerifySince(ctx context.Context, from Checkpoint) (Checkpoint, *VerifyReport, error) {
	if err := l.cfg.Authorizer.Authorize(ctx, steward.ActionAuditRead, ""); err != nil {
		return from, nil, err
	}
	start := time.Now()
	c, err := l.resume(ctx, from)
	if err != nil {
		return from, &VerifyReport{}, err
	}
	v := &verifier{l: l, chain: c}
	if err := v.walkFrom(ctx); err != nil {
		return from, &v.rep, err
	}
	if err := v.finish(ctx); err != nil {
		return from, &v.rep, err
	}
	v.rep.Duration = time.Since(start)
	return Checkpoint{Seq: c.head(), Hash: c.prev}, &v.rep, nil
}

// resume returns a chain positioned after from, once the record at
// from.Seq is found to still have from.Hash (and an anchor's MAC, when it
// has one, to be right).
func (l *Log) resume(ctx context.Context, from Checkpoint) (*chain, error) {
	c := l.newChain()
	if from.Seq == 0 {
		return c, nil
	}
	if from.MAC != "" && l.key.Keyed() {
		if err := record.Verify(l.key, l.checkpointKey(from.Seq), &from, &from.MAC); err != nil {
			return nil, errs.Errorf("audit", "checkpoint %d: %w", from.Seq, err)
		}
	}
	key := l.eventKey(from.Seq)
	rec, err := l.readRecord(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, &TamperError{Seq: from.Seq, Key: key, Reason: "event verified before is missing (removed)"}
	}
	if err != nil {
		return nil, err
	}
	if rec.Seq != from.Seq || rec.Hash != from.Hash {
		return nil, &TamperError{Seq: from.Seq, Key: key, Reason: "event differs from when it was verified"}
	}
	c.want, c.prev = from.Seq+1, from.Hash
	switch {
	case rec.Tag != "":
		c.tagged = true
	case l.key.Keyed():
		c.bare = from.Seq
	}
	return c, nil
}

// walkFrom checks the records after the chain's head, one read each,
// until a sequence number that is not stored and after which nothing is.
// A record found beyond such a gap makes the gap a removed event, unless
// the gap's own record is found when read again: an event appended
// meanwhile.
func (v *verifier) walkFrom(ctx context.Context) error {
	l := v.l
	for {
		key := l.eventKey(v.chain.want)
		rec, err := l.readRecord(ctx, key)
		if errors.Is(err, storage.ErrNotFound) {
			more, berr := v.beyond(ctx)
			if berr != nil || !more {
				return berr
			}
			if rec, err = l.readRecord(ctx, key); errors.Is(err, storage.ErrNotFound) {
				return &TamperError{Seq: v.chain.want, Key: key, Reason: "event is missing (removed)"}
			}
		}
		if err == nil {
			err = v.step(ctx, rec)
		}
		if err != nil {
			return err
		}
	}
}

// beyond reports whether a record after the chain's head plus one is
// stored (among the thousand keys around it) or was appended by this Log.
func (v *verifier) beyond(ctx context.Context) (bool, error) {
	l, head := v.l, v.chain.head()
	if seq, _ := l.Head(); seq > head {
		return true, nil
	}
	gap := l.eventKey(head + 1)
	for oi, err := range l.store.List(ctx, gap[:len(gap)-3]) {
		if err != nil {
			return false, errs.Errorf("audit", "list events: %w", err)
		}
		if oi.Key > gap {
			return true, nil
		}
	}
	return false, nil
}

package backup

import (
	"iter"

	"github.com/iluxsys/steward/internal/snapshot"
)

// parentCursor merges a walk with the parent snapshot's entry list, both
// in walk order (sortKey): for each walked file it answers whether the
// parent holds it unchanged (same size, mode and mtime to the nanosecond),
// so an incremental backup reuses its chunk list without opening it.
//
// It reads the parent's list once, ahead of the walk by at most one entry.
// A nil *parentCursor (no parent) matches nothing. It is not safe for
// concurrent use; close releases the parent's iterator.
type parentCursor struct {
	next        func() (File, error, bool) // nil once the parent's list is exhausted
	stop        func()
	pending     File // the parent entry read ahead, when havePending
	havePending bool
}

// newParentCursor returns a cursor over files, a parent's entry list in
// walk order.
func newParentCursor(files iter.Seq2[File, error]) *parentCursor {
	c := &parentCursor{}
	c.next, c.stop = iter.Pull2(files)
	return c
}

// match returns the parent's entry for en when the parent holds en's path
// unchanged; the entry is valid until the next call. Entries must come in
// walk order, each after the one before. An error reading the parent's
// list is returned as it is.
func (c *parentCursor) match(en Entry) (*File, bool, error) {
	if c == nil {
		return nil, false, nil
	}
	key := snapshot.SortKey(en.Path, en.Mode)
	for c.next != nil {
		if !c.havePending {
			pf, err, ok := c.next()
			if !ok {
				c.next = nil
				break
			}
			if err != nil {
				return nil, false, err
			}
			c.pending, c.havePending = pf, true
		}
		p := &c.pending
		pk := snapshot.SortKey(p.Path, p.Mode)
		if pk < key {
			c.havePending = false // gone from the walk
			continue
		}
		if pk == key && p.Size == en.Size && p.Mode == en.Mode && mtimeNanos(p.ModTime) == mtimeNanos(en.ModTime) {
			return p, true, nil
		}
		break // en is new or changed; the parent's entry stays pending
	}
	return nil, false, nil
}

// close stops the parent's iterator; the cursor then matches nothing.
func (c *parentCursor) close() {
	if c == nil {
		return
	}
	c.stop()
	c.next = nil
}

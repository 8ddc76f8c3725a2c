package audit

// Recorded is one event as a Log stored it, handed to the functions
// registered with Log.Observe: the event with its place in the chain.
type Recorded struct {
	// Seq is the event's sequence number in the log: 1 for the first,
	// one more for each event after it, so a consumer that sees a number
	// skipped knows it missed an event.
	Seq uint64
	// Prev is the chain hash of record Seq-1 ("" for the first record).
	Prev string
	// Hash is the record's chain hash: hex SHA-256 over Seq in decimal, a
	// newline, Prev, a newline and JSON.
	Hash string
	// Event is the event as stored: ID, Timestamp (UTC) and Level filled
	// in when the caller left them empty. Its Data map is the caller's:
	// read it during the call only, and keep JSON instead.
	Event Event
	// JSON is the event's encoding as stored, the bytes Hash covers. It is
	// never modified: an observer may keep it.
	JSON []byte
}

// observers are the functions Observe registered, called under Log.mu.
type observers struct {
	next uint64
	fns  []observer
}

type observer struct {
	id uint64
	fn func(Recorded)
}

// Observe registers fn to be told of every event this Log appends from
// now on, in sequence order, once its record is stored and before Record
// returns: the seam for streaming events elsewhere (audit/siem) with their
// sequence numbers. It returns a function that removes fn, safe to call
// more than once.
//
// fn is called with the Log's lock held, which is what keeps the calls in
// sequence order: it must return quickly, never block and never call the
// Log (that deadlocks). Hand the event to a queue and do the work
// elsewhere, as audit/siem does. A slow fn slows every Record.
//
// Only the events this Log appends are observed: with several writers of
// one log (processes, or several Logs on one Store) each observes its own,
// and the sequence numbers one observes skip those of the others.
func (l *Log) Observe(fn func(Recorded)) (remove func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.obs.next++
	id := l.obs.next
	l.obs.fns = append(l.obs.fns, observer{id: id, fn: fn})
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, o := range l.obs.fns {
			if o.id == id {
				l.obs.fns = append(l.obs.fns[:i:i], l.obs.fns[i+1:]...)
				return
			}
		}
	}
}

// notify tells the observers of record rec, which holds e. l.mu is held.
func (l *Log) notify(rec *entry, e *Event) {
	for _, o := range l.obs.fns {
		o.fn(Recorded{Seq: rec.Seq, Prev: rec.Prev, Hash: rec.Hash, Event: *e, JSON: rec.Event})
	}
}

package backup

import (
	"crypto/rand"
	"sync"
	"time"

	"github.com/google/uuid"
)

// idClock orders the snapshot IDs newSnapshotID hands out. They are
// UUIDv7 (RFC 9562) whose time field is the engine's clock at commit,
// counted in 1/4096 ms (the 12 bits after the version hold the part below
// the millisecond). The catalog lists snapshots by the time in their IDs
// (repo.SnapshotIDsBetween), so it must be the time the engine's clock
// gives its snapshots, not the machine's: under a host's clock the two
// agree, and a history made under a test clock spreads over the times that
// clock gave, as a real one spreads over the hours it took.
//
// Like uuid.NewV7's, the IDs one process makes increase strictly: an ID
// whose time would not be after the previous one's gets that time plus one
// unit, unless the previous one is more than a second ahead (another
// clock: a test's clock set in the future must not drag every later ID
// along).
var idClock struct {
	sync.Mutex
	last int64 // the previous ID's time, in 1/4096 ms
}

// newSnapshotID returns a new snapshot ID for a snapshot committed at now.
func newSnapshotID(now time.Time) string {
	t := now.UnixMilli() << 12
	idClock.Lock()
	if last := idClock.last; t <= last && last-t <= 1000<<12 {
		t = last + 1
	}
	idClock.last = t
	idClock.Unlock()
	var u uuid.UUID
	rand.Read(u[8:]) // never fails (it would end the program)
	ms, sub := t>>12, t&0xfff
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6], u[7] = 0x70|byte(sub>>8), byte(sub)
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

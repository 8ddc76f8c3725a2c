package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/internal/errs"
	recordtag "github.com/iluxsys/steward/internal/record"
	"github.com/iluxsys/steward/storage"
)

// Log record types.
const (
	recCreated    = "created"
	recPending    = "pending"
	recDeployed   = "deployed"
	recFailed     = "failed"
	recRolledBack = "rolled_back"
	recAborted    = "aborted"
	// recResigned vouches, under the record key, for the untagged records
	// before it (Manager.Resign).
	recResigned = "resigned"
)

// record is one entry of the release log.
type record struct {
	Seq        uint64      `json:"seq"`
	Type       string      `json:"type"`
	Channel    string      `json:"channel"`
	ReleaseID  string      `json:"release_id,omitempty"`
	Version    string      `json:"version,omitempty"`
	Owner      string      `json:"owner,omitempty"` // the pending operation a record belongs to
	LeaseUntil time.Time   `json:"lease_until,omitempty"`
	At         time.Time   `json:"at"`
	By         string      `json:"by,omitempty"`
	Deployment *Deployment `json:"deployment,omitempty"`
	// Covers (recResigned) is the digest of every record before it.
	Covers string `json:"covers,omitempty"`
	// Sum is the record's tag (internal/record) over its JSON with Sum
	// empty and its object key: an HMAC with Config.RecordKey, a plain
	// SHA-256 without one.
	Sum string `json:"sum"`
}

// decodeRecord parses a stored log record and checks its structure (type,
// sequence number, channel). It does not check the record's tag: the
// Manager does that, with its key, before using the record. It never
// panics on bad input.
func decodeRecord(b []byte) (record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return r, errs.Errorf("release", "log record: %w", err)
	}
	switch r.Type {
	case recCreated, recPending, recDeployed, recFailed, recRolledBack, recAborted, recResigned:
	default:
		return r, fmt.Errorf("release: log record %d has unknown type %q", r.Seq, r.Type)
	}
	if r.Seq == 0 || r.Type != recResigned && validChannel(r.Channel) != nil {
		return r, fmt.Errorf("release: log record has sequence 0 or a bad channel")
	}
	return r, nil
}

// state is the log replayed.
type state struct {
	last     uint64
	releases map[string][]string // channel -> release IDs in creation order
	active   map[string]string   // channel -> active release ID
	applied  map[string][]string // channel -> releases whose migrations are applied, oldest first
	pending  map[string]record   // channel -> live pending record
	deployed map[string]bool     // release IDs ever deployed
	deploys  []Deployment
}

func (m *Manager) logKey(seq uint64) string { return fmt.Sprintf("%slog/%020d.json", m.prefix, seq) }

func newState() *state {
	return &state{releases: map[string][]string{}, active: map[string]string{}, applied: map[string][]string{},
		pending: map[string]record{}, deployed: map[string]bool{}}
}

// load replays the log. Every record must carry a valid tag; with a key,
// an untagged record (written before the key) counts only when a later
// resigned record covers it.
func (m *Manager) load(ctx context.Context) (*state, error) {
	st, sc, err := m.replay(ctx)
	if err != nil {
		return nil, err
	}
	if sc.uncovered != 0 {
		return nil, fmt.Errorf("%w: release log record %d carries no MAC (written without a record key); if the log is genuine, adopt the key with Manager.Resign",
			steward.ErrForged, sc.uncovered)
	}
	return st, nil
}

// logScan is what replay learns about the log's tags.
type logScan struct {
	uncovered uint64    // first untagged record no resigned record covers (0: none)
	cover     hash.Hash // SHA-256 over every record's key and tag so far
}

func (sc *logScan) digest() string { return hex.EncodeToString(sc.cover.Sum(nil)) }

// replay reads the log in order, checking sequence numbers and tags. It
// reports untagged records in the scan rather than refusing them.
func (m *Manager) replay(ctx context.Context) (*state, *logScan, error) {
	st, sc := newState(), &logScan{cover: sha256.New()}
	var want uint64 = 1
	for oi, err := range m.store.List(ctx, m.prefix+"log/") {
		if err != nil {
			return nil, nil, errs.Errorf("release", "read log: %w", err)
		}
		b, err := storage.ReadAll(ctx, m.store, oi.Key)
		if err != nil {
			return nil, nil, errs.Errorf("release", "read log: %w", err)
		}
		r, err := decodeRecord(b)
		if err != nil {
			return nil, nil, fmt.Errorf("%w (%s)", err, oi.Key)
		}
		// The tag first: with a key, a record moved to another slot is
		// forged (its tag names the slot it was written to).
		if err := m.checkRecord(r, oi.Key, sc); err != nil {
			return nil, nil, err
		}
		if r.Seq != want || m.logKey(r.Seq) != oi.Key {
			return nil, nil, fmt.Errorf("release: log record %s is out of sequence (want %d): the log was edited", oi.Key, want)
		}
		fmt.Fprintf(sc.cover, "%s %s\n", oi.Key, r.Sum)
		want++
		st.last = r.Seq
		st.apply(r)
	}
	return st, sc, nil
}

// checkRecord verifies r's tag under m's key. With a key, a record that
// carries a genuine keyless checksum instead is noted in sc as uncovered,
// and a genuine resigned record whose digest matches covers those before it.
func (m *Manager) checkRecord(r record, name string, sc *logScan) error {
	err := recordtag.Verify(m.key, name, &r, &r.Sum)
	switch {
	case err == nil && r.Type == recResigned && m.key.Keyed():
		if r.Covers != sc.digest() {
			return fmt.Errorf("%w: release log record %d (resigned) does not cover the records before it", steward.ErrForged, r.Seq)
		}
		sc.uncovered = 0
		return nil
	case err == nil:
		return nil
	case m.key.Keyed() && recordtag.Verify(recordtag.Key{}, name, &r, &r.Sum) == nil:
		if sc.uncovered == 0 {
			sc.uncovered = r.Seq
		}
		return nil
	}
	return errs.Errorf("release", "log record %d (%s): %w", r.Seq, name, err)
}

func (st *state) apply(r record) {
	switch r.Type {
	case recCreated:
		st.releases[r.Channel] = append(st.releases[r.Channel], r.ReleaseID)
	case recPending:
		st.pending[r.Channel] = r
	case recDeployed:
		st.active[r.Channel] = r.ReleaseID
		st.deployed[r.ReleaseID] = true
		st.applied[r.Channel] = append(st.applied[r.Channel], r.ReleaseID)
	case recRolledBack:
		st.active[r.Channel] = r.ReleaseID
		ap := st.applied[r.Channel]
		for len(ap) > 0 && ap[len(ap)-1] != r.ReleaseID {
			ap = ap[:len(ap)-1]
		}
		st.applied[r.Channel] = ap
	}
	if r.Type != recPending && r.Type != recCreated && r.Owner != "" {
		if p, ok := st.pending[r.Channel]; ok && p.Owner == r.Owner {
			delete(st.pending, r.Channel)
		}
	}
	if r.Deployment != nil {
		st.deploys = append(st.deploys, *r.Deployment)
	}
}

// append writes r at the next sequence number. For a pending record it
// first checks that no live operation holds the channel; after losing a
// race it reloads and checks again.
func (m *Manager) append(ctx context.Context, r record) (*state, error) {
	for {
		st, err := m.load(ctx)
		if err != nil {
			return nil, err
		}
		if r.Type == recPending {
			if p, ok := st.pending[r.Channel]; ok {
				if m.clock.Now().Before(p.LeaseUntil) {
					return nil, fmt.Errorf("%w on channel %q: %s of %s by %s since %s (lease until %s)", ErrConflict, r.Channel,
						strings.TrimPrefix(p.Owner, "op-"), p.ReleaseID, p.By, p.At.Format(time.RFC3339), p.LeaseUntil.Format(time.RFC3339))
				}
				// The holder died: record its operation aborted first.
				ab := record{Seq: st.last + 1, Type: recAborted, Channel: r.Channel, ReleaseID: p.ReleaseID, Owner: p.Owner, At: m.clock.Now().UTC(), By: r.By}
				if err := m.put(ctx, ab); err != nil && !errors.Is(err, storage.ErrExists) {
					return nil, err
				}
				continue
			}
		}
		r.Seq = st.last + 1
		err = m.put(ctx, r)
		if errors.Is(err, storage.ErrExists) {
			continue // another writer took this slot: look again
		}
		if err != nil {
			return nil, err
		}
		st.last = r.Seq
		st.apply(r)
		return st, nil
	}
}

func (m *Manager) put(ctx context.Context, r record) error {
	recordtag.Stamp(m.key, m.logKey(r.Seq), &r, &r.Sum)
	b, _ := json.Marshal(r)
	if err := storage.PutBytes(ctx, m.store, m.logKey(r.Seq), b, &storage.PutOptions{IfNotExist: true}); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return err
		}
		return errs.Errorf("release", "append to log: %w", err)
	}
	return nil
}

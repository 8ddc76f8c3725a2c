// Package record authenticates the small JSON records steward keeps in a
// Store: release definitions and the release log, flag versions, audit
// events and checkpoints, repository configs. It is the one implementation
// of "a stored record with its tag" that those packages share.
//
// With a key (a secret the host holds and the Store never sees), a record's
// tag is HMAC-SHA-256 under a subkey derived for the record's purpose, over
// the record's name (its object key) and its bytes: someone who can write
// the Store but holds no key can neither forge a record nor move a genuine
// one to another name. Without a key the tag is a plain SHA-256 of the
// bytes, as steward wrote before record keys existed: it catches damage,
// not forgery.
package record

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/iluxsys/steward"
)

// ErrChecksum: an unkeyed record does not match its checksum (damage).
var ErrChecksum = errors.New("record does not match its checksum")

// macPrefix marks a keyed tag; an unkeyed tag is bare hex.
const macPrefix = "hmac-sha256:"

// Key computes and checks record tags for one purpose. The zero Key has no
// secret: its tags are checksums. A Key is immutable and safe for
// concurrent use.
type Key struct {
	mac []byte // nil: unkeyed
}

// New derives the Key for purpose (for example "release", "flags",
// "audit") from the host's secret. An empty secret gives the zero Key; a
// secret shorter than steward.MinRecordKey bytes is refused.
func New(secret []byte, purpose string) (Key, error) {
	if len(secret) == 0 {
		return Key{}, nil
	}
	if len(secret) < steward.MinRecordKey {
		return Key{}, fmt.Errorf("record key has %d bytes; use at least %d random bytes", len(secret), steward.MinRecordKey)
	}
	k, err := hkdf.Key(sha256.New, secret, nil, "steward record v1 "+purpose, 32)
	if err != nil {
		return Key{}, err
	}
	return Key{mac: k}, nil
}

// Keyed reports whether k authenticates (true) or only checksums.
func (k Key) Keyed() bool { return k.mac != nil }

// Sum returns the tag of body stored under name.
func (k Key) Sum(name string, body []byte) string {
	if k.mac == nil {
		h := sha256.Sum256(body)
		return hex.EncodeToString(h[:])
	}
	m := hmac.New(sha256.New, k.mac)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(name)))
	m.Write(n[:])
	m.Write([]byte(name))
	m.Write(body)
	return macPrefix + hex.EncodeToString(m.Sum(nil))
}

// Check verifies tag against body stored under name. With a key, a wrong
// tag, or a checksum where a MAC belongs, gives an error matching
// steward.ErrForged; without one, a wrong checksum gives ErrChecksum.
func (k Key) Check(name string, body []byte, tag string) error {
	want := k.Sum(name, body)
	if hmac.Equal([]byte(want), []byte(tag)) {
		return nil
	}
	switch {
	case k.mac == nil && strings.HasPrefix(tag, macPrefix):
		return fmt.Errorf("%w: it carries a MAC; configure the record key it was written with", ErrChecksum)
	case k.mac == nil:
		return ErrChecksum
	case !strings.HasPrefix(tag, macPrefix):
		return fmt.Errorf("%w: it carries no MAC (written without a record key)", steward.ErrForged)
	default:
		return steward.ErrForged
	}
}

// Stamp sets *tag to the tag of v, marshalled as JSON with *tag empty. tag
// must point into v (the record's own tag field).
func Stamp(k Key, name string, v any, tag *string) {
	*tag = ""
	b, _ := json.Marshal(v)
	*tag = k.Sum(name, b)
}

// Verify checks *tag as Stamp made it: v is marshalled with *tag empty and
// the tag is put back afterwards.
func Verify(k Key, name string, v any, tag *string) error {
	t := *tag
	*tag = ""
	b, err := json.Marshal(v)
	*tag = t
	if err != nil {
		return err
	}
	return k.Check(name, b, t)
}

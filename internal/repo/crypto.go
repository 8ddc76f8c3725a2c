package repo

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// ID is a chunk ID: HMAC-SHA-256 of the chunk's plaintext.
type ID [32]byte

// String returns the ID in hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID parses a hex chunk ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 64 {
		return id, fmt.Errorf("repo: chunk ID %q: want 64 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("repo: chunk ID %q: %w", s, err)
	}
	return id, nil
}

// AES-256-GCM's nonce and tag sizes (cipher.NewGCM's standard ones).
const (
	gcmNonceSize = 12
	gcmTagSize   = 16
)

// sealedLen is the length seal gives n bytes of plaintext.
func sealedLen(n int) int { return gcmNonceSize + n + gcmTagSize }

// keys are the working keys derived from a scope's data key.
type keys struct {
	hmacPool sync.Pool // of hash.Hash (HMAC-SHA-256 under the ID key)
	aead     cipher.AEAD
	gear     *Gear
}

const dataKeyLen = 32

func deriveKeys(dataKey []byte, encrypted bool) (*keys, error) {
	if len(dataKey) != dataKeyLen {
		return nil, fmt.Errorf("repo: data key has %d bytes, want %d", len(dataKey), dataKeyLen)
	}
	idKey, err := hkdf.Key(sha256.New, dataKey, nil, "steward chunk id v1", 32)
	if err != nil {
		return nil, err
	}
	gearSeed, err := hkdf.Key(sha256.New, dataKey, nil, "steward chunker v1", 32)
	if err != nil {
		return nil, err
	}
	k := &keys{gear: NewGear(gearSeed)}
	k.hmacPool.New = func() any { return hmac.New(sha256.New, idKey) }
	if encrypted {
		encKey, err := hkdf.Key(sha256.New, dataKey, nil, "steward aes-256-gcm v1", 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(encKey)
		if err != nil {
			return nil, err
		}
		if k.aead, err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// id computes the chunk ID of plain.
func (k *keys) id(plain []byte) ID {
	h := k.hmacPool.Get().(hash.Hash)
	h.Reset()
	h.Write(plain)
	var id ID
	h.Sum(id[:0])
	k.hmacPool.Put(h)
	return id
}

// seal appends nonce || AES-GCM(plain, ad) to dst.
func (k *keys) seal(dst, plain, ad []byte) []byte {
	ns := k.aead.NonceSize()
	off := len(dst)
	dst = append(dst, make([]byte, ns)...)
	_, _ = rand.Read(dst[off : off+ns])
	return k.aead.Seal(dst, dst[off:off+ns], plain, ad)
}

var errAuth = errors.New("authentication failed")

// open decrypts nonce || ciphertext in place (the plaintext reuses the
// ciphertext's storage).
func (k *keys) open(sealed, ad []byte) ([]byte, error) {
	// In place: the plaintext goes where the ciphertext starts (openTo
	// refuses sealed data too short to hold a nonce and a tag).
	ns := min(k.aead.NonceSize(), len(sealed))
	return k.openTo(sealed[ns:ns], sealed, ad)
}

// openTo is open appending the plaintext to dst, which must not overlap
// sealed unless it is sealed's ciphertext itself (decryption in place).
func (k *keys) openTo(dst, sealed, ad []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < ns+k.aead.Overhead() {
		return nil, fmt.Errorf("sealed data too short (%d bytes)", len(sealed))
	}
	out, err := k.aead.Open(dst, sealed[:ns], sealed[ns:], ad)
	if err != nil {
		return nil, errAuth
	}
	return out, nil
}

// newDataKey returns a random 256-bit data key.
func newDataKey() []byte {
	b := make([]byte, dataKeyLen)
	_, _ = rand.Read(b)
	return b
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

package backup

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"gocloud.dev/secrets"
	"golang.org/x/crypto/argon2"
)

// PassphraseOptions are the argon2id parameters a passphrase key is derived
// with. They are recorded beside each wrapped key, so changing them later
// does not lock out existing repositories.
type PassphraseOptions struct {
	Time      uint32 // passes (default: see DefaultArgonWork)
	MemoryKiB uint32 // memory in KiB (default 32 MiB)
	Threads   uint8  // parallelism (default 2)
}

// DefaultArgonWork is the memory × passes, in KiB, that a passphrase key's
// argon2id derivation costs at least when PassphraseOptions.Time is left
// zero: RFC 9106's second recommended setting, 64 MiB × 3 passes. The
// default spends it as 32 MiB × 6 passes: the same area-time cost per guess
// (an attacker holds the memory for every pass), a little less derivation
// time (76-80 ms per unwrap on the project's machine against 104 ms), and
// half the peak memory, which matters where a host opens many tenants'
// scopes at once. 32 MiB is also what restic's scrypt uses. Memory above
// 64 MiB keeps 3 passes, RFC 9106's floor against time-memory trade-off
// attacks.
const DefaultArgonWork = 64 << 10 * 3

// Passphrase returns a KeyProvider that wraps each scope's data key with a
// key derived from passphrase by argon2id (32 MiB, 6 passes, 2 lanes; see
// DefaultArgonWork) and a random salt per scope. A wrong passphrase gives
// an error matching ErrWrongKey.
func Passphrase(passphrase string) KeyProvider {
	return PassphraseWithOptions(passphrase, PassphraseOptions{})
}

// PassphraseWithOptions is Passphrase with chosen argon2id parameters (tests
// use cheap ones; production should keep the defaults or raise them). A
// zero Time is chosen from MemoryKiB: at least 3 passes, and enough that
// memory × passes reaches DefaultArgonWork (within the 64 passes Unwrap
// accepts).
func PassphraseWithOptions(passphrase string, o PassphraseOptions) KeyProvider {
	if o.MemoryKiB == 0 {
		o.MemoryKiB = 32 << 10
	}
	if o.Time == 0 {
		o.Time = defaultPasses(o.MemoryKiB)
	}
	if o.Threads == 0 {
		o.Threads = 2
	}
	return &passphraseKeys{pass: []byte(passphrase), o: o}
}

// defaultPasses is the pass count PassphraseWithOptions picks for memKiB.
func defaultPasses(memKiB uint32) uint32 {
	t := uint32((DefaultArgonWork + uint64(memKiB) - 1) / uint64(memKiB))
	return min(max(t, 3), maxArgonTime)
}

type passphraseKeys struct {
	pass []byte
	o    PassphraseOptions
}

// wrappedPassphrase is the stored form of a passphrase-wrapped key.
type wrappedPassphrase struct {
	KDF     string `json:"kdf"`
	Time    uint32 `json:"t"`
	Memory  uint32 `json:"m"`
	Threads uint8  `json:"p"`
	Salt    []byte `json:"salt"`
	Sealed  []byte `json:"sealed"`
}

func (p *passphraseKeys) KeyID() string { return "passphrase/argon2id" }

// Bounds on stored argon2id parameters. The wrapped key is read from the
// Store, so its parameters are untrusted input: without bounds, whoever can
// write the bucket could make every host that opens the scope spend a
// gigabyte and minutes per unwrap. Within them an unwrap costs at most
// 256 MiB and about half a second on the project's machine (memory ×
// passes at most 1 GiB, 5.3 times the default's). Wrap refuses parameters
// outside them, so nothing it writes is ever refused by Unwrap.
const (
	maxArgonMemoryKiB = 256 << 10 // 256 MiB
	maxArgonTime      = 64
	maxArgonThreads   = 8
	maxArgonWork      = 1 << 20 // memory × passes, KiB: 1 GiB
)

// argonBounded reports whether t passes over m KiB with p lanes are within
// the bounds.
func argonBounded(t, m uint32, p uint8) bool {
	return m > 0 && m <= maxArgonMemoryKiB && t > 0 && t <= maxArgonTime &&
		p > 0 && p <= maxArgonThreads && uint64(m)*uint64(t) <= maxArgonWork
}

// parseWrapped decodes and bounds-checks a passphrase-wrapped key.
func parseWrapped(b []byte) (wrappedPassphrase, error) {
	var w wrappedPassphrase
	if err := json.Unmarshal(b, &w); err != nil || w.KDF != "argon2id" {
		return w, fmt.Errorf("the stored key was not wrapped by a passphrase: %w", ErrWrongKey)
	}
	if !argonBounded(w.Time, w.Memory, w.Threads) {
		return w, fmt.Errorf("the stored key has implausible argon2id parameters (t=%d m=%d KiB p=%d): %w", w.Time, w.Memory, w.Threads, ErrCorrupt)
	}
	if len(w.Salt) < 8 || len(w.Sealed) < 12+16 {
		return w, fmt.Errorf("the stored wrapped key is too short: %w", ErrCorrupt)
	}
	return w, nil
}

func (p *passphraseKeys) Wrap(ctx context.Context, scope string, dataKey []byte) ([]byte, error) {
	if !argonBounded(p.o.Time, p.o.MemoryKiB, p.o.Threads) {
		return nil, fmt.Errorf("%w: argon2id parameters t=%d m=%d KiB p=%d exceed the bounds t<=%d m<=%d KiB p<=%d, m×t<=%d KiB", ErrInvalidOptions,
			p.o.Time, p.o.MemoryKiB, p.o.Threads, maxArgonTime, maxArgonMemoryKiB, maxArgonThreads, maxArgonWork)
	}
	w := wrappedPassphrase{KDF: "argon2id", Time: p.o.Time, Memory: p.o.MemoryKiB, Threads: p.o.Threads, Salt: make([]byte, 16)}
	_, _ = rand.Read(w.Salt)
	aead, err := p.aead(w)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	w.Sealed = aead.Seal(nonce, nonce, dataKey, []byte("steward data key:"+scope))
	return json.Marshal(w)
}

func (p *passphraseKeys) Unwrap(ctx context.Context, scope string, wrapped []byte) ([]byte, error) {
	w, err := parseWrapped(wrapped)
	if err != nil {
		return nil, err
	}
	aead, err := p.aead(w)
	if err != nil {
		return nil, err
	}
	ns := aead.NonceSize()
	dk, err := aead.Open(nil, w.Sealed[:ns], w.Sealed[ns:], []byte("steward data key:"+scope))
	if err != nil {
		return nil, fmt.Errorf("passphrase does not open the key of %q: %w", scope, ErrWrongKey)
	}
	return dk, nil
}

func (p *passphraseKeys) aead(w wrappedPassphrase) (cipher.AEAD, error) {
	warmHeap(int(w.Memory) << 10)
	kek := argon2.IDKey(p.pass, w.Salt, w.Time, w.Memory, w.Threads, 32)
	// argon2id just used MemoryKiB (32 MiB by default) of heap that is now
	// garbage. Collect it and hand the pages back at once: left alone it
	// would set the collector's next goal to twice that, and the backup
	// that follows would grow the process on top of it.
	debug.FreeOSMemory()
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// warmHeap maps n bytes of heap pages from one goroutine and frees them, so
// that argon2id's n-byte block array, allocated next, lands on pages the
// process already has. Left to argon2id, each fresh page faults twice (its
// lanes read a block before writing it: a zero-page mapping, then a copy on
// write that flushes the TLB of every CPU running the process): on this
// project's 2-core VM that doubled the derivation's time (217 ms to 95 ms
// for 64 MiB, t=3, with it). Where the kernel offers transparent huge
// pages the range is mapped with them (adviseHugePages), 2 MiB a fault:
// on a later VM whose page faults cost 14 us each, mapping 32 MiB page by
// page took 115 ms, longer than the faults it saved (the unwrap took 225
// ms with it, 150-180 ms without, 110-150 ms with huge pages). The memory
// is the same either way.
func warmHeap(n int) {
	b := make([]byte, n)
	adviseHugePages(b)
	for i := 0; i < len(b); i += pageSize {
		b[i] = 1
	}
	runtime.KeepAlive(b)
	b = nil
	runtime.GC()
}

var pageSize = os.Getpagesize()

// Keeper returns a KeyProvider that wraps data keys with a gocloud.dev/secrets
// Keeper (AWS KMS, GCP KMS, Azure Key Vault, HashiCorp Vault, or localsecrets
// in tests). keyID names the KMS key in manifests. The wrapped key is bound
// to its scope: a key wrapped for one tenant does not open another's.
func Keeper(k *secrets.Keeper, keyID string) KeyProvider { return &keeperKeys{k: k, id: keyID} }

// dataKeyBytes is the length of every data key a provider wraps.
const dataKeyBytes = 32

type keeperKeys struct {
	k  *secrets.Keeper
	id string
}

func (k *keeperKeys) KeyID() string { return k.id }

func (k *keeperKeys) Wrap(ctx context.Context, scope string, dataKey []byte) ([]byte, error) {
	if len(dataKey) != dataKeyBytes {
		return nil, fmt.Errorf("%w: keeper %q: a data key has %d bytes, not %d", ErrInvalidOptions, k.id, dataKeyBytes, len(dataKey))
	}
	plain := append([]byte(scope+"\x00"), dataKey...)
	out, err := k.k.Encrypt(ctx, plain)
	if err != nil {
		return nil, fmt.Errorf("keeper %q: wrap: %w", k.id, err)
	}
	return out, nil
}

func (k *keeperKeys) Unwrap(ctx context.Context, scope string, wrapped []byte) ([]byte, error) {
	plain, err := k.k.Decrypt(ctx, wrapped)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("keeper %q cannot unwrap the key of %q: %v: %w", k.id, scope, err, ErrWrongKey)
	}
	p := []byte(scope + "\x00")
	if !bytes.HasPrefix(plain, p) || len(plain)-len(p) != dataKeyBytes {
		return nil, fmt.Errorf("the key unwrapped by keeper %q belongs to another scope: %w", k.id, ErrWrongKey)
	}
	return plain[len(p):], nil
}

package backup

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"gocloud.dev/secrets/localsecrets"
)

// FuzzKeeperUnwrap wraps a data key for scope a with a Keeper provider
// (localsecrets under a fixed key) and unwraps what the fuzzer chose. A
// genuine wrap opens for its own scope to the very key wrapped, and for
// any other scope, under another keeper, or with a byte flipped, fails
// with ErrWrongKey. Arbitrary bytes unwrap only when the keeper's secret
// opens them to a wrap made for that very scope, and then to the key
// wrapped; otherwise the error matches ErrWrongKey (or the context's error
// once the context has ended).
//
// Scopes holding NUL are left out: the scope is written before the key
// with a NUL after it, and no scope steward opens (a tenant name, General,
// Releases) can hold one.
func FuzzKeeperUnwrap(f *testing.F) {
	var secret, other [32]byte
	copy(secret[:], "steward fuzz keeper secret key!!")
	copy(other[:], "another keeper, another key.....")
	raw := localsecrets.NewKeeper(secret)
	kp := Keeper(raw, "local/fuzz")
	wrong := Keeper(localsecrets.NewKeeper(other), "local/other")
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	dk := bytes.Repeat([]byte{0xa5}, 32)
	for _, scope := range []string{"acme", "acme2", "acm", "_general", "_releases", ""} {
		w, err := kp.Wrap(ctx, scope, dk)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(dk, scope, "acme", w, uint16(0), byte(0), false)
		f.Add(dk, scope, scope, w, uint16(len(w)-1), byte(1), false) // the tag
		f.Add(dk, scope, scope, w, uint16(0), byte(0x80), false)     // the nonce
		f.Add(dk, scope, scope, w, uint16(30), byte(0xff), true)     // the scope
		f.Add(dk, scope, scope+"x", w[:len(w)-1], uint16(5), byte(0), false)
	}
	f.Add([]byte{}, "acme", "acme", []byte{}, uint16(0), byte(0), false)
	f.Add([]byte("k"), "a", "a\x01", []byte("short"), uint16(1), byte(2), true)

	f.Fuzz(func(t *testing.T, key []byte, a, b string, wrapped []byte, at uint16, mask byte, ended bool) {
		if strings.ContainsRune(a, 0) || strings.ContainsRune(b, 0) {
			return
		}
		// A genuine wrap for a: its own scope only, this keeper only.
		w, err := kp.Wrap(ctx, a, key)
		if len(key) != 32 {
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("Wrap of a %d-byte key: got %v, want ErrInvalidOptions", len(key), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Wrap(%q): %v", a, err)
		}
		got, err := kp.Unwrap(ctx, a, w)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("Unwrap(%q) of a wrap for it: got %x, %v; want %x", a, got, err, key)
		}
		got, err = kp.Unwrap(ctx, b, w)
		if a == b {
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("Unwrap(%q) of a wrap for it: got %x, %v; want %x", b, got, err, key)
			}
		} else if !errors.Is(err, ErrWrongKey) {
			t.Fatalf("Unwrap(%q) of a wrap for %q: got %x, %v; want ErrWrongKey", b, a, got, err)
		}
		if _, err := wrong.Unwrap(ctx, a, w); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("another keeper unwrapped a wrap for %q: %v", a, err)
		}
		if mask != 0 {
			flipped := bytes.Clone(w)
			flipped[int(at)%len(flipped)] ^= mask
			if got, err := kp.Unwrap(ctx, a, flipped); !errors.Is(err, ErrWrongKey) {
				t.Fatalf("Unwrap(%q) of a wrap with byte %d flipped: got %x, %v; want ErrWrongKey", a, int(at)%len(flipped), got, err)
			}
		}

		// Arbitrary bytes.
		uctx := ctx
		if ended {
			uctx = cancelled
		}
		got, err = kp.Unwrap(uctx, b, wrapped)
		if err != nil {
			if !errors.Is(err, ErrWrongKey) && !(ended && errors.Is(err, context.Canceled)) {
				t.Fatalf("Unwrap(%q) of %d crafted bytes: got error %v, want one matching ErrWrongKey", b, len(wrapped), err)
			}
			return
		}
		// Seeds are genuine wraps made by this process or another with
		// the same secret: they open, and must have been made for b.
		plain, err := raw.Decrypt(ctx, wrapped)
		if err != nil || !bytes.Equal(plain, append([]byte(b+"\x00"), got...)) {
			t.Fatalf("Unwrap(%q) of %d crafted bytes gave key %x, which no wrap for %q holds", b, len(wrapped), got, b)
		}
	})
}

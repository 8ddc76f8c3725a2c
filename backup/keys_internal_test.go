package backup

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"gocloud.dev/secrets/localsecrets"

	"github.com/stretchr/testify/require"
)

func FuzzParseWrappedKey(f *testing.F) {
	good, err := PassphraseWithOptions("p", PassphraseOptions{Time: 1, MemoryKiB: 64, Threads: 1}).Wrap(context.Background(), "acme", make([]byte, 32))
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte(`{"kdf":"argon2id","t":1,"m":4194304,"p":1,"salt":"AAAAAAAAAAA=","sealed":""}`))
	f.Add([]byte(`{"kdf":"scrypt"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := parseWrapped(b)
		if err != nil {
			if !errors.Is(err, ErrWrongKey) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v matches neither ErrWrongKey nor ErrCorrupt", err)
			}
			return
		}
		if !argonBounded(w.Time, w.Memory, w.Threads) {
			t.Fatalf("accepted unbounded parameters %+v", w)
		}
	})
}

func TestWrappedKeyParameters(t *testing.T) {
	ctx := context.Background()
	p := PassphraseWithOptions("secret", PassphraseOptions{Time: 2, MemoryKiB: 256, Threads: 1})
	dk := []byte("0123456789abcdef0123456789abcdef")
	b, err := p.Wrap(ctx, "acme", dk)
	require.NoError(t, err)
	var w wrappedPassphrase
	require.NoError(t, json.Unmarshal(b, &w))
	require.Equal(t, "argon2id", w.KDF)
	require.Equal(t, uint32(2), w.Time, "the parameters are recorded with the key")
	require.Equal(t, uint32(256), w.Memory)
	require.Len(t, w.Salt, 16)
	b2, err := p.Wrap(ctx, "acme", dk)
	require.NoError(t, err)
	var w2 wrappedPassphrase
	require.NoError(t, json.Unmarshal(b2, &w2))
	require.NotEqual(t, w.Salt, w2.Salt, "a fresh salt per wrap")

	// Other parameters on the reading side do not matter: the recorded ones are used.
	got, err := PassphraseWithOptions("secret", PassphraseOptions{Time: 1, MemoryKiB: 64, Threads: 1}).Unwrap(ctx, "acme", b)
	require.NoError(t, err)
	require.Equal(t, dk, got)
	_, err = p.Unwrap(ctx, "other-tenant", b)
	require.ErrorIs(t, err, ErrWrongKey, "a key wrapped for one scope does not open another")

	_, err = PassphraseWithOptions("x", PassphraseOptions{MemoryKiB: 2 << 20}).Wrap(ctx, "acme", dk)
	require.ErrorIs(t, err, ErrInvalidOptions)
	_, err = PassphraseWithOptions("x", PassphraseOptions{MemoryKiB: 128 << 10, Time: 16}).Wrap(ctx, "acme", dk)
	require.ErrorIs(t, err, ErrInvalidOptions, "memory × passes over 1 GiB is refused when wrapping too")
	w.Memory = 8 << 20
	bad, _ := json.Marshal(w)
	_, err = p.Unwrap(ctx, "acme", bad)
	require.ErrorIs(t, err, ErrCorrupt, "a stored key asking for 8 GiB is refused before any allocation")
}

// TestDefaultPassphraseParameters pins the defaults: 32 MiB × 6 passes, and
// for other memory sizes enough passes that memory × passes reaches RFC
// 9106's 64 MiB × 3, never fewer than 3 and never more than Unwrap accepts.
func TestDefaultPassphraseParameters(t *testing.T) {
	p := Passphrase("x").(*passphraseKeys)
	require.Equal(t, PassphraseOptions{Time: 6, MemoryKiB: 32 << 10, Threads: 2}, p.o)
	for _, c := range []struct{ memMiB, passes uint32 }{
		{16, 12}, {24, 8}, {32, 6}, {48, 4}, {64, 3}, {100, 3}, {256, 3}, {1, 64},
	} {
		p := PassphraseWithOptions("x", PassphraseOptions{MemoryKiB: c.memMiB << 10}).(*passphraseKeys)
		require.Equal(t, c.passes, p.o.Time, "%d MiB", c.memMiB)
		require.GreaterOrEqual(t, uint64(p.o.Time)*uint64(p.o.MemoryKiB), uint64(min(DefaultArgonWork, maxArgonTime*c.memMiB<<10)))
	}
	// 40 MiB: 192/40 = 4.8 rounds up to 5 passes (200 MiB·passes).
	require.Equal(t, uint32(5), PassphraseWithOptions("x", PassphraseOptions{MemoryKiB: 40 << 10}).(*passphraseKeys).o.Time)
	// An explicit Time is kept as given.
	require.Equal(t, uint32(1), PassphraseWithOptions("x", PassphraseOptions{Time: 1, MemoryKiB: 64}).(*passphraseKeys).o.Time)
}

// TestCraftedArgonParametersAreRefusedQuickly plays a store writer who
// rewrites a wrapped key's parameters to make every unwrap cost minutes
// and gigabytes: each is refused before any derivation.
func TestCraftedArgonParametersAreRefusedQuickly(t *testing.T) {
	ctx := context.Background()
	p := PassphraseWithOptions("secret", PassphraseOptions{Time: 1, MemoryKiB: 64, Threads: 1})
	b, err := p.Wrap(ctx, "acme", make([]byte, 32))
	require.NoError(t, err)
	for _, c := range []struct {
		name    string
		t, m    uint32
		threads uint8
	}{
		{"1 GiB", 1, 1 << 20, 1},
		{"64 passes of 256 MiB", 64, 256 << 10, 1},
		{"255 lanes", 1, 64, 255},
		{"65 passes", 65, 64, 1},
		{"zero passes", 0, 64, 1},
	} {
		var w wrappedPassphrase
		require.NoError(t, json.Unmarshal(b, &w))
		w.Time, w.Memory, w.Threads = c.t, c.m, c.threads
		bad, _ := json.Marshal(w)
		start := time.Now()
		_, err := p.Unwrap(ctx, "acme", bad)
		require.ErrorIs(t, err, ErrCorrupt, c.name)
		require.Less(t, time.Since(start), time.Second, "%s is refused before deriving", c.name)
	}
}

// TestKeeperRefusesWrongLength: a Keeper's plaintext must be exactly the
// scope, a NUL and a 32-byte data key, so a scope that is a prefix of
// another's (possible only with a NUL in it) cannot borrow its key.
func TestKeeperRefusesWrongLength(t *testing.T) {
	ctx := context.Background()
	var sk [32]byte
	keeper := localsecrets.NewKeeper(sk)
	defer keeper.Close()
	for _, plain := range []string{"acme\x00short", "acme\x00" + strings.Repeat("k", 33)} {
		w, err := keeper.Encrypt(ctx, []byte(plain))
		require.NoError(t, err)
		_, err = Keeper(keeper, "local").Unwrap(ctx, "acme", w)
		require.ErrorIs(t, err, ErrWrongKey)
	}
	w, err := Keeper(keeper, "local").Wrap(ctx, "acme", make([]byte, 32))
	require.NoError(t, err)
	dk, err := Keeper(keeper, "local").Unwrap(ctx, "acme", w)
	require.NoError(t, err)
	require.Len(t, dk, 32)
}

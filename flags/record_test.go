package flags_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/flags"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/storage"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func keyed(t testing.TB, store storage.Store) *flags.Set {
	t.Helper()
	s, err := flags.New(context.Background(), store, &flags.Config{RecordKey: testKey,
		Clock: fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))})
	require.NoError(t, err)
	return s
}

func objectKey(name string, version uint64) string {
	return fmt.Sprintf("flags/%s/%020d.json", name, version)
}

// forge writes what someone who can write the Store but holds no key can:
// f as its own version, well-formed, with a correct unkeyed checksum (so
// a Set without a record key would accept it).
func forge(t testing.TB, store storage.Store, f flags.Flag) {
	t.Helper()
	b := forged(t, f)
	key := objectKey(f.Name, f.Version)
	_, err := flags.DecodeFlag(key, b, nil)
	require.NoError(t, err, "the forgery passes the unkeyed checksum")
	require.NoError(t, storage.PutBytes(context.Background(), store, key, b, nil))
}

// forged is f as stored with a correct unkeyed checksum.
func forged(t testing.TB, f flags.Flag) []byte {
	f.Sum = ""
	b, err := json.Marshal(f)
	require.NoError(t, err)
	h := sha256.Sum256(b)
	f.Sum = hex.EncodeToString(h[:])
	b, err = json.Marshal(f)
	require.NoError(t, err)
	return b
}

// copyObject copies a stored object as a store writer can.
func copyObject(t testing.TB, store storage.Store, from, to string) {
	t.Helper()
	ctx := context.Background()
	b, err := storage.ReadAll(ctx, store, from)
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(ctx, store, to, b, nil))
}

func TestForgedVersionRefused(t *testing.T) {
	store := storage.NewMemory()
	writer, reader := keyed(t, store), keyed(t, store)
	ctx := master()
	require.NoError(t, writer.Set(ctx, "beta", true, flags.Options{TargetTenants: []string{"acme"}}))
	require.NoError(t, writer.Set(ctx, "gamma", true, flags.Options{RolloutPercentage: 10}))
	require.NoError(t, reader.Refresh(ctx))
	require.False(t, reader.Enabled("beta", "globex"))

	// The attack: beta on for every tenant, and a new flag, both as
	// well-formed versions with correct unkeyed checksums.
	forge(t, store, flags.Flag{Name: "beta", Enabled: true, Options: flags.Options{RolloutPercentage: 100}, Version: 2, UpdatedBy: "ops"})
	forge(t, store, flags.Flag{Name: "evil", Enabled: true, Options: flags.Options{RolloutPercentage: 100}, Version: 1})
	require.NoError(t, writer.Set(ctx, "gamma", true, flags.Options{RolloutPercentage: 20}), "a genuine change next to the forgeries")

	err := reader.Refresh(ctx)
	require.ErrorIs(t, err, steward.ErrForged)
	require.ErrorIs(t, err, flags.ErrInvalid)
	require.ErrorContains(t, err, `flag "beta" version 2`)
	require.ErrorContains(t, err, "keeping version 1")
	require.ErrorContains(t, err, `flag "evil" version 1`)
	require.False(t, reader.Enabled("beta", "globex"), "the forged version must not take effect")
	require.True(t, reader.Enabled("beta", "acme"), "beta keeps its last good version")
	f, ok := reader.Get("beta")
	require.True(t, ok)
	require.Equal(t, uint64(1), f.Version)
	_, ok = reader.Get("evil")
	require.False(t, ok, "a forged new flag is not installed")
	require.Len(t, reader.List(), 2)
	g, _ := reader.Get("gamma")
	require.Equal(t, 20.0, g.RolloutPercentage, "every other flag is still refreshed")

	_, err = flags.New(context.Background(), store, &flags.Config{RecordKey: testKey})
	require.ErrorIs(t, err, steward.ErrForged, "a new Set has no good state to keep: New fails")

	// The master repairs by writing a genuine version above the forgery.
	require.ErrorIs(t, writer.Refresh(ctx), steward.ErrForged)
	require.NoError(t, writer.Set(ctx, "beta", false, flags.Options{}))
	f, _ = writer.Get("beta")
	require.Equal(t, uint64(3), f.Version, "written above the refused version 2")
	require.NoError(t, store.Delete(context.Background(), objectKey("evil", 1)))
	require.NoError(t, reader.Refresh(ctx))
	f, _ = reader.Get("beta")
	require.Equal(t, uint64(3), f.Version)
}

func TestMovedVersionRefused(t *testing.T) {
	cases := []struct {
		name     string
		from, to string
	}{
		{"another flag's name", objectKey("alpha", 2), objectKey("beta", 2)},
		{"an older version replayed as a newer one", objectKey("alpha", 1), objectKey("alpha", 3)},
		{"another Set's prefix", "staging/alpha/00000000000000000003.json", objectKey("alpha", 3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := storage.NewMemory()
			ctx := master()
			s := keyed(t, store)
			require.NoError(t, s.Set(ctx, "alpha", true, flags.Options{RolloutPercentage: 100}))
			require.NoError(t, s.Set(ctx, "alpha", false, flags.Options{}))
			require.NoError(t, s.Set(ctx, "beta", false, flags.Options{}))
			staging, err := flags.New(ctx, store, &flags.Config{RecordKey: testKey, Prefix: "staging/"})
			require.NoError(t, err)
			for range 3 {
				require.NoError(t, staging.Set(ctx, "alpha", true, flags.Options{RolloutPercentage: 100}))
			}

			copyObject(t, store, c.from, c.to)
			err = s.Refresh(ctx)
			require.ErrorIs(t, err, steward.ErrForged, "%s copied to %s", c.from, c.to)
			require.ErrorContains(t, err, c.to)
			require.False(t, s.Enabled("alpha", "acme"), "alpha keeps version 2 (off)")
			require.False(t, s.Enabled("beta", "acme"))
		})
	}
}

func TestRecordKeyTooShort(t *testing.T) {
	short := []byte("0123456789")
	_, err := flags.New(context.Background(), storage.NewMemory(), &flags.Config{RecordKey: short})
	require.ErrorContains(t, err, "Config.RecordKey: record key has 10 bytes")
	require.ErrorContains(t, err, fmt.Sprintf("at least %d", steward.MinRecordKey))
	_, err = flags.Resign(master(), storage.NewMemory(), &flags.Config{RecordKey: short})
	require.ErrorContains(t, err, "10 bytes")
	_, err = flags.DecodeFlag(objectKey("x", 1), []byte(`{}`), short)
	require.ErrorContains(t, err, "10 bytes")
}

// events collects audit events.
type events struct {
	mu  sync.Mutex
	got []audit.Event
}

func (e *events) auditor() audit.Auditor {
	return audit.AuditorFunc(func(_ context.Context, ev audit.Event) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.got = append(e.got, ev)
		return nil
	})
}

func TestResignAdoptsKey(t *testing.T) {
	store := storage.NewMemory()
	ctx := master()
	plain := open(t, store)
	require.NoError(t, plain.Set(ctx, "alpha", true, flags.Options{RolloutPercentage: 100}))
	require.NoError(t, plain.Set(ctx, "beta", true, flags.Options{TargetTenants: []string{"acme"}}))
	require.NoError(t, plain.Set(ctx, "gone", true, flags.Options{}))
	require.NoError(t, plain.Delete(ctx, "gone"))

	_, err := flags.New(ctx, store, &flags.Config{RecordKey: testKey})
	require.ErrorIs(t, err, steward.ErrForged)
	require.ErrorContains(t, err, "carries no MAC")

	var ev events
	cfg := &flags.Config{RecordKey: testKey, Auditor: ev.auditor()}
	viewer := steward.WithPrincipal(context.Background(), steward.Principal{ID: "eve"})
	n, err := flags.Resign(viewer, store, cfg)
	require.ErrorIs(t, err, steward.ErrForbidden)
	require.Zero(t, n)
	n, err = flags.Resign(ctx, store, cfg)
	require.NoError(t, err)
	require.Equal(t, 3, n, "alpha, beta and the tombstone of gone")
	require.Len(t, ev.got, 4, "the denial and one event per version written")
	require.Equal(t, audit.TypeAccessDenied, ev.got[0].Type)
	require.Equal(t, audit.TypeFlagDeleted, ev.got[3].Type, "gone stays deleted")
	require.Contains(t, ev.got[1].Message, "re-signed")
	n, err = flags.Resign(ctx, store, cfg)
	require.NoError(t, err)
	require.Zero(t, n, "a second Resign writes nothing")

	s := keyed(t, store)
	require.Len(t, s.List(), 2)
	require.True(t, s.Enabled("alpha", "anyone"))
	require.True(t, s.Enabled("beta", "acme"))
	require.False(t, s.Enabled("beta", "globex"))
	_, ok := s.Get("gone")
	require.False(t, ok)

	// After adoption a version written without the key is refused, and
	// Resign does not vouch for it.
	forge(t, store, flags.Flag{Name: "beta", Enabled: true, Options: flags.Options{RolloutPercentage: 100}, Version: 3})
	err = s.Refresh(ctx)
	require.ErrorIs(t, err, steward.ErrForged)
	require.ErrorContains(t, err, "carries no MAC")
	require.False(t, s.Enabled("beta", "globex"))
	n, err = flags.Resign(ctx, store, cfg)
	require.ErrorIs(t, err, steward.ErrForged)
	require.ErrorContains(t, err, `flag "beta" version 3`)
	require.Zero(t, n)
	require.ErrorIs(t, s.Refresh(ctx), steward.ErrForged, "the refused Resign wrote nothing")
}

func TestResignNeedsKeyAndIntactVersions(t *testing.T) {
	store := storage.NewMemory()
	ctx := master()
	_, err := flags.Resign(ctx, store, nil)
	require.ErrorContains(t, err, "needs Config.RecordKey")
	plain := open(t, store)
	require.NoError(t, plain.Set(ctx, "alpha", true, flags.Options{}))
	require.NoError(t, plain.Set(ctx, "beta", true, flags.Options{}))
	require.NoError(t, storage.PutBytes(ctx, store, objectKey("beta", 2), []byte(`{"name":"beta","version":2,"sum":"00"}`), nil))
	n, err := flags.Resign(ctx, store, &flags.Config{RecordKey: testKey})
	require.ErrorIs(t, err, flags.ErrInvalid)
	require.ErrorContains(t, err, `flag "beta" version 2`)
	require.Zero(t, n)
	_, err = storage.ReadAll(ctx, store, objectKey("alpha", 2))
	require.ErrorIs(t, err, storage.ErrNotFound, "a damaged version means nothing is written")
}

// genuineStore writes flags with a keyed Set (gamma at pct, if valid) and
// returns the Store, the writer and every genuine version by object key,
// decoded and as stored.
func genuineStore(t testing.TB, pct float64) (storage.Store, *flags.Set, map[string]flags.Flag, map[string][]byte) {
	store := storage.NewMemory()
	w := keyed(t, store)
	ctx := master()
	require.NoError(t, w.Set(ctx, "alpha", true, flags.Options{RolloutPercentage: 100}))
	require.NoError(t, w.Set(ctx, "alpha", false, flags.Options{}))
	require.NoError(t, w.Set(ctx, "beta", true, flags.Options{TargetTenants: []string{"acme"}}))
	require.NoError(t, w.Set(ctx, "gone", true, flags.Options{}))
	require.NoError(t, w.Delete(ctx, "gone"))
	_ = w.Set(ctx, "gamma", true, flags.Options{RolloutPercentage: pct})
	decoded, raw := map[string]flags.Flag{}, map[string][]byte{}
	for oi, err := range store.List(ctx, "") {
		require.NoError(t, err)
		b, err := storage.ReadAll(ctx, store, oi.Key)
		require.NoError(t, err)
		f, err := flags.DecodeFlag(oi.Key, b, testKey)
		require.NoError(t, err, "a genuine version decodes")
		decoded[oi.Key], raw[oi.Key] = f, b
	}
	return store, w, decoded, raw
}

// requireGenuine fails unless every flag s installed is a genuine version.
func requireGenuine(t *testing.T, s *flags.Set, genuine map[string]flags.Flag) {
	t.Helper()
	for _, f := range s.List() {
		want, ok := genuine[objectKey(f.Name, f.Version)]
		require.True(t, ok, "installed %+v, which no genuine Set wrote", f)
		require.Equal(t, want, f)
	}
}

// FuzzRefresh stores arbitrary bytes as a flag version next to genuine
// ones and refreshes: only genuine versions are ever installed.
func FuzzRefresh(f *testing.F) {
	_, _, _, raw := genuineStore(f, 50)
	beta := forged(f, flags.Flag{Name: "beta", Enabled: true, Options: flags.Options{RolloutPercentage: 100}, Version: 2})
	evil := forged(f, flags.Flag{Name: "evil", Enabled: true, Options: flags.Options{RolloutPercentage: 100}, Version: 1})
	f.Add("alpha", uint64(3), raw[objectKey("alpha", 1)], 50.0) // replay
	f.Add("beta", uint64(2), raw[objectKey("alpha", 2)], 50.0)  // moved
	f.Add("alpha", uint64(2), raw[objectKey("alpha", 2)], 50.0) // the genuine record itself
	f.Add("beta", uint64(2), beta, 50.0)
	f.Add("evil", uint64(1), evil, 12.5)
	f.Add("gamma", uint64(2), []byte("{"), 101.0)
	f.Fuzz(func(t *testing.T, name string, version uint64, b []byte, pct float64) {
		store, w, genuine, raw := genuineStore(t, pct)
		ctx := master()
		r := keyed(t, store)
		require.Equal(t, w.List(), r.List(), "Set then New gives back the same flags")
		if flags.ValidateName(name) != nil {
			name = "alpha"
		}
		key := objectKey(name, version)
		require.NoError(t, storage.PutBytes(ctx, store, key, b, nil))
		err := r.Refresh(ctx)
		if g, ok := raw[key]; ok && string(g) == string(b) {
			require.NoError(t, err, "the genuine record, stored again")
		}
		if err != nil {
			require.ErrorIs(t, err, flags.ErrInvalid)
		}
		requireGenuine(t, r, genuine)
		fresh, err := flags.New(ctx, store, &flags.Config{RecordKey: testKey})
		if err != nil {
			require.ErrorIs(t, err, flags.ErrInvalid)
			return
		}
		requireGenuine(t, fresh, genuine)
	})
}

func TestForgedLastVersionNumber(t *testing.T) {
	store := storage.NewMemory()
	s := keyed(t, store)
	ctx := master()
	require.NoError(t, s.Set(ctx, "beta", false, flags.Options{}))
	forge(t, store, flags.Flag{Name: "beta", Enabled: true, Options: flags.Options{RolloutPercentage: 100}, Version: math.MaxUint64})
	require.ErrorIs(t, s.Refresh(ctx), steward.ErrForged)
	err := s.Set(ctx, "beta", true, flags.Options{})
	require.ErrorContains(t, err, "no version number left")
	f, _ := s.Get("beta")
	require.Equal(t, uint64(1), f.Version)
	_, err = storage.ReadAll(ctx, store, objectKey("beta", 0))
	require.ErrorIs(t, err, storage.ErrNotFound, "the version number did not wrap")
}

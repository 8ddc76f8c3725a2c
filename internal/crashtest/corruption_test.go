package crashtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/flags"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/storage"
)

type damage func(t *testing.T, s storage.Store, key, other string)

var damages = map[string]damage{
	"flip": func(t *testing.T, s storage.Store, key, _ string) {
		b, err := storage.ReadAll(context.Background(), s, key)
		require.NoError(t, err)
		b[len(b)/2] ^= 0x10
		require.NoError(t, storage.PutBytes(context.Background(), s, key, b, nil))
	},
	"truncate": func(t *testing.T, s storage.Store, key, _ string) {
		b, err := storage.ReadAll(context.Background(), s, key)
		require.NoError(t, err)
		require.NoError(t, storage.PutBytes(context.Background(), s, key, b[:len(b)/2], nil))
	},
	"swap": func(t *testing.T, s storage.Store, key, other string) {
		a, err := storage.ReadAll(context.Background(), s, key)
		require.NoError(t, err)
		b, err := storage.ReadAll(context.Background(), s, other)
		require.NoError(t, err)
		require.NoError(t, storage.PutBytes(context.Background(), s, key, b, nil))
		require.NoError(t, storage.PutBytes(context.Background(), s, other, a, nil))
	},
}

func keys(t *testing.T, s storage.Store, prefix string) []string {
	var out []string
	for oi, err := range s.List(context.Background(), prefix) {
		require.NoError(t, err)
		out = append(out, oi.Key)
	}
	slices.Sort(out)
	return out
}

// readAll reads every snapshot of every listed scope in full, returning the
// first error.
func readAll(e *backup.Engine, scopes ...string) error {
	ctx := master()
	for _, sc := range scopes {
		cat, err := e.Catalog(ctx, sc)
		if err != nil {
			return err
		}
		for _, snap := range cat {
			for f, err := range e.Files(ctx, sc, snap.ID) {
				if err != nil {
					return err
				}
				if !f.Mode.IsRegular() {
					continue
				}
				rc, err := e.OpenFile(ctx, sc, f, nil)
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// TestCorruptionMatrix damages one object of each type (flip a bit,
// truncate, swap with another of its kind) and checks that the damage is
// detected, reported with the object's key, and never crashes — or, where a
// swap is harmless by design (index objects have random names), that every
// byte still reads back right.
func TestCorruptionMatrix(t *testing.T) {
	for _, kind := range []string{"pack", "index", "manifest", "key", "config", "release record", "flag record"} {
		for dname, dmg := range damages {
			t.Run(kind+"/"+dname, func(t *testing.T) {
				ctx := master()
				store := storage.NewMemory()
				keysP := backup.PassphraseWithOptions("p", backup.PassphraseOptions{Time: 1, MemoryKiB: 1024, Threads: 1})
				e, err := backup.New(store, &backup.Config{Keys: keysP})
				require.NoError(t, err)
				for g := range 2 {
					for _, tn := range []string{"acme", "globex"} {
						_, err := e.Backup(ctx, tn, backup.FSSource(dataset(g)), &backup.Options{Type: backup.Full, Encrypt: true})
						require.NoError(t, err)
					}
				}
				m, err := release.NewManager(store, &release.Config{Engine: e})
				require.NoError(t, err)
				for _, v := range []string{"1.0.0", "1.1.0"} {
					r, err := m.Create(ctx, release.Spec{Channel: "prod", Version: v, Artifact: backup.FSSource(fstest.MapFS{"a": {Data: []byte(v)}})})
					require.NoError(t, err)
					_, err = m.Deploy(ctx, r.ID, nil)
					require.NoError(t, err)
				}
				fs, err := flags.New(ctx, store, nil)
				require.NoError(t, err)
				require.NoError(t, fs.Set(ctx, "beta", true, flags.Options{RolloutPercentage: 10}))
				require.NoError(t, fs.Set(ctx, "beta", true, flags.Options{RolloutPercentage: 20}))

				var victim, other string
				pick := func(prefix string) {
					ks := keys(t, store, prefix)
					require.GreaterOrEqual(t, len(ks), 2, prefix)
					victim, other = ks[0], ks[1]
				}
				switch kind {
				case "pack":
					pick("tenants/acme/packs/")
				case "index":
					ks := keys(t, store, "tenants/acme/index/")
					victim, other = ks[0], keys(t, store, "tenants/globex/index/")[0]
				case "manifest":
					pick("tenants/acme/snapshots/")
				case "key":
					victim, other = "tenants/acme/key", "tenants/globex/key"
				case "config":
					victim, other = "tenants/acme/config", "tenants/globex/config"
				case "release record":
					pick("releases/log/")
				case "flag record":
					pick("flags/beta/")
					victim, other = other, victim // the newest version is the one read
				}
				dmg(t, store, victim, other)

				// Whatever reads the damaged object must fail naming one of
				// the damaged keys (or, for harmless swaps, read right).
				fresh, _ := backup.New(store, &backup.Config{Keys: keysP})
				var got error
				switch kind {
				case "pack":
					chk, err := fresh.Check(ctx, "acme", &backup.CheckOptions{ReadData: true})
					require.NoError(t, err)
					require.False(t, chk.OK(), "check finds the damaged pack")
					got = fmt.Errorf("%s", strings.Join(chk.Problems, "; "))
				case "index", "manifest", "key", "config":
					got = readAll(fresh, "acme", "globex")
				case "release record":
					m2, _ := release.NewManager(store, &release.Config{Engine: fresh})
					_, got = m2.Active(ctx, "prod")
				case "flag record":
					_, got = flags.New(ctx, store, nil)
				}
				if got == nil {
					require.Equal(t, "index", kind, "only index swaps may pass unnoticed (index objects have random names, so a swap changes nothing)")
					require.Equal(t, "swap", dname)
					return
				}
				msg := got.Error()
				require.True(t, strings.Contains(msg, victim) || strings.Contains(msg, other) ||
					strings.Contains(msg, strings.TrimSuffix(victim, "key")) || strings.Contains(msg, strings.TrimSuffix(victim, "config")),
					"%s %s: error %q names neither %s nor %s", kind, dname, msg, victim, other)
			})
		}
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

package release_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
)

var recordKey = []byte("0123456789abcdef0123456789abcdef")

// spyMigrator and spyDeployer count the calls reaching the SQLMigrator and
// DirDeployer the other tests use.
type spyMigrator struct {
	m     *release.SQLMigrator
	calls int
}

func (s *spyMigrator) Apply(ctx context.Context, ms []release.Migration) error {
	s.calls++
	return s.m.Apply(ctx, ms)
}

func (s *spyMigrator) Revert(ctx context.Context, ms []release.Migration) error {
	s.calls++
	return s.m.Revert(ctx, ms)
}

type spyDeployer struct {
	d     release.Deployer
	calls int
}

func (s *spyDeployer) Deploy(ctx context.Context, r *release.Release) error {
	s.calls++
	return s.d.Deploy(ctx, r)
}

type spied struct {
	*env
	mig *spyMigrator
	dep *spyDeployer
}

// newSpiedEnv is newEnv with spies and key as Config.RecordKey (nil: none).
func newSpiedEnv(t *testing.T, key []byte) *spied {
	ev := newEnv(t)
	s := &spied{env: ev, mig: &spyMigrator{m: &release.SQLMigrator{DB: ev.db}},
		dep: &spyDeployer{d: release.DirDeployer(restore.New(ev.e, nil), ev.dir)}}
	var err error
	ev.m, err = release.NewManager(ev.store, &release.Config{Engine: ev.e, Migrator: s.mig, Deployer: s.dep, Clock: ev.clock, RecordKey: key})
	require.NoError(t, err)
	return s
}

func (s *spied) resetSpies() { s.mig.calls, s.dep.calls = 0, 0 }

func defKey(id string) string { return "releases/defs/" + id + ".json" }

func logKey(seq int) string { return fmt.Sprintf("releases/log/%020d.json", seq) }

func sha(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// forgeDefinition does what a store writer can: back up an evil artifact
// into the Releases scope through the Manager's engine, then rewrite id's
// definition to point at it, with evil migration SQL and a recomputed
// hash and checksum.
func forgeDefinition(t *testing.T, ev *env, id string) {
	ctx := master()
	evil := fstest.MapFS{"static/app.js": {Data: []byte("steal()"), Mode: 0o644}, "VERSION": {Data: []byte("evil"), Mode: 0o644}}
	snap, err := ev.e.Backup(ctx, backup.Releases, backup.FSSource(evil), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	b, err := storage.ReadAll(ctx, ev.store, defKey(id))
	require.NoError(t, err)
	var r release.Release
	require.NoError(t, json.Unmarshal(b, &r))
	r.ArtifactSnapshot, r.ArtifactHash = snap.ID, release.ArtifactHash(snap.Checksums)
	r.Forward = []release.Migration{{ID: "666_evil", SQL: "CREATE TABLE pwned (x INTEGER)", Release: id}}
	r.Backward = []release.Migration{{ID: "666_evil", SQL: "DROP TABLE pwned", Release: id}}
	r.Sum = ""
	j, err := json.Marshal(&r)
	require.NoError(t, err)
	r.Sum = sha(j)
	out, err := json.MarshalIndent(&r, "", "  ")
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(ctx, ev.store, defKey(id), out, nil))
}

func TestForgedDefinitionIsNotDeployed(t *testing.T) {
	// Without a key the forgery works: this is the attack the key stops.
	plain := newSpiedEnv(t, nil)
	r1, r2 := plain.create(t, 0), plain.create(t, 1)
	_, err := plain.m.Deploy(master(), r1.ID, nil)
	require.NoError(t, err)
	forgeDefinition(t, plain.env, r2.ID)
	_, err = plain.m.Deploy(master(), r2.ID, nil)
	require.NoError(t, err, "without a RecordKey the forged release deploys")
	require.Contains(t, plain.schema(t), "table pwned")

	ev := newSpiedEnv(t, recordKey)
	r1, r2 = ev.create(t, 0), ev.create(t, 1)
	_, err = ev.m.Deploy(master(), r1.ID, nil)
	require.NoError(t, err)
	schema := ev.schema(t)
	forgeDefinition(t, ev.env, r2.ID)
	ev.resetSpies()
	_, err = ev.m.Deploy(master(), r2.ID, nil)
	require.ErrorIs(t, err, steward.ErrForged)
	require.Contains(t, err.Error(), r2.ID)
	_, err = ev.m.Get(master(), r2.ID)
	require.ErrorIs(t, err, steward.ErrForged)
	require.Zero(t, ev.mig.calls, "no migration ran")
	require.Zero(t, ev.dep.calls, "no file was deployed")
	require.Equal(t, schema, ev.schema(t))
	require.Equal(t, want("1.0.0"), deployedFiles(t, ev.dir))
	active, err := ev.m.Active(master(), "prod")
	require.NoError(t, err)
	require.Equal(t, r1.ID, active.ID)
}

func TestForgedRollbackTargetIsRefused(t *testing.T) {
	ev := newSpiedEnv(t, recordKey)
	r1, r2 := ev.create(t, 0), ev.create(t, 1)
	for _, id := range []string{r1.ID, r2.ID} {
		_, err := ev.m.Deploy(master(), id, nil)
		require.NoError(t, err)
	}
	schema := ev.schema(t)
	forgeDefinition(t, ev.env, r1.ID)
	ev.resetSpies()
	_, err := ev.m.Rollback(master(), r1.ID, nil)
	require.ErrorIs(t, err, steward.ErrForged)
	require.Zero(t, ev.mig.calls)
	require.Zero(t, ev.dep.calls)
	require.Equal(t, schema, ev.schema(t))
	require.Equal(t, want("1.1.0"), deployedFiles(t, ev.dir))
}

func TestMovedDefinitionIsRefused(t *testing.T) {
	ev := newSpiedEnv(t, recordKey)
	r1, r2 := ev.create(t, 0), ev.create(t, 1)
	b, err := storage.ReadAll(master(), ev.store, defKey(r1.ID))
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(master(), ev.store, defKey(r2.ID), b, nil))
	_, err = ev.m.Deploy(master(), r2.ID, nil)
	require.ErrorIs(t, err, steward.ErrForged)
	require.Zero(t, ev.mig.calls)
	require.Zero(t, ev.dep.calls)
}

// logRecord is a release log record as stored, as an attacker writes it.
type logRecord struct {
	Seq        uint64    `json:"seq"`
	Type       string    `json:"type"`
	Channel    string    `json:"channel"`
	ReleaseID  string    `json:"release_id,omitempty"`
	Version    string    `json:"version,omitempty"`
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitempty"`
	At         time.Time `json:"at"`
	By         string    `json:"by,omitempty"`
	Sum        string    `json:"sum"`
}

func countLog(t testing.TB, s storage.Store) int {
	n := 0
	for _, err := range s.List(context.Background(), "releases/log/") {
		require.NoError(t, err)
		n++
	}
	return n
}

// forgeActive appends a record marking id deployed (active), with the
// plain checksum records carried before keys, or with tag when not empty.
func forgeActive(t *testing.T, s storage.Store, id, tag string) int {
	seq := countLog(t, s) + 1
	r := logRecord{Seq: uint64(seq), Type: "deployed", Channel: "prod", ReleaseID: id, At: time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC), By: "mallory"}
	j, err := json.Marshal(r)
	require.NoError(t, err)
	r.Sum = sha(j)
	if tag != "" {
		r.Sum = tag
	}
	j, err = json.Marshal(r)
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(context.Background(), s, logKey(seq), j, nil))
	return seq
}

func TestForgedLogRecordIsRefused(t *testing.T) {
	// Without a key the forged record is replayed: the release is "active".
	plain := newSpiedEnv(t, nil)
	r1, r2 := plain.create(t, 0), plain.create(t, 1)
	_, err := plain.m.Deploy(master(), r1.ID, nil)
	require.NoError(t, err)
	forgeActive(t, plain.store, r2.ID, "")
	active, err := plain.m.Active(master(), "prod")
	require.NoError(t, err)
	require.Equal(t, r2.ID, active.ID, "without a RecordKey the forged record counts")

	for name, tag := range map[string]string{"checksum": "", "fake MAC": "hmac-sha256:" + sha([]byte("x"))} {
		t.Run(name, func(t *testing.T) {
			ev := newSpiedEnv(t, recordKey)
			r1, r2 := ev.create(t, 0), ev.create(t, 1)
			_, err := ev.m.Deploy(master(), r1.ID, nil)
			require.NoError(t, err)
			seq := forgeActive(t, ev.store, r2.ID, tag)
			ev.resetSpies()
			requireLogRefused(t, ev, fmt.Sprintf("record %d", seq))
		})
	}
}

// requireLogRefused checks every reader and writer of the log refuses it,
// naming the record, and nothing was migrated or deployed.
func requireLogRefused(t *testing.T, ev *spied, names string) {
	ctx := master()
	_, err := ev.m.Active(ctx, "prod")
	require.ErrorIs(t, err, steward.ErrForged)
	require.Contains(t, err.Error(), names)
	_, err = ev.m.History(ctx, "prod")
	require.ErrorIs(t, err, steward.ErrForged)
	_, err = ev.m.Deployments(ctx, 0)
	require.ErrorIs(t, err, steward.ErrForged)
	_, err = ev.m.Deploy(ctx, specs[1].Channel+"-"+specs[1].Version, nil)
	require.ErrorIs(t, err, steward.ErrForged)
	_, err = ev.m.Rollback(ctx, specs[0].Channel+"-"+specs[0].Version, nil)
	require.ErrorIs(t, err, steward.ErrForged)
	require.Zero(t, ev.mig.calls)
	require.Zero(t, ev.dep.calls)
}

func TestReplayedLogRecordIsRefused(t *testing.T) {
	cases := map[string]func(b []byte, seq int) []byte{
		"copied verbatim": func(b []byte, _ int) []byte { return b },
		"sequence rewritten": func(b []byte, seq int) []byte {
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			m["seq"] = seq
			out, _ := json.Marshal(m)
			return out
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			ev := newSpiedEnv(t, recordKey)
			r1 := ev.create(t, 0)
			ev.create(t, 1)
			_, err := ev.m.Deploy(master(), r1.ID, nil)
			require.NoError(t, err)
			seq := countLog(t, ev.store) + 1
			b, err := storage.ReadAll(master(), ev.store, logKey(seq-1)) // the "deployed" record
			require.NoError(t, err)
			require.NoError(t, storage.PutBytes(master(), ev.store, logKey(seq), edit(b, seq), nil))
			ev.resetSpies()
			requireLogRefused(t, ev, logKey(seq))
		})
	}
}

func TestShortRecordKeyIsRefused(t *testing.T) {
	e, err := backup.New(storage.NewMemory(), nil)
	require.NoError(t, err)
	_, err = release.NewManager(storage.NewMemory(), &release.Config{Engine: e, RecordKey: []byte("short")})
	require.ErrorIs(t, err, release.ErrInvalidSpec)
	require.Contains(t, err.Error(), "at least")
}

func TestReplantedArtifactIsRefused(t *testing.T) {
	ev := newSpiedEnv(t, recordKey)
	r1, r2 := ev.create(t, 0), ev.create(t, 1)
	_, err := ev.m.Deploy(master(), r1.ID, nil)
	require.NoError(t, err)
	// Another snapshot's manifest (an evil artifact backed up through the
	// engine) put where r2's artifact snapshot lives: the definition is
	// genuine, the artifact it names is not.
	evil := fstest.MapFS{"static/app.js": {Data: []byte("steal()"), Mode: 0o644}}
	snap, err := ev.e.Backup(master(), backup.Releases, backup.FSSource(evil), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	b, err := storage.ReadAll(master(), ev.store, "releases/artifacts/snapshots/"+snap.ID)
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(master(), ev.store, "releases/artifacts/snapshots/"+r2.ArtifactSnapshot, b, nil))
	ev.resetSpies()
	_, err = ev.m.Deploy(master(), r2.ID, nil)
	require.ErrorIs(t, err, release.ErrArtifactTampered)
	require.Zero(t, ev.mig.calls)
	require.Zero(t, ev.dep.calls)
	require.Equal(t, want("1.0.0"), deployedFiles(t, ev.dir))
}

// logState is what a replayed log shows.
type logState struct {
	Active      string
	History     []string
	Deployments []string
}

func stateOf(ctx context.Context, m *release.Manager) (logState, error) {
	var s logState
	a, err := m.Active(ctx, "prod")
	if err != nil {
		return s, err
	}
	s.Active = a.ID
	h, err := m.History(ctx, "prod")
	if err != nil {
		return s, err
	}
	for _, r := range h {
		s.History = append(s.History, r.ID)
	}
	ds, err := m.Deployments(ctx, 0)
	for _, d := range ds {
		s.Deployments = append(s.Deployments, d.Kind+" "+d.ReleaseID+" "+d.Status)
	}
	return s, err
}

// FuzzReplayLog writes a short genuine log with a RecordKey, then stores
// the fuzzed bytes as an extra record (even slot) or in place of one (odd
// slot): replay by a fresh Manager either fails or shows exactly the
// genuine state.
func FuzzReplayLog(f *testing.F) {
	ctx := master()
	store := storage.NewMemory()
	e, err := backup.New(store, nil)
	require.NoError(f, err)
	cfg := &release.Config{Engine: e, RecordKey: recordKey}
	m, err := release.NewManager(store, cfg)
	require.NoError(f, err)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		r, err := m.Create(ctx, release.Spec{Channel: "prod", Version: v, Artifact: backup.FSSource(files(v))})
		require.NoError(f, err)
		_, err = m.Deploy(ctx, r.ID, nil)
		require.NoError(f, err)
	}
	_, err = m.Rollback(ctx, "prod-1.0.0", nil)
	require.NoError(f, err)
	genuine, err := stateOf(ctx, m)
	require.NoError(f, err)
	fresh, err := release.NewManager(store, cfg)
	require.NoError(f, err)
	got, err := stateOf(ctx, fresh)
	require.NoError(f, err)
	require.Equal(f, genuine, got, "a fresh Manager replays the log to the state its writer saw")

	n := countLog(f, store)
	orig := map[int][]byte{}
	for i := 1; i <= n; i++ {
		orig[i], err = storage.ReadAll(ctx, store, logKey(i))
		require.NoError(f, err)
	}
	f.Add(uint8(0), orig[n])
	f.Add(uint8(1), orig[1])
	f.Add(uint8(3), orig[3])
	f.Add(uint8(0), []byte(`{"seq":`+fmt.Sprint(n+1)+`,"type":"deployed","channel":"prod","release_id":"prod-1.1.0","sum":"hmac-sha256:00"}`))
	f.Add(uint8(0), []byte(`{"seq":`+fmt.Sprint(n+1)+`,"type":"resigned","covers":"","sum":""}`))
	f.Fuzz(func(t *testing.T, slot uint8, b []byte) {
		for i, v := range orig {
			require.NoError(t, storage.PutBytes(ctx, store, logKey(i), v, nil))
		}
		_ = store.Delete(ctx, logKey(n+1))
		target := n + 1
		if slot%2 == 1 {
			target = int(slot/2)%n + 1
		}
		require.NoError(t, storage.PutBytes(ctx, store, logKey(target), b, nil))
		got, err := stateOf(ctx, fresh)
		if err != nil {
			return
		}
		require.Equal(t, genuine, got, "a changed log replayed to another state")
	})
}

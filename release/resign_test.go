package release_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	recordtag "github.com/iluxsys/steward/internal/record"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/storage"
)

// keyedOver returns a Manager with recordKey over ev's store, engine and spies.
func keyedOver(t *testing.T, ev *spied) *release.Manager {
	m, err := release.NewManager(ev.store, &release.Config{Engine: ev.e, Migrator: ev.mig, Deployer: ev.dep, Clock: ev.clock, RecordKey: recordKey})
	require.NoError(t, err)
	return m
}

func TestResignAdoptsRecordKey(t *testing.T) {
	ev := newSpiedEnv(t, nil) // a store written before keys
	r1, r2 := ev.create(t, 0), ev.create(t, 1)
	for _, id := range []string{r1.ID, r2.ID} {
		_, err := ev.m.Deploy(master(), id, nil)
		require.NoError(t, err)
	}
	keyed := keyedOver(t, ev)
	_, err := keyed.Active(master(), "prod")
	require.ErrorIs(t, err, steward.ErrForged)
	require.Contains(t, err.Error(), "carries no MAC")
	_, err = keyed.Get(master(), r1.ID)
	require.ErrorIs(t, err, steward.ErrForged)

	before := countObjects(t, ev.store)
	ops := steward.WithPrincipal(context.Background(), steward.Principal{ID: "ops", Roles: []string{"operator"}})
	require.ErrorIs(t, keyed.Resign(ops), steward.ErrForbidden, "master only")
	require.ErrorIs(t, ev.m.Resign(master()), release.ErrInvalidSpec, "needs a key")
	require.Equal(t, before, countObjects(t, ev.store), "nothing written")

	require.NoError(t, keyed.Resign(master()))
	active, err := keyed.Active(master(), "prod")
	require.NoError(t, err)
	require.Equal(t, r2.ID, active.ID)
	hist, err := keyed.History(master(), "prod")
	require.NoError(t, err)
	require.Len(t, hist, 2)
	after := countObjects(t, ev.store)
	require.NoError(t, keyed.Resign(master()))
	require.Equal(t, after, countObjects(t, ev.store), "a second Resign changes nothing")

	_, err = keyed.Rollback(master(), r1.ID, nil)
	require.NoError(t, err, "the resigned store is used as before")
	require.Equal(t, want("1.0.0"), deployedFiles(t, ev.dir))
	_, err = ev.m.Active(master(), "prod")
	require.ErrorIs(t, err, recordtag.ErrChecksum, "a Manager without the key cannot read the keyed log")

	// An untagged record appended after the resign is refused again.
	forgeActive(t, ev.store, r2.ID, "")
	_, err = keyed.Active(master(), "prod")
	require.ErrorIs(t, err, steward.ErrForged)
}

func TestResignedLogCannotBeEdited(t *testing.T) {
	ev := newSpiedEnv(t, nil)
	r1 := ev.create(t, 0)
	_, err := ev.m.Deploy(master(), r1.ID, nil)
	require.NoError(t, err)
	keyed := keyedOver(t, ev)
	require.NoError(t, keyed.Resign(master()))
	// Rewrite the first (untagged) record with a correct plain checksum:
	// the resigned record no longer covers the log.
	b, err := storage.ReadAll(master(), ev.store, logKey(1))
	require.NoError(t, err)
	var r logRecord
	require.NoError(t, json.Unmarshal(b, &r))
	r.By, r.Sum = "mallory", ""
	j, err := json.Marshal(r)
	require.NoError(t, err)
	r.Sum = sha(j)
	j, err = json.Marshal(r)
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(master(), ev.store, logKey(1), j, nil))
	_, err = keyed.Active(master(), "prod")
	require.ErrorIs(t, err, steward.ErrForged)
	require.Contains(t, err.Error(), "does not cover")
}

func TestResignRefusesDamagedDefinition(t *testing.T) {
	ev := newSpiedEnv(t, nil)
	r1 := ev.create(t, 0)
	b, err := storage.ReadAll(master(), ev.store, defKey(r1.ID))
	require.NoError(t, err)
	var r release.Release
	require.NoError(t, json.Unmarshal(b, &r))
	r.Forward[0].SQL = "DROP TABLE everything" // checksum not recomputed
	j, err := json.Marshal(&r)
	require.NoError(t, err)
	require.NoError(t, storage.PutBytes(master(), ev.store, defKey(r1.ID), j, nil))
	keyed := keyedOver(t, ev)
	before := countObjects(t, ev.store)
	err = keyed.Resign(master())
	require.ErrorIs(t, err, recordtag.ErrChecksum)
	require.Contains(t, err.Error(), r1.ID)
	require.Equal(t, before, countObjects(t, ev.store), "nothing written")
	_, err = keyed.Get(master(), r1.ID)
	require.ErrorIs(t, err, steward.ErrForged)
}

package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/internal/errs"
	audited "github.com/iluxsys/steward/internal/op"
	recordtag "github.com/iluxsys/steward/internal/record"
	"github.com/iluxsys/steward/storage"
)

// Resign adopts Config.RecordKey for a Store written without one. With a
// key, definitions and log records written before it carry only a plain
// SHA-256 and are refused ("carries no MAC"); Resign vouches for them once:
//
//   - every definition is checked against its keyless checksum (or, when
//     it has none, accepted as written) and rewritten in place with a MAC;
//   - the log stays append-only: its untagged records are checked against
//     their checksums and sequence, and one "resigned" record is appended,
//     tagged with the key, carrying a SHA-256 over the object key and tag of
//     every record before it. Replay accepts an untagged record only when
//     such a record after it covers it, so none can be changed, added
//     before it or removed afterwards.
//
// Resign trusts what the Store holds now: check History and Deployments
// before calling it, and run it while no Manager without the key is still
// writing (records such a Manager appends later are refused until Resign
// runs again). A damaged definition or record stops it before anything is
// written. It needs a RecordKey (ErrInvalidSpec) and a principal with
// steward.RoleMaster, whatever the Authorizer; it is audited as a key
// change. Running it again on a resigned store changes nothing.
func (m *Manager) Resign(ctx context.Context) error {
	if !m.key.Keyed() {
		return fmt.Errorf("%w: Resign needs Config.RecordKey", ErrInvalidSpec)
	}
	var task audited.Op
	for _, az := range []steward.Authorizer{m.cfg.Authorizer, steward.MasterOnly()} {
		var err error
		if task, err = audited.Start(ctx, az, m.cfg.Auditor, steward.ActionReleaseCreate, ""); err != nil {
			return err
		}
	}
	if err := m.writable(ctx, "resign"); err != nil {
		return err
	}
	// Check the whole log and every definition before writing anything.
	if _, _, err := m.replay(ctx); err != nil {
		return err
	}
	defs, err := m.untaggedDefs(ctx)
	if err == nil {
		err = m.retagDefs(ctx, defs)
	}
	covered := 0
	if err == nil {
		covered, err = m.coverLog(ctx)
	}
	task.Finish(ctx, err, audit.TypeKeyChanged, "release records signed with the record key",
		map[string]any{"definitions": len(defs), "log_records": covered})
	return err
}

// untaggedDefs returns the definitions that carry no MAC yet, each checked
// against its keyless checksum. Any that fails stops Resign.
func (m *Manager) untaggedDefs(ctx context.Context) ([]*Release, error) {
	var out []*Release
	for oi, err := range m.store.List(ctx, m.prefix+"defs/") {
		if err != nil {
			return nil, errs.Errorf("release", "resign: %w", err)
		}
		id, ok := strings.CutSuffix(strings.TrimPrefix(oi.Key, m.prefix+"defs/"), ".json")
		if !ok {
			continue
		}
		b, err := storage.ReadAll(ctx, m.store, oi.Key)
		if err != nil {
			return nil, errs.Errorf("release", "resign: %w", err)
		}
		var r Release
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, errs.Errorf("release", "resign: %q: %w", oi.Key, err)
		}
		if recordtag.Verify(m.key, oi.Key, &r, &r.Sum) == nil {
			continue // already tagged
		}
		if err := m.checkDef(recordtag.Key{}, &r, id); err != nil {
			return nil, errs.Errorf("release", "resign: %w", err)
		}
		out = append(out, &r)
	}
	return out, nil
}

func (m *Manager) retagDefs(ctx context.Context, defs []*Release) error {
	for _, r := range defs {
		recordtag.Stamp(m.key, m.defKey(r.ID), r, &r.Sum)
		b, _ := json.MarshalIndent(r, "", "  ")
		if err := storage.PutBytes(ctx, m.store, m.defKey(r.ID), b, nil); err != nil {
			return errs.Errorf("release", "resign %s: %w", r.ID, err)
		}
	}
	return nil
}

// coverLog appends a resigned record covering the log's untagged records,
// if it has any, and returns how many records it covered.
func (m *Manager) coverLog(ctx context.Context) (int, error) {
	for {
		st, sc, err := m.replay(ctx)
		if err != nil {
			return 0, err
		}
		if sc.uncovered == 0 {
			return 0, nil
		}
		r := record{Seq: st.last + 1, Type: recResigned, Covers: sc.digest(), At: m.clock.Now().UTC(), By: steward.PrincipalID(ctx)}
		err = m.put(ctx, r)
		if errors.Is(err, storage.ErrExists) {
			continue // another writer took this slot: look again
		}
		return int(st.last), err
	}
}

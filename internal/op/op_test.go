package op

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
)

// recorder is an Auditor that keeps the events it is given and the
// context state it saw.
type recorder struct {
	mu        sync.Mutex
	events    []audit.Event
	cancelled []bool
}

func (r *recorder) Record(ctx context.Context, ev audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	r.cancelled = append(r.cancelled, ctx.Err() != nil)
	return nil
}

func TestStartFinish(t *testing.T) {
	master := steward.WithPrincipal(context.Background(), steward.Principal{ID: "alice", Roles: []string{steward.RoleMaster}})
	viewer := steward.WithPrincipal(context.Background(), steward.Principal{ID: "bob", Roles: []string{"viewer"}})
	boom := errors.New("disk full")
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		opErr   error
		denied  bool
		level   audit.Level
		message string
	}{
		{name: "success", ctx: master, level: audit.LevelInfo, message: "snapshot s1 of \"acme\" forgotten"},
		{name: "failure", ctx: master, opErr: boom, level: audit.LevelError, message: "snapshot s1 of \"acme\" forgotten: disk full"},
		{name: "denial", ctx: viewer, denied: true, level: audit.LevelWarning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			o, err := Start(tc.ctx, nil, rec, steward.ActionBackupDelete, "acme")
			if tc.denied {
				require.ErrorIs(t, err, steward.ErrForbidden)
				require.Equal(t, Op{}, o, "a denied operation is not started")
				require.Len(t, rec.events, 1, "the denial is audited")
				ev := rec.events[0]
				require.Equal(t, audit.TypeAccessDenied, ev.Type)
				require.Equal(t, "bob", ev.UserID)
				require.Equal(t, "acme", ev.Tenant)
				return
			}
			require.NoError(t, err)
			require.Empty(t, rec.events, "an allowed start records nothing")
			ctx, cancel := context.WithCancel(tc.ctx)
			cancel()
			o.Finish(ctx, tc.opErr, audit.TypeBackupForgotten, "snapshot s1 of \"acme\" forgotten", map[string]any{audit.DataSnapshotID: "s1"})
			require.Len(t, rec.events, 1)
			ev := rec.events[0]
			require.False(t, rec.cancelled[0], "recorded under a context that was cancelled")
			require.Equal(t, audit.TypeBackupForgotten, ev.Type)
			require.Equal(t, tc.level, ev.Level)
			require.Equal(t, tc.message, ev.Message)
			require.Equal(t, "alice", ev.UserID)
			require.Equal(t, "acme", ev.Tenant)
			require.Equal(t, "s1", ev.Data[audit.DataSnapshotID])
			require.Equal(t, tc.opErr != nil, ev.Failed(), "Failed() follows the error")
			if tc.opErr != nil {
				require.Equal(t, boom.Error(), ev.Data[audit.DataError])
			} else {
				require.NotContains(t, ev.Data, audit.DataError)
			}
		})
	}
}

func TestFinishNilData(t *testing.T) {
	rec := &recorder{}
	o, err := Start(steward.WithPrincipal(context.Background(), steward.Principal{ID: "alice", Roles: []string{steward.RoleMaster}}), nil, rec, steward.ActionRepoKey, "")
	require.NoError(t, err)
	o.Finish(context.Background(), errors.New("no key"), audit.TypeKeyChanged, "key destroyed", nil)
	require.Len(t, rec.events, 1)
	require.Equal(t, "no key", rec.events[0].Data[audit.DataError])
	require.Empty(t, rec.events[0].Tenant)
	Op{}.Finish(context.Background(), nil, audit.TypeKeyChanged, "nothing", nil) // the zero Op records nothing
}

func TestImplyingCoversOnePairOnly(t *testing.T) {
	viewer := steward.WithPrincipal(context.Background(), steward.Principal{ID: "bob", Roles: []string{"viewer"}})
	ctx := Implying(viewer, steward.ActionBackupCreate, "acme")
	rec := &recorder{}
	_, err := Start(ctx, nil, rec, steward.ActionBackupCreate, "acme")
	require.NoError(t, err, "the implied pair is not asked of the Authorizer")
	_, err = Start(ctx, nil, rec, steward.ActionBackupCreate, "globex")
	require.ErrorIs(t, err, steward.ErrForbidden, "another tenant")
	_, err = Start(ctx, nil, rec, steward.ActionBackupDelete, "acme")
	require.ErrorIs(t, err, steward.ErrForbidden, "another action")
	_, err = Start(viewer, nil, rec, steward.ActionBackupCreate, "acme")
	require.ErrorIs(t, err, steward.ErrForbidden, "without the grant")
	require.Len(t, rec.events, 3, "each denial audited")
}

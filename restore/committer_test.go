package restore_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
)

// committer is a MemoryTarget that records the Committer calls, fails
// the Create of failPath, and fails Commit with commitErr.
type committer struct {
	restore.Target
	calls     []string
	plan      *restore.Plan
	failPath  string
	commitErr error
}

func (c *committer) Create(ctx context.Context, e backup.Entry) (io.WriteCloser, error) {
	if e.Path == c.failPath {
		return nil, errors.New("refused")
	}
	return c.Target.Create(ctx, e)
}

func (c *committer) Begin(ctx context.Context, p *restore.Plan) error {
	c.calls, c.plan = append(c.calls, "begin"), p
	return nil
}

func (c *committer) Commit(ctx context.Context) ([]restore.Outcome, error) {
	c.calls = append(c.calls, "commit")
	if c.commitErr != nil {
		return nil, c.commitErr
	}
	return []restore.Outcome{{Module: "users", Action: "merged", Inserted: 2, Kept: 1}}, nil
}

func (c *committer) Abort(ctx context.Context) error {
	c.calls = append(c.calls, "abort")
	return nil
}

func TestCommitterTarget(t *testing.T) {
	_, r, _, id := setup(t)

	c := &committer{Target: restore.MemoryTarget()}
	rep, err := r.Restore(master(), "acme", id, c, &restore.Options{Mode: restore.Merge})
	require.NoError(t, err)
	require.Equal(t, []string{"begin", "commit"}, c.calls)
	require.Equal(t, restore.Merge, c.plan.Mode, "Begin sees the plan")
	require.Equal(t, []restore.Outcome{{Module: "users", Action: "merged", Inserted: 2, Kept: 1}}, rep.Outcomes)
	require.Equal(t, 4, rep.FilesRestored)

	// A write that fails aborts, and Commit is never called.
	c = &committer{Target: restore.MemoryTarget(), failPath: "users/2.json"}
	_, err = r.Restore(master(), "acme", id, c, nil)
	require.ErrorContains(t, err, "refused")
	require.Equal(t, []string{"begin", "abort"}, c.calls)

	// A failed Commit changed nothing: the report says so.
	boom := errors.New("commit failed")
	c = &committer{Target: restore.MemoryTarget(), commitErr: boom}
	rep, err = r.Restore(master(), "acme", id, c, nil)
	require.ErrorIs(t, err, boom)
	require.Empty(t, rep.Decisions)
	require.Zero(t, rep.FilesRestored)
	require.Empty(t, rep.Outcomes)

	// A dry run calls none of them.
	c = &committer{Target: restore.MemoryTarget()}
	_, err = r.Restore(master(), "acme", id, c, &restore.Options{DryRun: true})
	require.NoError(t, err)
	require.Empty(t, c.calls)
}

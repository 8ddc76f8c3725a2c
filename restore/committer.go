package restore

import (
	"context"
	"errors"

	"github.com/iluxsys/steward/internal/errs"
)

// Committer is a Target that applies a restore's writes in one step of
// its own, after the restore has written everything — a database that
// loads the tables written to it in one transaction — and makes its own
// finer decisions (rows inserted, updated or kept by a merge), which it
// reports as Outcomes.
//
// A restore into a Committer calls Begin once, after planning (and after
// the safety backup) and before its first Create or Remove; then carries
// out the plan as for any Target; then calls Commit once. If anything
// fails before Commit, it calls Abort instead: the Committer must then
// leave the target as it was before Begin. Commit either applies
// everything or, failing, nothing. A dry run calls none of them.
type Committer interface {
	Target
	// Begin tells the target what the restore is about to do: p's Mode,
	// Modules and Decisions.
	Begin(ctx context.Context, p *Plan) error
	// Commit applies what was written since Begin and returns what it
	// did, per module.
	Commit(ctx context.Context) ([]Outcome, error)
	// Abort discards what was written since Begin.
	Abort(ctx context.Context) error
}

// Outcome is what a Committer did with one module (a table, for a
// database target), in units of its own (rows).
type Outcome struct {
	Module string `json:"module"`
	// Action says what was done: "replaced" (the module's content
	// deleted and loaded again), "merged", "cleared" (removed).
	Action   string `json:"action"`
	Inserted int64  `json:"inserted"`
	Updated  int64  `json:"updated"`
	Kept     int64  `json:"kept"`
	Deleted  int64  `json:"deleted"`
	Reason   string `json:"reason,omitempty"`
}

// executeIn carries out p in dst (see execute), inside dst's Begin and
// Commit when dst is a Committer; its Outcomes go into rep.Outcomes. A
// failed Commit changed nothing: rep's decisions and counts are cleared.
func (r *Restorer) executeIn(ctx context.Context, tenant string, dst Target, p *Plan, o *Options, rep *Report) error {
	c, ok := dst.(Committer)
	if !ok {
		return r.execute(ctx, tenant, dst, p, o, rep)
	}
	if err := c.Begin(ctx, p); err != nil {
		return errs.Errorf("restore", "begin: %w", err)
	}
	if err := r.execute(ctx, tenant, dst, p, o, rep); err != nil {
		return errors.Join(err, c.Abort(context.WithoutCancel(ctx)))
	}
	out, err := c.Commit(ctx)
	if err != nil {
		rep.Decisions, rep.Counts = nil, Counts{}
		return err
	}
	rep.Outcomes = out
	return nil
}

package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// TenantStatus counts one tenant's fleet jobs of every kind by state, as
// River keeps them (finished jobs for a week).
type TenantStatus struct {
	Tenant string `json:"tenant"`
	// Queued: available, scheduled, pending or retryable (waiting for a
	// retry after a failed attempt).
	Queued int `json:"queued"`
	// Running: taken by a member and not finished.
	Running int `json:"running"`
	// Failed: discarded (the retry budget spent) or cancelled (a drill
	// that failed, a policy that keeps nothing).
	Failed int `json:"failed"`
	// Completed: finished without error.
	Completed int `json:"completed"`
	// LastError is the newest attempt error of the tenant's newest failed
	// or retrying job, "" when none.
	LastError string `json:"last_error,omitempty"`
}

// Status lists every tenant with fleet jobs in pool's database (River's
// tables in schema, "" = search_path), sorted by tenant. It needs no
// running member and changes nothing.
func Status(ctx context.Context, pool *pgxpool.Pool, schema string) ([]TenantStatus, error) {
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: schema})
	if err != nil {
		return nil, fmt.Errorf("fleet: status: %w", err)
	}
	byTenant := map[string]*TenantStatus{}
	params := river.NewJobListParams().Kinds(KindBackup, KindRetention, KindDrill).First(1000)
	for {
		res, err := client.JobList(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("fleet: status: list jobs: %w", err)
		}
		for _, j := range res.Jobs {
			count(byTenant, j)
		}
		if len(res.Jobs) < 1000 {
			break
		}
		params = params.After(res.LastCursor)
	}
	out := make([]TenantStatus, 0, len(byTenant))
	for _, s := range byTenant {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tenant < out[j].Tenant })
	return out, nil
}

func count(byTenant map[string]*TenantStatus, j *rivertype.JobRow) {
	var a struct {
		Tenant string `json:"tenant"`
	}
	_ = json.Unmarshal(j.EncodedArgs, &a)
	s := byTenant[a.Tenant]
	if s == nil {
		s = &TenantStatus{Tenant: a.Tenant}
		byTenant[a.Tenant] = s
	}
	switch j.State {
	case rivertype.JobStateRunning:
		s.Running++
	case rivertype.JobStateCompleted:
		s.Completed++
	case rivertype.JobStateDiscarded, rivertype.JobStateCancelled:
		s.Failed++
	default:
		s.Queued++
	}
	if n := len(j.Errors); n > 0 && j.State != rivertype.JobStateCompleted {
		s.LastError = j.Errors[n-1].Error
	}
}

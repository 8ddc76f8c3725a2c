package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
)

// restoreRequest is what the wizard collects: the same fields travel in
// the plan's query and in the confirmation form.
type restoreRequest struct {
	Tenant, Snapshot string
	Mode             restore.Mode
	Modules          []string
	Paths            []string // files and directories ticked in the file browser
	AllowDelete      bool
}

// parseRestoreRequest reads a restoreRequest from a query or a form.
func parseRestoreRequest(v url.Values) (restoreRequest, error) {
	q := restoreRequest{Tenant: v.Get("tenant"), Snapshot: v.Get("snapshot"), Mode: restore.Mode(v.Get("mode")),
		Modules: v["module"], Paths: v["path"], AllowDelete: v.Get("allow_delete") == "on"}
	switch {
	case q.Tenant == "" || q.Snapshot == "":
		return q, fmt.Errorf("console: choose a tenant and a snapshot first")
	case q.Mode != restore.Full && q.Mode != restore.Selective && q.Mode != restore.Merge:
		return q, fmt.Errorf("console: restore mode %q is not one of full, selective and merge", q.Mode)
	case q.Mode == restore.Selective && len(q.Modules) == 0 && len(q.Paths) == 0:
		return q, fmt.Errorf("console: a selective restore needs at least one module, or files ticked in the file browser")
	}
	if q.Mode != restore.Selective {
		q.Modules, q.Paths = nil, nil
	}
	return q, nil
}

// options are the restore's options; the wizard always validates and
// always takes a safety backup of the target first.
func (q restoreRequest) options(dryRun bool) *restore.Options {
	return &restore.Options{Mode: q.Mode, Modules: q.Modules, Paths: q.Paths, AllowDelete: q.AllowDelete,
		DryRun: dryRun, Validate: !dryRun, SafetyBackup: !dryRun}
}

// restoreData is the wizard's page data; Step says which step shows.
type restoreData struct {
	Step      string // tenant, snapshot, options, plan, running, report
	Tenants   []string
	Snapshots []backup.Snapshot
	Snapshot  *backup.Snapshot
	Modules   []string
	Request   restoreRequest
	Report    *restore.Report
	Job       *jobState // the restore started, on its job page
	Error     string
}

// restoreReady reports whether the wizard can run, rendering the page
// that says what is missing when not.
func (c *console) restoreReady(w http.ResponseWriter, r *http.Request) bool {
	if c.cfg.Engine == nil || c.cfg.Restorer == nil || c.cfg.Target == nil {
		c.notConfigured(w, r, "restore", "Restoring (the engine, the Restorer and a Target)")
		return false
	}
	return true
}

// restoreWizard shows the first three steps: the tenant, the snapshot,
// then the mode and modules.
func (c *console) restoreWizard(w http.ResponseWriter, r *http.Request) {
	if !c.restoreReady(w, r) {
		return
	}
	ctx, q := r.Context(), r.URL.Query()
	d := restoreData{Request: restoreRequest{Tenant: q.Get("tenant"), Snapshot: q.Get("snapshot")}}
	var err error
	switch {
	case d.Request.Tenant == "":
		d.Step = "tenant"
		d.Tenants, err = c.tenants(ctx, steward.ActionRestore)
	case d.Request.Snapshot == "":
		d.Step = "snapshot"
		d.Snapshots, err = c.restorableSnapshots(ctx, d.Request.Tenant)
	default:
		d.Step = "options"
		d.Snapshot, d.Modules, err = c.snapshotModules(ctx, d.Request.Tenant, d.Request.Snapshot)
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "restore", "", page{Title: "Restore", Nav: "restore", Data: d})
}

// restorableSnapshots lists tenant's snapshots once the principal is
// allowed to restore it.
func (c *console) restorableSnapshots(ctx context.Context, tenant string) ([]backup.Snapshot, error) {
	if err := c.authorize(ctx, steward.ActionRestore, tenant); err != nil {
		return nil, err
	}
	return c.catalog(ctx, tenant)
}

// snapshotModules returns a snapshot and its module names.
func (c *console) snapshotModules(ctx context.Context, tenant, id string) (*backup.Snapshot, []string, error) {
	if err := c.authorize(ctx, steward.ActionRestore, tenant); err != nil {
		return nil, nil, err
	}
	s, err := c.cfg.Engine.Snapshot(ctx, tenant, id)
	if err != nil {
		return nil, nil, err
	}
	var mods []string
	for m := range s.Checksums {
		if m != "manifest" {
			mods = append(mods, m)
		}
	}
	slices.Sort(mods)
	return s, mods, nil
}

// restorePlan is the dry run: it shows what the restore would do, and the
// form that confirms it by the tenant's ID.
func (c *console) restorePlan(w http.ResponseWriter, r *http.Request) {
	if !c.restoreReady(w, r) {
		return
	}
	q, err := parseRestoreRequest(r.URL.Query())
	if err != nil {
		c.badRequest(w, r, err.Error())
		return
	}
	rep, err := c.runRestore(r.Context(), q, true, nil)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if rep.SnapshotID != "" {
		// Confirm the snapshot planned, not whatever "latest" names by then.
		q.Snapshot = rep.SnapshotID
	}
	d := restoreData{Step: "plan", Request: q, Report: rep}
	c.render(w, r, http.StatusOK, "restore", "", page{Title: "Restore: plan", Nav: "restore", Data: d})
}

// restoreRun starts the restore once the user typed the tenant's ID and
// sends the browser to its job page, which shows progress while it runs
// and the report, with the safety backup taken first, once it ends.
func (c *console) restoreRun(w http.ResponseWriter, r *http.Request) {
	if !c.restoreReady(w, r) {
		return
	}
	q, err := parseRestoreRequest(r.PostForm)
	if err != nil {
		c.badRequest(w, r, err.Error())
		return
	}
	if r.PostFormValue("confirm") != q.Tenant {
		c.badRequest(w, r, fmt.Sprintf("console: nothing was restored: type the tenant ID %q to confirm the restore", q.Tenant))
		return
	}
	if err := c.authorize(r.Context(), steward.ActionRestore, q.Tenant); err != nil {
		c.fail(w, r, err)
		return
	}
	j := c.jobs.start(r.Context(), principal(r.Context()).ID, q, c.cfg.Clock.Now(),
		func(ctx context.Context, progress func(backup.Progress)) (*restore.Report, error) {
			return c.runRestore(ctx, q, false, progress)
		})
	http.Redirect(w, r, c.cfg.BasePath+"/restore/jobs/"+j.ID, http.StatusSeeOther)
}

// restoreJob shows a restore started here: its progress while it runs
// (htmx polls the page; without JavaScript it refreshes itself), then its
// report. Only the principal who started it sees it.
func (c *console) restoreJob(w http.ResponseWriter, r *http.Request) {
	j, ok := c.jobs.get(principal(r.Context()).ID, r.PathValue("id"))
	if !ok {
		c.fail(w, r, fmt.Errorf("console: no restore %q of yours: %w", r.PathValue("id"), errNotFound))
		return
	}
	s := j.state()
	d := restoreData{Step: "report", Request: s.Request, Job: &s, Report: s.Report}
	p := page{Title: "Restore: report", Nav: "restore", Data: d}
	if !s.Done {
		d.Step = "running"
		p.Title, p.Data, p.Refresh = "Restore: running", d, 2
	} else if s.Err != nil {
		d.Error = s.Err.Error()
		p.Data = d
	}
	c.render(w, r, http.StatusOK, "restore", "", p)
}

// runRestore runs q through the Restorer into the tenant's Target.
func (c *console) runRestore(ctx context.Context, q restoreRequest, dryRun bool, progress func(backup.Progress)) (*restore.Report, error) {
	if err := c.authorize(ctx, steward.ActionRestore, q.Tenant); err != nil {
		return nil, err
	}
	dst, err := c.cfg.Target(ctx, q.Tenant)
	if err != nil {
		return nil, fmt.Errorf("console: restore target of tenant %q: %w", q.Tenant, err)
	}
	opts := q.options(dryRun)
	opts.Progress = progress
	return c.cfg.Restorer.Restore(ctx, q.Tenant, q.Snapshot, dst, opts)
}

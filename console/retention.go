package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/retention"
)

// retentionData is the Retention page's data.
type retentionData struct {
	Tenants   []string
	Tenant    string
	Fields    []policyField // the policy previewed, as the form shows it
	Edited    bool          // the preview differs from the stored policy
	Error     string        // why the edited policy cannot be previewed
	Decisions []retention.Decision
	Keep      int
	Forget    int
}

// policyField is one editable count of a Policy.
type policyField struct {
	Name, Label string
	Value       int
}

// policyFields lists the counts the page edits, with pointers into p.
func policyFields(p *retention.Policy) []struct {
	name, label string
	v           *int
} {
	return []struct {
		name, label string
		v           *int
	}{
		{"keep_last", "Keep last", &p.KeepLast},
		{"keep_daily", "Keep daily", &p.KeepDaily},
		{"keep_weekly", "Keep weekly", &p.KeepWeekly},
		{"keep_monthly", "Keep monthly", &p.KeepMonthly},
		{"incremental_days", "Every snapshot younger than (days)", &p.IncrementalDays},
		{"weekly_full_count", "Weekly fulls", &p.WeeklyFullCount},
		{"monthly_full_count", "Monthly fulls", &p.MonthlyFullCount},
		{"pre_deploy_days", "Pre-deploy days", &p.PreDeployDays},
	}
}

// editPolicy applies the counts v sets to p and reports whether it set any.
func editPolicy(p *retention.Policy, v url.Values) (bool, error) {
	edited := false
	for _, f := range policyFields(p) {
		s := v.Get(f.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return edited, fmt.Errorf("console: %s %q is not a count (0 or more)", f.label, s)
		}
		edited = edited || *f.v != n
		*f.v = n
	}
	return edited, nil
}

// retentionPreview shows what a tenant's policy — the stored one, or the
// one the form edits — would keep and forget now, with the reasons. It
// changes nothing; saving is a separate POST.
func (c *console) retentionPreview(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Engine == nil || c.cfg.Policies == nil {
		c.notConfigured(w, r, "retention", "Retention (the engine and the Policies)")
		return
	}
	ctx := r.Context()
	d := retentionData{Tenant: r.URL.Query().Get("tenant")}
	var err error
	if d.Tenants, err = c.tenants(ctx, steward.ActionRetentionRead); err != nil {
		c.fail(w, r, err)
		return
	}
	if d.Tenant != "" {
		if err := c.plan(r, &d); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	c.render(w, r, http.StatusOK, "retention", "", page{Title: "Retention", Nav: "retention", Data: d})
}

// plan fills d with the tenant's policy, edited by the query, and its plan.
// An edit that cannot be planned is shown, not failed.
func (c *console) plan(r *http.Request, d *retentionData) error {
	ctx := r.Context()
	p, err := c.cfg.Policies.Get(ctx, d.Tenant)
	if err != nil {
		return err
	}
	snaps, err := c.cfg.Engine.Catalog(ctx, d.Tenant)
	if err != nil {
		return err
	}
	d.Edited, err = editPolicy(&p, r.URL.Query())
	for _, f := range policyFields(&p) {
		d.Fields = append(d.Fields, policyField{Name: f.name, Label: f.label, Value: *f.v})
	}
	if err == nil {
		d.Decisions, err = retention.Plan(snaps, p, c.cfg.Clock.Now())
	}
	if err != nil {
		d.Error = err.Error()
		return nil
	}
	for _, dec := range d.Decisions {
		if dec.Keep {
			d.Keep++
		} else {
			d.Forget++
		}
	}
	return nil
}

// retentionSave stores the tenant's policy with the counts of the form
// (those the preview showed) through Policies.Set, which authorizes,
// validates and audits it.
func (c *console) retentionSave(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Policies == nil {
		c.notConfigured(w, r, "retention", "Retention (the engine and the Policies)")
		return
	}
	ctx, tenant := r.Context(), r.PathValue("tenant")
	p, err := c.cfg.Policies.Get(ctx, tenant)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if _, err := editPolicy(&p, r.PostForm); err != nil {
		c.badRequest(w, r, err.Error())
		return
	}
	if err := c.cfg.Policies.Set(ctx, tenant, p); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, c.cfg.BasePath+"/retention?tenant="+url.QueryEscape(tenant), http.StatusSeeOther)
}

package console

import (
	"net/http"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/retention"
)

// retentionData is the Retention page's data.
type retentionData struct {
	Tenants   []string
	Tenant    string
	Policy    *retention.Policy
	Decisions []retention.Decision
	Keep      int
	Forget    int
}

// retentionPreview shows what a tenant's stored policy would keep and
// forget now, with the reasons; it changes nothing.
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

// plan fills d with the tenant's policy and its plan.
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
	if d.Decisions, err = retention.Plan(snaps, p, c.cfg.Clock.Now()); err != nil {
		return err
	}
	d.Policy = &p
	for _, dec := range d.Decisions {
		if dec.Keep {
			d.Keep++
		} else {
			d.Forget++
		}
	}
	return nil
}

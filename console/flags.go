package console

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/flags"
)

// flagData is the Flags page's data.
type flagData struct {
	Flags   []flags.Flag
	Tenants []string // for the playground
	Eval    *flagEval
}

// flagEval is the playground's answer.
type flagEval struct {
	Flag, Tenant string
	Enabled      bool
	Reason       flags.Reason
	Bucket       float64 // the tenant's bucket as a percentage
}

// flagsReady authorizes reading flags, rendering what is missing or
// refused when it may not.
func (c *console) flagsReady(w http.ResponseWriter, r *http.Request) bool {
	if c.cfg.Flags == nil {
		c.notConfigured(w, r, "flags", "The feature flag Set")
		return false
	}
	if err := c.authorize(r.Context(), steward.ActionFlagRead, ""); err != nil {
		c.fail(w, r, err)
		return false
	}
	return true
}

// flagList lists the flags with their toggle, rollout and targets, and the
// playground.
func (c *console) flagList(w http.ResponseWriter, r *http.Request) {
	if !c.flagsReady(w, r) {
		return
	}
	c.renderFlags(w, r, nil)
}

func (c *console) renderFlags(w http.ResponseWriter, r *http.Request, eval *flagEval) {
	d := flagData{Flags: c.cfg.Flags.List(), Eval: eval}
	if c.cfg.Engine != nil {
		d.Tenants, _ = c.tenants(r.Context(), steward.ActionBackupList)
	}
	c.render(w, r, http.StatusOK, "flags", "", page{Title: "Flags", Nav: "flags", Data: d})
}

// flagToggle turns a flag on or off: the form names the state wanted
// (enabled=true or false), so a form sent twice, or after another user's
// change, does not flip the flag back. htmx gets the flag's row back; a
// plain form post is redirected to the list.
func (c *console) flagToggle(w http.ResponseWriter, r *http.Request) {
	if !c.flagsReady(w, r) {
		return
	}
	name := r.PathValue("name")
	on, err := strconv.ParseBool(r.PostFormValue("enabled"))
	if err != nil {
		c.badRequest(w, r, fmt.Sprintf("console: enabled %q is not true or false", r.PostFormValue("enabled")))
		return
	}
	if _, ok := c.cfg.Flags.Get(name); !ok {
		c.fail(w, r, fmt.Errorf("console: flag %q: %w", name, flags.ErrNotFound))
		return
	}
	if err := c.cfg.Flags.Update(r.Context(), name, flags.Patch{Enabled: &on}); err != nil {
		c.fail(w, r, err)
		return
	}
	c.flagChanged(w, r, name)
}

// flagUpdate sets a flag's rollout percentage and target tenants.
func (c *console) flagUpdate(w http.ResponseWriter, r *http.Request) {
	if !c.flagsReady(w, r) {
		return
	}
	name := r.PathValue("name")
	pct, err := strconv.ParseFloat(r.PostFormValue("rollout"), 64)
	if err != nil || pct < 0 || pct > 100 {
		c.badRequest(w, r, fmt.Sprintf("console: rollout %q is not a percentage from 0 to 100", r.PostFormValue("rollout")))
		return
	}
	targets := splitList(r.PostFormValue("targets"))
	for _, t := range targets {
		if err := steward.ValidateTenant(t); err != nil {
			c.badRequest(w, r, err.Error())
			return
		}
	}
	if err := c.cfg.Flags.Update(r.Context(), name, flags.Patch{RolloutPercentage: &pct, TargetTenants: &targets}); err != nil {
		c.fail(w, r, err)
		return
	}
	c.flagChanged(w, r, name)
}

// flagChanged answers a successful change: the flag's row for htmx, a
// redirect to the list otherwise.
func (c *console) flagChanged(w http.ResponseWriter, r *http.Request, name string) {
	if !isHTMX(r) {
		http.Redirect(w, r, c.cfg.BasePath+"/flags", http.StatusSeeOther)
		return
	}
	f, _ := c.cfg.Flags.Get(name)
	c.render(w, r, http.StatusOK, "flags", "flag-row", page{Data: f})
}

// flagEvaluate is the playground: whether a flag is on for a tenant, and why.
func (c *console) flagEvaluate(w http.ResponseWriter, r *http.Request) {
	if !c.flagsReady(w, r) {
		return
	}
	q := r.URL.Query()
	e := &flagEval{Flag: q.Get("flag"), Tenant: q.Get("tenant")}
	if err := steward.ValidateTenant(e.Tenant); err != nil {
		c.badRequest(w, r, err.Error())
		return
	}
	e.Enabled, e.Reason = c.cfg.Flags.Evaluate(e.Flag, e.Tenant)
	e.Bucket = float64(flags.Bucket(e.Flag, e.Tenant)) * 100 / flags.Buckets
	if isHTMX(r) {
		c.render(w, r, http.StatusOK, "flags", "flag-eval", page{Data: flagData{Eval: e}})
		return
	}
	c.renderFlags(w, r, e)
}

// splitList splits a comma- or space-separated list, dropping empties.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

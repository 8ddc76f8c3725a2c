package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/release"
)

// Audit events the console records, with the reason the user gave, before
// it asks the Manager to roll back or to deploy (the Manager's own events
// have no room for a reason).
const (
	// EventRollbackRequested: a user asked to roll a channel back to the
	// release in Data[audit.DataReleaseID], for Data["reason"].
	EventRollbackRequested audit.EventType = "console.rollback_requested"
	// EventDeployRequested: a user asked to deploy the release in
	// Data[audit.DataReleaseID], for Data["reason"].
	EventDeployRequested audit.EventType = "console.deploy_requested"
)

// maxReason bounds a rollback's reason.
const maxReason = 1000

// channelView is one channel's timeline.
type channelView struct {
	Name        string
	Active      *release.Release
	Releases    []releaseRow         // newest first
	Deployments []release.Deployment // newest first
	Reasons     map[string]string    // deployment ID -> the reason given in the console
}

// releaseRow is a release of the timeline and what can be done with it:
// "deploy" (newer than the active release, or none is active), "rollback"
// (older) or "" (the active one).
type releaseRow struct {
	release.Release
	Action string
}

// releaseAction says what a release is to the channel's active one.
func releaseAction(r, active *release.Release) string {
	if active == nil {
		return "deploy"
	}
	v, err1 := release.ParseVersion(r.Version)
	a, err2 := release.ParseVersion(active.Version)
	switch {
	case err1 != nil || err2 != nil || r.ID == active.ID:
		return ""
	case v.GreaterThan(a):
		return "deploy"
	}
	return "rollback"
}

// releaseData is the Releases page's data.
type releaseData struct {
	Channels []channelView
	Done     *release.Deployment // the rollback just carried out
}

// releases shows each channel's releases and deployments, newest first,
// with a rollback form for every release older than the active one.
func (c *console) releases(w http.ResponseWriter, r *http.Request) {
	c.renderReleases(w, r, http.StatusOK, nil)
}

func (c *console) renderReleases(w http.ResponseWriter, r *http.Request, status int, done *release.Deployment) {
	if c.cfg.Releases == nil {
		c.notConfigured(w, r, "releases", "The release Manager")
		return
	}
	chans, err := c.channels(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, status, "releases", "", page{Title: "Releases", Nav: "releases", Data: releaseData{Channels: chans, Done: done}})
}

// channels builds the timeline of every channel.
func (c *console) channels(ctx context.Context) ([]channelView, error) {
	deps, err := c.cfg.Releases.Deployments(ctx, 0)
	if err != nil {
		return nil, err
	}
	names := c.cfg.Channels
	if names == nil {
		for _, d := range deps {
			if !slices.Contains(names, d.Channel) {
				names = append(names, d.Channel)
			}
		}
		slices.Sort(names)
	}
	reasons := c.reasons(ctx, deps)
	out := make([]channelView, 0, len(names))
	for _, n := range names {
		v, err := c.channel(ctx, n, deps)
		if err != nil {
			return nil, err
		}
		v.Reasons = reasons
		out = append(out, v)
	}
	return out, nil
}

// reasons pairs each deployment with the reason a user gave in the
// console: the newest request of the same kind, release and principal
// recorded before it started. None without a log or the right to read it.
func (c *console) reasons(ctx context.Context, deps []release.Deployment) map[string]string {
	out := map[string]string{}
	if c.cfg.Log == nil || !c.allowed(ctx, steward.ActionAuditRead, "") {
		return out
	}
	evs, err := c.typedEvents(ctx, EventRollbackRequested, EventDeployRequested)
	if err != nil {
		return out
	}
	for _, d := range deps {
		typ := EventDeployRequested
		if d.Kind == "rollback" {
			typ = EventRollbackRequested
		}
		for _, e := range slices.Backward(evs) {
			if e.Type == typ && e.UserID == d.By && e.Data[audit.DataReleaseID] == d.ReleaseID && !e.Timestamp.After(d.StartedAt) {
				out[d.ID] = summary(e.Data["reason"])
				break
			}
		}
	}
	return out
}

// channel builds one channel's timeline from its history and deps.
func (c *console) channel(ctx context.Context, name string, deps []release.Deployment) (channelView, error) {
	v := channelView{Name: name}
	hist, err := c.cfg.Releases.History(ctx, name)
	if err != nil {
		return v, err
	}
	if v.Active, err = c.cfg.Releases.Active(ctx, name); err != nil && !errors.Is(err, release.ErrNotFound) {
		return v, err
	}
	for _, r := range slices.Backward(hist) {
		v.Releases = append(v.Releases, releaseRow{Release: r, Action: releaseAction(&r, v.Active)})
	}
	for _, d := range deps {
		if d.Channel == name {
			v.Deployments = append(v.Deployments, d)
		}
	}
	slices.SortStableFunc(v.Deployments, func(a, b release.Deployment) int { return b.StartedAt.Compare(a.StartedAt) })
	return v, nil
}

// rollback takes a channel back to the release named in the form, once
// the user gave a reason; the reason is audited first.
func (c *console) rollback(w http.ResponseWriter, r *http.Request) {
	c.change(w, r, steward.ActionReleaseRollback, EventRollbackRequested, func(ctx context.Context, id string) (*release.Deployment, error) {
		return c.cfg.Releases.Rollback(ctx, id, nil)
	})
}

// deploy deploys the release named in the form, once the user gave a
// reason; the reason is audited first.
func (c *console) deploy(w http.ResponseWriter, r *http.Request) {
	c.change(w, r, steward.ActionReleaseDeploy, EventDeployRequested, func(ctx context.Context, id string) (*release.Deployment, error) {
		return c.cfg.Releases.Deploy(ctx, id, nil)
	})
}

// change runs a deploy or a rollback for the form's release and reason.
func (c *console) change(w http.ResponseWriter, r *http.Request, action steward.Action, typ audit.EventType,
	run func(ctx context.Context, id string) (*release.Deployment, error)) {
	if c.cfg.Releases == nil {
		c.notConfigured(w, r, "releases", "The release Manager")
		return
	}
	ctx := r.Context()
	target, reason := r.PostFormValue("release"), strings.TrimSpace(r.PostFormValue("reason"))
	if target == "" || reason == "" || len(reason) > maxReason {
		c.badRequest(w, r, fmt.Sprintf("console: nothing changed: name the release and give a reason (at most %d bytes)", maxReason))
		return
	}
	if err := c.authorize(ctx, action, ""); err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.recordReason(ctx, typ, target, reason); err != nil {
		c.fail(w, r, err)
		return
	}
	dep, err := run(ctx, target)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.renderReleases(w, r, http.StatusOK, dep)
}

// recordReason writes the reason of a deploy or rollback to the audit log,
// when there is one.
func (c *console) recordReason(ctx context.Context, typ audit.EventType, target, reason string) error {
	if c.cfg.Log == nil {
		return nil
	}
	verb := "rollback to"
	if typ == EventDeployRequested {
		verb = "deploy of"
	}
	err := c.cfg.Log.Record(ctx, audit.Event{Type: typ, UserID: principal(ctx).ID,
		Message: fmt.Sprintf("%s %s requested: %s", verb, target, reason),
		Data:    map[string]any{audit.DataReleaseID: target, "reason": reason}})
	if err != nil {
		return fmt.Errorf("console: recording the reason: %w", err)
	}
	return nil
}

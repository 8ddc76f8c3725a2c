package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/console"
	"github.com/iluxsys/steward/release"
)

// The wizard's plan writes nothing; a confirmation with the wrong tenant ID
// restores nothing; the right one restores the snapshot's bytes and reports
// the safety backup.
func TestRestoreWizardPlansConfirmsAndRestores(t *testing.T) {
	f := newFixture(t)
	snap := f.snaps["acme"][1].ID
	w := get(t, f.h, userAcme, "/restore/plan?tenant=acme&mode=full&snapshot="+snap)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), "4 files restored")
	require.Empty(t, treeOf(t, f.live), "the dry run wrote files")
	token := csrfRE.FindStringSubmatch(w.Body.String())[1]

	form := url.Values{"csrf": {token}, "tenant": {"acme"}, "snapshot": {snap}, "mode": {"full"}, "confirm": {"acme "}}
	w = post(t, f.h, userAcme, "/restore/run", form)
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, w.Body.String(), "nothing was restored")
	require.Empty(t, treeOf(t, f.live), "an unconfirmed restore wrote files")

	form.Set("confirm", "acme")
	body := restoreAndWait(t, f.h, userAcme, form)
	require.Contains(t, body, `data-testid="validated">yes`)
	require.Equal(t, f.files["acme"], treeOf(t, f.live+"/acme"))

	// A second restore, of the older snapshot, into the now non-empty
	// target takes a safety backup first, which the restore permission
	// covers: the tenant's admin restores over existing data.
	before := treeOf(t, f.live+"/acme")
	form.Set("snapshot", f.snaps["acme"][0].ID)
	body = restoreAndWait(t, f.h, userAcme, form)
	require.NotContains(t, body, `data-testid="restore-error"`)
	m := regexp.MustCompile(`data-testid="safety-backup"><a href="/snapshots/acme/([^"]+)"`).FindStringSubmatch(body)
	require.NotNil(t, m, "no safety backup in the report: %s", body)
	s, err := f.engine.Snapshot(masterCtx(), "acme", m[1])
	require.NoError(t, err)
	require.Contains(t, s.Tags, "pre-restore")
	require.Contains(t, treeOf(t, f.live+"/acme"), "users/bob.json", "the older snapshot is restored")
	w = get(t, f.h, userAcme, "/snapshots/acme/"+m[1]+"/download?path=users/carol.json")
	require.Equal(t, http.StatusOK, w.Code, "the tenant's admin opens its safety backup")
	require.Equal(t, before["users/carol.json"], w.Body.Bytes(), "the safety backup holds the data restored over")
}

func TestSelectiveRestoreNeedsModules(t *testing.T) {
	f := newFixture(t)
	snap := f.snaps["acme"][1].ID
	w := get(t, f.h, userMaster, "/restore/plan?tenant=acme&mode=selective&snapshot="+snap)
	require.Equal(t, http.StatusBadRequest, w.Code)
	w = get(t, f.h, userMaster, "/restore/plan?tenant=acme&mode=selective&module=users&snapshot="+snap)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), "2 files restored")
	require.NotContains(t, w.Body.String(), "logo.png", "the plan holds only the users module")
}

// Toggle, rollout and targets go through the Set; the playground answers
// as Enabled does.
func TestFlagsToggleRolloutAndPlayground(t *testing.T) {
	f := newFixture(t)
	token := csrfToken(t, f.h, userMaster, "/flags")
	w := post(t, f.h, userMaster, "/flags/new-ui/toggle", url.Values{"csrf": {token}, "enabled": {"true"}})
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	require.False(t, f.flags.Enabled("new-ui", "acme"), "on at 0 %% with no target")
	w = post(t, f.h, userMaster, "/flags/new-ui/toggle", url.Values{"csrf": {token}, "enabled": {"true"}})
	require.Equal(t, http.StatusSeeOther, w.Code, "the same form sent twice")
	fl, _ := f.flags.Get("new-ui")
	require.True(t, fl.Enabled, "a form sent twice does not flip the flag back")

	w = post(t, f.h, userMaster, "/flags/new-ui", url.Values{"csrf": {token}, "rollout": {"0"}, "targets": {"acme"}})
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	require.True(t, f.flags.Enabled("new-ui", "acme"))
	require.False(t, f.flags.Enabled("new-ui", "globex"))

	w = get(t, f.h, userMaster, "/flags/evaluate?flag=new-ui&tenant=acme")
	require.Contains(t, w.Body.String(), "<strong>on</strong> for acme: target")
	w = get(t, f.h, userMaster, "/flags/evaluate?flag=new-ui&tenant=globex")
	require.Contains(t, w.Body.String(), "<strong>off</strong> for globex: outside")

	w = post(t, f.h, userMaster, "/flags/new-ui", url.Values{"csrf": {token}, "rollout": {"100"}, "targets": {""}})
	require.Equal(t, http.StatusSeeOther, w.Code)
	require.True(t, f.flags.Enabled("new-ui", "globex"))
	fl, _ = f.flags.Get("new-ui")
	require.Equal(t, "ops", fl.UpdatedBy, "the change is the principal's")

	for _, bad := range []string{"101", "-1", "x"} {
		w = post(t, f.h, userMaster, "/flags/new-ui", url.Values{"csrf": {token}, "rollout": {bad}})
		require.Equal(t, http.StatusBadRequest, w.Code, bad)
	}
	w = post(t, f.h, userMaster, "/flags/new-ui", url.Values{"csrf": {token}, "rollout": {"5"}, "targets": {"Not/A/Tenant"}})
	require.Equal(t, http.StatusBadRequest, w.Code)
	after, _ := f.flags.Get("new-ui")
	require.Equal(t, fl.Version, after.Version, "refused input changed the flag")

	w = get(t, f.h, userMaster, "/flags/new-ui/history")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, 5, strings.Count(w.Body.String(), "<tr class="), "created, toggled, toggled again, targeted, rolled out: %s", w.Body.String())
	require.Contains(t, w.Body.String(), "ops")
}

// A rollback needs a reason; the reason is audited and the Manager rolls
// the channel back.
func TestRollbackAndDeployNeedAReasonAndAuditIt(t *testing.T) {
	f := newFixture(t)
	token := csrfToken(t, f.h, userMaster, "/releases")
	w := post(t, f.h, userMaster, "/releases/rollback", url.Values{"csrf": {token}, "release": {"prod-1.0.0"}, "reason": {"  "}})
	require.Equal(t, http.StatusBadRequest, w.Code)
	active, err := f.releases.Active(masterCtx(), "prod")
	require.NoError(t, err)
	require.Equal(t, "1.1.0", active.Version)

	w = post(t, f.h, userMaster, "/releases/rollback", url.Values{"csrf": {token}, "release": {"prod-1.0.0"}, "reason": {"checkout broken"}})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), `data-testid="rollback-done"`)
	active, err = f.releases.Active(masterCtx(), "prod")
	require.NoError(t, err)
	require.Equal(t, "1.0.0", active.Version)
	evs, err := f.log.Query(masterCtx(), audit.Filter{Types: []audit.EventType{console.EventRollbackRequested}})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "checkout broken", evs[0].Data["reason"])
	require.Equal(t, "ops", evs[0].UserID)

	// 1.1.0 is now newer than the active release: it can be deployed again.
	w = get(t, f.h, userMaster, "/releases")
	require.Contains(t, w.Body.String(), `data-testid="deploy-prod-1.1.0"`)
	require.NotContains(t, w.Body.String(), `data-testid="rollback-prod-1.0.0"`, "the active release has no action")
	w = post(t, f.h, userMaster, "/releases/deploy", url.Values{"csrf": {token}, "release": {"prod-1.1.0"}})
	require.Equal(t, http.StatusBadRequest, w.Code, "a deploy needs a reason too")
	w = post(t, f.h, userMaster, "/releases/deploy", url.Values{"csrf": {token}, "release": {"prod-1.1.0"}, "reason": {"fixed"}})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), `data-testid="deploy-done"`)
	active, err = f.releases.Active(masterCtx(), "prod")
	require.NoError(t, err)
	require.Equal(t, "1.1.0", active.Version)
	evs, err = f.log.Query(masterCtx(), audit.Filter{Types: []audit.EventType{console.EventDeployRequested}})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "fixed", evs[0].Data["reason"])

	// The timeline shows each deployment with the reason given for it.
	deps, err := f.releases.Deployments(masterCtx(), 0)
	require.NoError(t, err)
	body := get(t, f.h, userMaster, "/releases").Body.String()
	for _, d := range deps {
		m := regexp.MustCompile(`data-testid="reason-of-` + regexp.QuoteMeta(d.ID) + `">([^<]*)<`).FindStringSubmatch(body)
		require.NotNil(t, m, "deployment %s is not listed", d.ID)
		want := map[string]string{"prod-1.0.0/rollback": "checkout broken", "prod-1.1.0/deploy": ""}[d.ReleaseID+"/"+d.Kind]
		if d.Kind == "deploy" && d.FromReleaseID == "prod-1.0.0" && d.By == "ops" {
			want = "fixed"
		}
		require.Equal(t, want, m[1], "the reason of %s %s by %s", d.Kind, d.ReleaseID, d.By)
	}
}

// A restore's job page is its starter's alone.
func TestRestoreJobIsThePrincipals(t *testing.T) {
	f := newFixture(t)
	token := csrfToken(t, f.h, userAcme, "/restore/plan?tenant=acme&mode=full&snapshot="+f.snaps["acme"][1].ID)
	form := url.Values{"csrf": {token}, "tenant": {"acme"}, "snapshot": {f.snaps["acme"][1].ID}, "mode": {"full"}, "confirm": {"acme"}}
	w := post(t, f.h, userAcme, "/restore/run", form)
	require.Equal(t, http.StatusSeeOther, w.Code)
	loc := w.Header().Get("Location")
	restoreAndWaitAt(t, f.h, userAcme, loc)
	require.Equal(t, http.StatusNotFound, get(t, f.h, userMaster, loc).Code, "another principal's restore")
	require.Equal(t, http.StatusNotFound, get(t, f.h, userAcme, "/restore/jobs/nope").Code)
}

// While a restore runs, its page shows progress and names its event
// stream (for the script) or refreshes itself (without JavaScript); then
// it shows the report.
func TestRestoreJobShowsProgressWhileRunning(t *testing.T) {
	f := newFixture(t)
	h, gate := f.gated(t)
	token := csrfToken(t, h, userMaster, "/flags")
	w := post(t, h, userMaster, "/restore/run", url.Values{"csrf": {token}, "tenant": {"acme"},
		"snapshot": {f.snaps["acme"][1].ID}, "mode": {"full"}, "confirm": {"acme"}})
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	loc := w.Header().Get("Location")

	w = get(t, h, userMaster, loc)
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	require.Contains(t, body, `data-testid="restore-running"`)
	require.Contains(t, body, `data-events="`+loc+`/events"`)
	require.Regexp(t, `data-testid="restore-progress">0 of [04] files`, body)
	require.Contains(t, body, `<meta http-equiv="refresh" content="2">`)
	require.Contains(t, body, `<progress max="100"`)

	close(gate)
	body = restoreAndWaitAt(t, h, userMaster, loc)
	require.Contains(t, body, `data-testid="report"`)
	require.NotContains(t, body, `http-equiv="refresh"`, "a finished restore's page stays")
	require.Equal(t, f.files["acme"], treeOf(t, f.live+"/acme"))
}

// A plan of "latest" is confirmed by the snapshot ID it planned, so a
// backup taken meanwhile is not what gets restored.
func TestRestorePlanPinsLatest(t *testing.T) {
	f := newFixture(t)
	w := get(t, f.h, userMaster, "/restore/plan?tenant=acme&mode=full&snapshot=latest")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), `name="snapshot" value="`+f.snaps["acme"][1].ID+`"`)
	require.NotContains(t, w.Body.String(), `value="latest"`)
}

// The release diff names what moving from one release to another changes:
// the files, the migrations and the SBOM's components.
func TestReleaseDiff(t *testing.T) {
	f := newFixture(t)
	_, err := f.releases.Create(masterCtx(), release.Spec{Channel: "prod", Version: "1.2.0",
		Artifact:   backup.FSSource(fstest.MapFS{"app.js": {Data: []byte("v1.2.0")}}),
		Forward:    []release.Migration{{ID: "003", SQL: "CREATE TABLE notes (body TEXT)", Description: "notes"}},
		Backward:   []release.Migration{{ID: "003", SQL: "DROP TABLE notes"}},
		Components: []release.Component{{Name: "chart-lib", Version: "4.1.0"}}})
	require.NoError(t, err)
	w := get(t, f.h, userMaster, "/releases")
	require.Contains(t, w.Body.String(), `data-testid="deploy-prod-1.2.0"`)
	require.Contains(t, w.Body.String(), `href="/releases/diff?a=prod-1.1.0&amp;b=prod-1.2.0"`)

	w = get(t, f.h, userMaster, "/releases/diff?a=prod-1.1.0&b=prod-1.2.0")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	body := w.Body.String()
	require.Contains(t, body, "different files")
	require.Regexp(t, `<code>003</code></td><td>1.2.0</td><td>notes</td>`, body)
	require.Regexp(t, `data-testid="component-chart-lib"><td>chart-lib</td><td>—</td><td>4.1.0</td>`, body)
	require.Equal(t, http.StatusNotFound, get(t, f.h, userMaster, "/releases/diff?a=prod-1.1.0&b=prod-9.9.9").Code)
	require.Equal(t, http.StatusForbidden, get(t, f.h, userAcme, "/releases/diff?a=prod-1.1.0&b=prod-1.2.0").Code)
}

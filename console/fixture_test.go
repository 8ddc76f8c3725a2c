package console_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/console"
	"github.com/iluxsys/steward/flags"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/retention"
	"github.com/iluxsys/steward/storage"
)

// Principals the fixture's Authenticate knows, by the X-Test-User header.
const (
	userMaster = "master"
	userAcme   = "acme" // tenant-scoped to acme
)

var recordKey = []byte("console-test-record-key-32-bytes")

// fixture is a console over an in-memory store holding two tenants with
// two snapshots each, a flag and two releases of channel prod (1.1.0
// active).
type fixture struct {
	h        http.Handler
	cfg      *console.Config
	store    storage.Store
	engine   *backup.Engine
	log      *audit.Log
	flags    *flags.Set
	releases *release.Manager
	live     string                        // the restore targets: live/<tenant>
	files    map[string]map[string][]byte  // tenant -> path -> content of the newest snapshot
	snaps    map[string][]*backup.Snapshot // tenant -> [full, incremental]
}

// masterCtx is a context of the master principal, for seeding and checks.
func masterCtx() context.Context {
	return steward.WithPrincipal(context.Background(), steward.Principal{ID: "seed", Roles: []string{steward.RoleMaster}})
}

// authenticate maps the X-Test-User header to a principal.
func authenticate(r *http.Request) (steward.Principal, error) {
	switch r.Header.Get("X-Test-User") {
	case userMaster:
		return steward.Principal{ID: "ops", Roles: []string{steward.RoleMaster}}, nil
	case userAcme:
		return steward.Principal{ID: "acme-admin", Tenants: []string{"acme"}}, nil
	}
	return steward.Principal{}, errors.New("no such user")
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureOn(t, storage.NewMemory())
}

// newFixtureOn is newFixture over store.
func newFixtureOn(t testing.TB, store storage.Store) *fixture {
	t.Helper()
	ctx := masterCtx()
	authz := steward.TenantScoped()
	log, err := audit.NewLog(ctx, store, &audit.LogConfig{RecordKey: recordKey, Authorizer: authz})
	require.NoError(t, err)
	engine, err := backup.New(store, &backup.Config{Auditor: log, Authorizer: authz})
	require.NoError(t, err)
	f := &fixture{engine: engine, log: log, store: store, live: t.TempDir(),
		files: map[string]map[string][]byte{}, snaps: map[string][]*backup.Snapshot{}}
	for _, tenant := range []string{"acme", "globex"} {
		f.seedTenant(t, tenant)
	}
	f.flags, err = flags.New(ctx, store, &flags.Config{Auditor: log, Authorizer: authz, RecordKey: recordKey})
	require.NoError(t, err)
	require.NoError(t, f.flags.Set(ctx, "new-ui", false, flags.Options{Description: "the new UI"}))
	f.releases = seedReleases(t, store, engine, log, authz)
	f.cfg = &console.Config{
		Authenticate: authenticate, Authorizer: authz, Engine: engine, Log: log, Flags: f.flags,
		Releases: f.releases, Restorer: restore.New(engine, &restore.Config{Auditor: log, Authorizer: authz}),
		Target: func(_ context.Context, tenant string) (restore.Target, error) {
			return restore.DirTarget(filepath.Join(f.live, tenant)), nil
		},
		Policies: retention.NewPolicies(store, &retention.Config{Auditor: log, Authorizer: authz}),
	}
	f.h, err = console.New(f.cfg)
	require.NoError(t, err)
	return f
}

// seedTenant backs up a generated tree twice: a full snapshot, then an
// incremental one tagged nightly after changing, adding and removing a file.
func (f *fixture) seedTenant(t testing.TB, tenant string) {
	t.Helper()
	logo := make([]byte, 300<<10)
	_, _ = rand.Read(logo)
	files := map[string][]byte{
		"users/alice.json": []byte(`{"name":"alice","tenant":"` + tenant + `"}`),
		"users/bob.json":   []byte(`{"name":"bob"}`),
		"assets/logo.png":  logo,
		"config/app.yaml":  []byte("theme: dark\n"),
	}
	full := f.backup(t, tenant, files, backup.Full, nil)
	delete(files, "users/bob.json")
	files["users/carol.json"] = []byte(`{"name":"carol"}`)
	files["config/app.yaml"] = []byte("theme: light\nlang: en\n")
	incr := f.backup(t, tenant, files, backup.Incremental, []string{"nightly"})
	f.files[tenant], f.snaps[tenant] = files, []*backup.Snapshot{full, incr}
}

func (f *fixture) backup(t testing.TB, tenant string, files map[string][]byte, typ backup.Type, tags []string) *backup.Snapshot {
	t.Helper()
	fsys := fstest.MapFS{}
	for p, b := range files {
		fsys[p] = &fstest.MapFile{Data: b, Mode: 0o644}
	}
	s, err := f.engine.Backup(masterCtx(), tenant, backup.FSSource(fsys), &backup.Options{Type: typ, Tags: tags})
	require.NoError(t, err)
	return s
}

// seedReleases creates prod 1.0.0 and 1.1.0 and deploys both.
func seedReleases(t testing.TB, store storage.Store, e *backup.Engine, log *audit.Log, authz steward.Authorizer) *release.Manager {
	t.Helper()
	ctx := masterCtx()
	m, err := release.NewManager(store, &release.Config{Engine: e, Auditor: log, Authorizer: authz, RecordKey: recordKey})
	require.NoError(t, err)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		r, err := m.Create(ctx, release.Spec{Channel: "prod", Version: v, Changelog: "release " + v,
			Artifact: backup.FSSource(fstest.MapFS{"app.js": {Data: []byte("v" + v)}})})
		require.NoError(t, err)
		_, err = m.Deploy(ctx, r.ID, nil)
		require.NoError(t, err)
	}
	return m
}

// do sends a request as user (none when "") and returns the recorded response.
func do(t testing.TB, h http.Handler, user, method, target string, form url.Values, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range header {
		r.Header[k] = vs
	}
	if user != "" {
		r.Header.Set("X-Test-User", user)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func get(t testing.TB, h http.Handler, user, target string) *httptest.ResponseRecorder {
	t.Helper()
	return do(t, h, user, http.MethodGet, target, nil, nil)
}

func post(t testing.TB, h http.Handler, user, target string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	return do(t, h, user, http.MethodPost, target, form, nil)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfToken reads user's CSRF token from a page that has a form.
func csrfToken(t testing.TB, h http.Handler, user, pagePath string) string {
	t.Helper()
	w := get(t, h, user, pagePath)
	require.Equal(t, http.StatusOK, w.Code, "GET %s: %s", pagePath, w.Body.String())
	m := csrfRE.FindStringSubmatch(w.Body.String())
	require.NotNil(t, m, "no CSRF token on %s", pagePath)
	return m[1]
}

// treeOf reads every regular file under root, by slash path.
func treeOf(t testing.TB, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) && p == root {
			return filepath.SkipDir
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	require.NoError(t, err)
	return out
}

// restoreAndWait posts the wizard's confirmation as user, follows the
// redirect to the restore's job page and polls it until the restore ends;
// it returns that page.
func restoreAndWait(t testing.TB, h http.Handler, user string, form url.Values) string {
	t.Helper()
	w := post(t, h, user, "/restore/run", form)
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	return restoreAndWaitAt(t, h, user, w.Header().Get("Location"))
}

// restoreAndWaitAt polls the job page loc until the restore ends.
func restoreAndWaitAt(t testing.TB, h http.Handler, user, loc string) string {
	t.Helper()
	require.True(t, strings.HasPrefix(loc, "/restore/jobs/"), loc)
	var body string
	require.Eventually(t, func() bool {
		w := get(t, h, user, loc)
		body = w.Body.String()
		return w.Code == http.StatusOK && !strings.Contains(body, `data-testid="restore-running"`)
	}, 30*time.Second, 20*time.Millisecond, "the restore did not end: %s", body)
	return body
}

// gatedTarget is a DirTarget whose Create of a regular file waits for a
// token on gate: a test holds a restore mid-way and watches its progress.
type gatedTarget struct {
	restore.Target
	gate chan struct{}
	stop chan struct{} // closed when the test ends: every write goes through
}

func (g gatedTarget) Create(ctx context.Context, e backup.Entry) (io.WriteCloser, error) {
	if e.Mode.IsRegular() {
		select {
		case <-g.gate:
		case <-g.stop:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Target.Create(ctx, e)
}

// gated makes f's restores write through a gatedTarget; it returns the
// handler over it and the gate.
func (f *fixture) gated(t testing.TB) (http.Handler, chan struct{}) {
	t.Helper()
	gate, stop := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(stop) }) // before the servers close, which wait for the restore's event streams
	cfg := *f.cfg
	cfg.Target = func(_ context.Context, tenant string) (restore.Target, error) {
		return gatedTarget{Target: restore.DirTarget(filepath.Join(f.live, tenant)), gate: gate, stop: stop}, nil
	}
	h, err := console.New(&cfg)
	require.NoError(t, err)
	return h, gate
}

package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/console"
)

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

var rowRE = regexp.MustCompile(`(?s)<tr data-testid="tenant-(\w+)" class="(\w+)">(.*?)</tr>`)

// overviewRows returns the Overview's rows in order: tenant, class, cells.
func overviewRows(t *testing.T, h http.Handler, user string) [][]string {
	t.Helper()
	w := get(t, h, user, "/")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var rows [][]string
	for _, m := range rowRE.FindAllStringSubmatch(w.Body.String(), -1) {
		rows = append(rows, m[1:])
	}
	return rows
}

// A failed backup puts its tenant first, marked failed, with its success
// rates; a backup older than the RPO marks its tenant stale.
func TestOverviewPutsFailuresFirst(t *testing.T) {
	f := newFixture(t)
	rows := overviewRows(t, f.h, userMaster)
	require.Len(t, rows, 2)
	require.Equal(t, []string{"acme", "ok"}, rows[0][:2])
	require.Equal(t, []string{"globex", "ok"}, rows[1][:2])
	require.Contains(t, rows[0][2], "100 % (2/2)")

	// A principal refused an action on acme is no failure of acme's.
	token := csrfToken(t, f.h, userAcme, "/restore/plan?tenant=acme&mode=full&snapshot="+f.snaps["acme"][1].ID)
	w := post(t, f.h, userAcme, "/retention/acme", url.Values{"csrf": {token}, "keep_last": {"1"}})
	require.Equal(t, http.StatusForbidden, w.Code)
	denied, err := f.log.Query(masterCtx(), audit.Filter{Types: []audit.EventType{audit.TypeAccessDenied}, Tenant: "acme"})
	require.NoError(t, err)
	require.NotEmpty(t, denied, "the refusal is audited")
	rows = overviewRows(t, f.h, userMaster)
	require.Equal(t, []string{"acme", "ok"}, rows[0][:2])

	err = f.log.Record(masterCtx(), audit.Event{Type: audit.TypeBackupFailed, Level: audit.LevelError,
		Tenant: "globex", UserID: "scheduler", Message: "backup of globex failed: disk full"})
	require.NoError(t, err)
	rows = overviewRows(t, f.h, userMaster)
	require.Equal(t, []string{"globex", "failed"}, rows[0][:2], "the failing tenant comes first")
	require.Contains(t, rows[0][2], "disk full")
	require.Contains(t, rows[0][2], "66 % (2/3)")
	require.Equal(t, []string{"acme", "ok"}, rows[1][:2])

	// Two days later, with no new backup, both are past the 24 h RPO.
	cfg := *f.cfg
	cfg.Clock = fixedClock(time.Now().Add(48 * time.Hour))
	h, err := console.New(&cfg)
	require.NoError(t, err)
	rows = overviewRows(t, h, userMaster)
	require.Equal(t, []string{"acme", "stale"}, rows[1][:2])
	require.Contains(t, rows[1][2], `data-testid="day-acme">—`, "no backup in the last 24 hours")
	require.True(t, strings.Contains(rows[1][2], "2d 0h") || strings.Contains(rows[1][2], "1d 23h"), rows[1][2])
}

// The Overview shows the time to restore of the tenant's restores and its
// repository's growth over its snapshots.
func TestOverviewShowsTimeToRestoreAndGrowth(t *testing.T) {
	f := newFixture(t)
	rows := overviewRows(t, f.h, userMaster)
	require.Contains(t, rows[0][2], `data-testid="ttr-acme">—`)
	require.Contains(t, rows[0][2], "<polyline points=")
	require.Contains(t, rows[0][2], "dedup ")

	token := csrfToken(t, f.h, userMaster, "/flags")
	restoreAndWait(t, f.h, userMaster, url.Values{"csrf": {token}, "tenant": {"acme"},
		"snapshot": {f.snaps["acme"][1].ID}, "mode": {"full"}, "confirm": {"acme"}})
	rows = overviewRows(t, f.h, userMaster)
	require.Regexp(t, `data-testid="ttr-acme">avg \S+, p95 \S+ \(1\)`, rows[0][2])
	require.Contains(t, rows[1][2], `data-testid="ttr-globex">—`)
}

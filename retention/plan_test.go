package retention_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // CRON_TZ cases run on machines without a zone database

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/retention"
)

// day0 is a Monday, so ISO weeks start on day 0, 7, 14, ...
var day0 = time.Date(2025, 1, 6, 2, 0, 0, 0, time.UTC)

// history is 400 days of nightly snapshots at 02:00: a full every 7th day
// (day 0, 7, ...), incrementals otherwise; day 100 and 300 also carry
// tags.
func history() []backup.Snapshot {
	var out []backup.Snapshot
	for d := 0; d < 400; d++ {
		s := backup.Snapshot{ID: fmt.Sprintf("d%03d", d), Timestamp: day0.AddDate(0, 0, d), Type: backup.Incremental}
		if d%7 == 0 {
			s.Type = backup.Full
		}
		switch d {
		case 100:
			s.Tags = []string{"keep"}
		case 300:
			s.Tags = []string{retention.TagMajorRelease}
		case 380, 395:
			s.Tags = []string{retention.TagPreDeploy}
		}
		out = append(out, s)
	}
	return out
}

func kept(t *testing.T, p retention.Policy, now time.Time) ([]int, map[int][]string) {
	t.Helper()
	ds, err := retention.Plan(history(), p, now)
	require.NoError(t, err)
	var days []int
	reasons := map[int][]string{}
	for _, d := range ds {
		if d.Keep {
			var n int
			fmt.Sscanf(d.Snapshot.ID, "d%d", &n)
			days = append(days, n)
			reasons[n] = d.Reasons
		}
	}
	slices.Sort(days)
	return days, reasons
}

func span(from, to, step int) []int {
	var out []int
	for d := from; d <= to; d += step {
		out = append(out, d)
	}
	return out
}

func TestPlanRules(t *testing.T) {
	now := day0.AddDate(0, 0, 399).Add(6 * time.Hour) // day 399, 08:00
	cases := []struct {
		name   string
		policy retention.Policy
		want   []int
	}{
		{"keep-last 3", retention.Policy{KeepLast: 3}, []int{397, 398, 399}},
		{"keep-daily 5", retention.Policy{KeepDaily: 5}, span(395, 399, 1)},
		{"keep-weekly 3", retention.Policy{KeepWeekly: 3}, []int{391, 398, 399}},
		// Months of day0 + d: the newest snapshot of each of the last 4 months.
		{"keep-monthly 4", retention.Policy{KeepMonthly: 4}, []int{328, 359, 390, 399}}, // Nov 30, Dec 31, Jan 31, day 399
		{"keep-yearly 5", retention.Policy{KeepYearly: 5}, []int{359, 399}},
		{"keep-hourly 2", retention.Policy{KeepHourly: 2}, []int{398, 399}},
		{"keep-within 72h", retention.Policy{KeepWithin: retention.Duration(72 * time.Hour)}, []int{396, 397, 398, 399}},
		{"keep-tags", retention.Policy{KeepTags: []string{"keep"}}, []int{100, 399}},
		{"incremental_days 7", retention.Policy{IncrementalDays: 7}, span(393, 399, 1)},
		{"weekly_full_count 4", retention.Policy{WeeklyFullCount: 4}, []int{378, 385, 392, 399}},
		{"monthly_full_count 3", retention.Policy{MonthlyFullCount: 3}, []int{357, 385, 399}},
		{"pre_deploy_days 30", retention.Policy{PreDeployDays: 30}, []int{380, 395, 399}},
		{"pre_deploy_days 10", retention.Policy{PreDeployDays: 10}, []int{395, 399}},
		{"general: monthly_count 12 + major releases", retention.DefaultGeneralPolicy(),
			[]int{84, 114, 145, 175, 206, 237, 267, 298, 300, 328, 359, 380, 390, 395, 399}}, // month ends Mar 2025..Jan 2026, day 399, major 300, pre-deploy 380/395
		{"seed tenant defaults (GFS)", retention.DefaultTenantPolicy(),
			// 7 days of everything, fulls of 4 weeks (378..399) and of 3 months, pre-deploy 380/395.
			[]int{357, 378, 380, 385, 392, 393, 394, 395, 396, 397, 398, 399}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, reasons := kept(t, c.policy, now)
			require.Equal(t, c.want, got, "reasons: %v", reasons)
		})
	}
}

func TestPlanReasons(t *testing.T) {
	now := day0.AddDate(0, 0, 399).Add(time.Hour)
	_, reasons := kept(t, retention.Policy{KeepLast: 2, KeepDaily: 2, KeepTags: []string{"keep"}, MajorReleasesImmutable: true}, now)
	require.Equal(t, []string{"newest", "last-1", "daily-1"}, reasons[399])
	require.Equal(t, []string{"last-2", "daily-2"}, reasons[398])
	require.Equal(t, []string{"tag:keep"}, reasons[100])
	require.Equal(t, []string{"major-release"}, reasons[300])
}

func TestPlanSafety(t *testing.T) {
	_, err := retention.Plan(history(), retention.Policy{}, day0)
	require.ErrorIs(t, err, retention.ErrEmptyPolicy)
	_, err = retention.Plan(history(), retention.Policy{KeepLast: -1}, day0)
	require.ErrorIs(t, err, retention.ErrInvalidPolicy)

	// Snapshots dated after now are never removed; the newest always stays.
	now := day0.AddDate(0, 0, 200)
	got, reasons := kept(t, retention.Policy{KeepLast: 1}, now)
	require.Len(t, got, 199, "days 201..399 are in the future")
	require.Contains(t, reasons[250], "future")

	// keep-within counts from the newest snapshot, not from now: a tenant
	// that stopped backing up a year ago keeps its last snapshots.
	later := day0.AddDate(2, 0, 0)
	got, _ = kept(t, retention.Policy{KeepWithin: retention.Duration(48 * time.Hour)}, later)
	require.Equal(t, []int{397, 398, 399}, got)
	got, _ = kept(t, retention.Policy{IncrementalDays: 7}, later)
	require.Equal(t, []int{399}, got, "the newest snapshot is always kept")
}

func TestPolicyJSON(t *testing.T) {
	p, err := retention.DecodePolicy([]byte(`{"incremental_days":7,"weekly_full_count":4,"keep_within":"3d","schedule":"0 2 * * *","rpo_incremental":"24h"}`))
	require.NoError(t, err)
	require.Equal(t, 7, p.IncrementalDays)
	require.Equal(t, retention.Duration(72*time.Hour), p.KeepWithin)
	for _, bad := range []string{`{}`, `{"keep_last":-2}`, `{"keep_last":1,"schedule":"every tuesday"}`, `{"keep_last":1,"bogus":1}`, `{"keep_within":"7x"}`} {
		_, err := retention.DecodePolicy([]byte(bad))
		require.Error(t, err, bad)
	}
}

func TestParseSchedule(t *testing.T) {
	from := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		spec string
		next time.Time // zero: refused
	}{
		{"0 2 * * *", time.Date(2026, 1, 2, 2, 0, 0, 0, time.UTC)},
		{"@daily", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
		{"@every 6h", from.Add(6 * time.Hour)},
		{"*/15 * * * *", from.Add(15 * time.Minute)},
		{"CRON_TZ=Asia/Tokyo 0 2 * * *", time.Date(2026, 1, 1, 17, 0, 0, 0, time.UTC)}, // 02:00 JST
		{"61 * * * *", time.Time{}},
		{"every tuesday", time.Time{}},
		{"", time.Time{}},
		// robfig/cron panics on these; ParseSchedule refuses them.
		{"TZ=0", time.Time{}},
		{"CRON_TZ=UTC", time.Time{}},
		{"TZ=", time.Time{}},
		{"TZ=UTC\t0 2 * * *", time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			s, err := retention.ParseSchedule(c.spec)
			if c.next.IsZero() {
				require.ErrorIs(t, err, retention.ErrInvalidPolicy)
				require.True(t, s.Next(from).IsZero(), "a refused spec has no next time")
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.next, s.Next(from).UTC())
			require.Equal(t, c.spec, s.String())
		})
	}
	_, err := retention.DecodePolicy([]byte(`{"keep_last":1,"schedule":"TZ=0"}`))
	require.ErrorIs(t, err, retention.ErrInvalidPolicy)
}

func FuzzDecodePolicy(f *testing.F) {
	f.Add([]byte(`{"keep_last":1,"schedule":"TZ=0"}`))
	f.Add([]byte(`{"incremental_days":7,"weekly_full_count":4}`))
	f.Add([]byte(`{"keep_within":"3d","schedule":"@daily"}`))
	f.Add([]byte(`{"schedule":"*/5 * * * *","keep_last":1}`))
	f.Add([]byte(`{"keep_last":1,"drill_schedule":"0 3 1 */3 *","drill_ttr_slo":"90m"}`))
	f.Add([]byte(`{"keep_last":1,"drill_schedule":"TZ=0","drill_ttr_slo":"1d"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := retention.DecodePolicy(b)
		if err != nil {
			return
		}
		if _, err := retention.Plan(history()[:30], p, day0.AddDate(0, 0, 40)); err != nil {
			t.Fatalf("a valid policy failed to plan: %v", err)
		}
		// Round trip: a decoded policy, encoded, decodes to itself.
		enc, err := json.Marshal(p)
		require.NoError(t, err)
		again, err := retention.DecodePolicy(enc)
		require.NoError(t, err, "%s", enc)
		require.Equal(t, p, again)
	})
}

func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"0 2 * * *", "@daily", "@every 6h", "*/15 * * * *", "61 * * * *", "", "TZ=0", "CRON_TZ=UTC", "TZ=UTC\t0 2 * * *", "CRON_TZ=Europe/Rome 0 2 * * *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := retention.ParseSchedule(spec)
		if err != nil {
			return
		}
		// Round trip: the spec a Schedule prints parses to the same times.
		again, err := retention.ParseSchedule(s.String())
		if err != nil {
			t.Fatalf("%q parsed, its String %q does not: %v", spec, s.String(), err)
		}
		at := day0
		for range 3 {
			next := s.Next(at)
			if got := again.Next(at); !got.Equal(next) {
				t.Fatalf("%q: next after %v is %v, reparsed %v", spec, at, next, got)
			}
			if next.IsZero() {
				break
			}
			at = next
		}
	})
}

func BenchmarkPlan(b *testing.B) {
	h := history()
	p := retention.DefaultTenantPolicy()
	p.KeepDaily, p.KeepWeekly, p.KeepMonthly = 7, 4, 12
	now := day0.AddDate(0, 0, 400)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := retention.Plan(h, p, now); err != nil {
			b.Fatal(err)
		}
	}
}

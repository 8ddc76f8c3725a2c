package retention

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/iluxsys/steward/backup"
)

// Plan decides, for each snapshot, whether p keeps it at time now, and why.
// It is pure: no I/O, no clock. Decisions come newest first. Rules:
//
//   - the newest snapshot is always kept ("newest"), and so is any snapshot
//     dated after now ("future": a clock skew is no reason to delete);
//   - keep-last N keeps the N newest ("last-1" … "last-N");
//   - keep-hourly/daily/weekly/monthly/yearly N keep the newest snapshot
//     of each of the N most recent periods that have one ("daily-3" is the
//     third such day), in UTC, weeks per ISO 8601;
//   - keep-within D keeps everything within D of the newest snapshot (as
//     restic does, so a tenant that stopped backing up keeps its last ones);
//   - keep-tags keeps snapshots carrying any of the tags ("tag:keep");
//   - incremental_days N keeps every snapshot younger than N days;
//   - weekly_full_count / monthly_full_count keep the newest full snapshot
//     of the last N weeks / months that have one ("weekly-full-2");
//   - pre_deploy_days N keeps snapshots tagged "pre-deploy" younger than N days;
//   - monthly_count N keeps the newest snapshot of the last N months;
//   - a snapshot tagged backup.TagProtected (a release's artifact) is
//     always kept ("protected"), whatever the policy: Forget would refuse it;
//   - major_releases_immutable keeps every snapshot tagged "major-release"
//     the same way, when the policy asks for it.
//
// A policy with no keep rule is refused with ErrEmptyPolicy.
func Plan(snaps []backup.Snapshot, p Policy, now time.Time) ([]Decision, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	sorted := newestFirst(snaps)
	out := make([]Decision, len(sorted))
	for i := range sorted {
		out[i].Snapshot = sorted[i]
	}
	keep := func(i int, reason string) {
		out[i].Keep = true
		out[i].Reasons = append(out[i].Reasons, reason)
	}
	if len(sorted) == 0 {
		return out, nil
	}
	keep(0, "newest")
	for i, s := range sorted {
		if s.Timestamp.After(now) {
			keep(i, "future")
		}
	}
	for i := 0; i < p.KeepLast && i < len(sorted); i++ {
		keep(i, fmt.Sprintf("last-%d", i+1))
	}
	keepBuckets(sorted, p, keep)
	for i, s := range sorted {
		for _, reason := range keepReasons(s, p, sorted[0].Timestamp, now) {
			keep(i, reason)
		}
	}
	return out, nil
}

// newestFirst sorts a copy of snaps by time, newest first (ID breaks ties).
func newestFirst(snaps []backup.Snapshot) []backup.Snapshot {
	sorted := slices.Clone(snaps)
	slices.SortStableFunc(sorted, func(a, b backup.Snapshot) int {
		if c := b.Timestamp.Compare(a.Timestamp); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return sorted
}

// keepBuckets applies the rules that keep the newest snapshot of each of
// the last N periods (hourly ... yearly, weekly/monthly fulls).
func keepBuckets(sorted []backup.Snapshot, p Policy, keep func(int, string)) {
	rule := func(n int, name string, period func(time.Time) string, only func(*backup.Snapshot) bool) {
		last, count := "", 0
		for i := range sorted {
			if count >= n {
				return
			}
			s := &sorted[i]
			if only != nil && !only(s) {
				continue
			}
			if k := period(s.Timestamp.UTC()); k != last {
				last = k
				count++
				keep(i, fmt.Sprintf("%s-%d", name, count))
			}
		}
	}
	hour := func(t time.Time) string { return t.Format("2006-01-02T15") }
	day := func(t time.Time) string { return t.Format("2006-01-02") }
	week := func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }
	month := func(t time.Time) string { return t.Format("2006-01") }
	year := func(t time.Time) string { return t.Format("2006") }
	full := func(s *backup.Snapshot) bool { return s.Type == backup.Full }

	rule(p.KeepHourly, "hourly", hour, nil)
	rule(p.KeepDaily, "daily", day, nil)
	rule(p.KeepWeekly, "weekly", week, nil)
	rule(p.KeepMonthly, "monthly", month, nil)
	rule(p.KeepYearly, "yearly", year, nil)
	rule(p.WeeklyFullCount, "weekly-full", week, full)
	rule(p.MonthlyFullCount, "monthly-full", month, full)
	rule(p.MonthlyCount, "monthly", month, nil)
}

// keepReasons are the reasons of the rules that look at one snapshot alone:
// its tags and its age.
func keepReasons(s backup.Snapshot, p Policy, newest, now time.Time) []string {
	var reasons []string
	// Tags that keep a snapshot whatever its age, and the reason given.
	immutable := [][2]string{{backup.TagProtected, "protected"}}
	if p.MajorReleasesImmutable {
		immutable = append(immutable, [2]string{TagMajorRelease, "major-release"})
	}
	for _, im := range immutable {
		if slices.Contains(s.Tags, im[0]) {
			reasons = append(reasons, im[1])
		}
	}
	days := func(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }
	if p.KeepWithin > 0 && !s.Timestamp.Before(newest.Add(-time.Duration(p.KeepWithin))) {
		reasons = append(reasons, "within")
	}
	if p.IncrementalDays > 0 && now.Sub(s.Timestamp) < days(p.IncrementalDays) {
		reasons = append(reasons, "incremental-days")
	}
	if p.PreDeployDays > 0 && slices.Contains(s.Tags, TagPreDeploy) && now.Sub(s.Timestamp) < days(p.PreDeployDays) {
		reasons = append(reasons, "pre-deploy")
	}
	for _, t := range p.KeepTags {
		if slices.Contains(s.Tags, t) {
			reasons = append(reasons, "tag:"+t)
		}
	}
	return reasons
}

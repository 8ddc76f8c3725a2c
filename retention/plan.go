package retention

import (
	"fmt"
	"slices"
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
	sorted := slices.Clone(snaps)
	slices.SortStableFunc(sorted, func(a, b backup.Snapshot) int {
		if c := b.Timestamp.Compare(a.Timestamp); c != 0 {
			return c
		}
		switch {
		case a.ID > b.ID:
			return -1
		case a.ID < b.ID:
			return 1
		}
		return 0
	})
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
	newest := sorted[0].Timestamp
	keep(0, "newest")
	for i, s := range sorted {
		if s.Timestamp.After(now) {
			keep(i, "future")
		}
	}
	for i := 0; i < p.KeepLast && i < len(sorted); i++ {
		keep(i, fmt.Sprintf("last-%d", i+1))
	}
	bucketRule := func(n int, name string, period func(time.Time) string, only func(*backup.Snapshot) bool) {
		if n <= 0 {
			return
		}
		last, count := "", 0
		for i := range sorted {
			if count == n {
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

	bucketRule(p.KeepHourly, "hourly", hour, nil)
	bucketRule(p.KeepDaily, "daily", day, nil)
	bucketRule(p.KeepWeekly, "weekly", week, nil)
	bucketRule(p.KeepMonthly, "monthly", month, nil)
	bucketRule(p.KeepYearly, "yearly", year, nil)
	bucketRule(p.WeeklyFullCount, "weekly-full", week, full)
	bucketRule(p.MonthlyFullCount, "monthly-full", month, full)
	bucketRule(p.MonthlyCount, "monthly", month, nil)

	// Tags that keep a snapshot whatever its age, and the reason given.
	immutable := [][2]string{{backup.TagProtected, "protected"}}
	if p.MajorReleasesImmutable {
		immutable = append(immutable, [2]string{TagMajorRelease, "major-release"})
	}
	days := func(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }
	for i, s := range sorted {
		for _, im := range immutable {
			if slices.Contains(s.Tags, im[0]) {
				keep(i, im[1])
			}
		}
		if p.KeepWithin > 0 && !s.Timestamp.Before(newest.Add(-time.Duration(p.KeepWithin))) {
			keep(i, "within")
		}
		if p.IncrementalDays > 0 && now.Sub(s.Timestamp) < days(p.IncrementalDays) {
			keep(i, "incremental-days")
		}
		if p.PreDeployDays > 0 && slices.Contains(s.Tags, TagPreDeploy) && now.Sub(s.Timestamp) < days(p.PreDeployDays) {
			keep(i, "pre-deploy")
		}
		for _, t := range p.KeepTags {
			if slices.Contains(s.Tags, t) {
				keep(i, "tag:"+t)
			}
		}
	}
	return out, nil
}

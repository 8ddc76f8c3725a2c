package retention

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/iluxsys/steward/backup"
)

// Tags with a meaning to retention.
const (
	TagPreDeploy    = "pre-deploy"
	TagMajorRelease = "major-release"
)

// Policy says which snapshots to keep and when to back up. Zero fields are
// off. JSON field names follow the seed's configuration.
type Policy struct {
	// Seed rules for tenants.
	IncrementalDays  int `json:"incremental_days,omitempty"`   // keep every snapshot younger than this many days
	WeeklyFullCount  int `json:"weekly_full_count,omitempty"`  // keep the newest full snapshot of each of the last N weeks that have one
	MonthlyFullCount int `json:"monthly_full_count,omitempty"` // same, per month
	PreDeployDays    int `json:"pre_deploy_days,omitempty"`    // keep snapshots tagged pre-deploy this many days

	// Seed rules for the general structure.
	MonthlyCount           int  `json:"monthly_count,omitempty"`            // newest snapshot of each of the last N months
	MajorReleasesImmutable bool `json:"major_releases_immutable,omitempty"` // snapshots tagged major-release are never forgotten

	// restic-style rules.
	KeepLast    int      `json:"keep_last,omitempty"`
	KeepHourly  int      `json:"keep_hourly,omitempty"`
	KeepDaily   int      `json:"keep_daily,omitempty"`
	KeepWeekly  int      `json:"keep_weekly,omitempty"`
	KeepMonthly int      `json:"keep_monthly,omitempty"`
	KeepYearly  int      `json:"keep_yearly,omitempty"`
	KeepWithin  Duration `json:"keep_within,omitempty"` // everything within this span of the newest snapshot
	KeepTags    []string `json:"keep_tags,omitempty"`

	// Schedule.
	Schedule       string   `json:"schedule,omitempty"`        // cron expression for backups ("0 2 * * *"), "" = not scheduled
	FullEvery      Duration `json:"full_every,omitempty"`      // take a full backup when the newest full is older (default 7 days)
	RPOIncremental Duration `json:"rpo_incremental,omitempty"` // alert when the newest backup is older (default 24 h)
	RPOFull        Duration `json:"rpo_full,omitempty"`        // alert when the newest full backup is older (default 7 days)

	// Disaster-recovery drills (see Scheduler and DrillDeadline).
	DrillSchedule string   `json:"drill_schedule,omitempty"` // cron expression for restore drills ("0 3 1 */3 *"), "" = no drills
	DrillTTRSLO   Duration `json:"drill_ttr_slo,omitempty"`  // alert when a drill's time to restore is longer, 0 = no SLO

	// MaxAttempts is the retry budget of the tenant's scheduled jobs in a
	// fleet (package fleet): a backup, retention run or drill that fails is
	// attempted at most this many times in all, then discarded. 0 = the
	// fleet's default (fleet.Config.MaxAttempts); at most MaxRetryBudget.
	// retention.Scheduler does not retry: its next slot is the retry.
	MaxAttempts int `json:"max_attempts,omitempty"`
}

// MaxRetryBudget is the largest Policy.MaxAttempts.
const MaxRetryBudget = 100

// DefaultDrillSchedule is the seed's quarterly disaster-recovery drill:
// 03:00 on the first day of January, April, July and October.
//
// It is part of DefaultTenantPolicy, so a tenant without a stored policy
// is drilled quarterly (by a Scheduler given a Restorer). A stored policy
// says what it wants: an empty DrillSchedule there means no drills, as
// every zero field of a Policy is off. That keeps policies stored before
// drills existed as they were: a drill restores the tenant's whole newest
// snapshot, which costs store reads (and egress) a host that wrote its own
// policy has not asked for.
const DefaultDrillSchedule = "0 3 1 */3 *"

// Duration is a time.Duration that reads and writes JSON as "36h", and
// also accepts days as "7d".
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "36h", "90m", "7d" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration %s: want a string like \"36h\" or \"7d\"", b)
		}
		*d = Duration(n)
		return nil
	}
	v, err := ParseDuration(s)
	*d = Duration(v)
	return err
}

// maxDays is the most days a time.Duration holds (about 292 years).
const maxDays = int64(time.Duration(1<<63-1) / (24 * time.Hour))

// ParseDuration parses a Go duration or a number of days ("7d").
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int64
		if _, err := fmt.Sscanf(days, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != days {
			return 0, fmt.Errorf("duration %q: want a whole number of days, like \"7d\"", s)
		}
		// Beyond maxDays the multiplication below would overflow into a
		// negative or wrapped duration.
		if n > maxDays {
			return 0, fmt.Errorf("duration %q: at most %d days", s, maxDays)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("duration %q: want a non-negative duration like \"36h\" or \"7d\"", s)
	}
	return v, nil
}

// DefaultTenantPolicy is the seed's tenant policy: every backup of the last
// 7 days, 4 weekly and 3 monthly fulls, pre-deploy safety backups for 30
// days; a nightly backup at 02:00, a full every 7 days, RPO 24 h / 7 days;
// a quarterly restore drill (DefaultDrillSchedule) with no TTR SLO.
func DefaultTenantPolicy() Policy {
	return Policy{IncrementalDays: 7, WeeklyFullCount: 4, MonthlyFullCount: 3, PreDeployDays: 30,
		Schedule: "0 2 * * *", FullEvery: Duration(7 * 24 * time.Hour),
		RPOIncremental: Duration(24 * time.Hour), RPOFull: Duration(7 * 24 * time.Hour),
		DrillSchedule: DefaultDrillSchedule}
}

// DefaultGeneralPolicy is the seed's policy for the general structure: 12
// monthly snapshots, major releases immutable.
func DefaultGeneralPolicy() Policy {
	return Policy{MonthlyCount: 12, MajorReleasesImmutable: true, PreDeployDays: 30,
		FullEvery: Duration(7 * 24 * time.Hour), RPOIncremental: Duration(7 * 24 * time.Hour), RPOFull: Duration(31 * 24 * time.Hour)}
}

// Errors.
var (
	// ErrEmptyPolicy: the policy keeps nothing; applying it would forget
	// every snapshot, so it is refused.
	ErrEmptyPolicy = errors.New("retention: the policy has no keep rule; it would forget every snapshot")
	// ErrInvalidPolicy: a field is out of range or the schedule does not parse.
	ErrInvalidPolicy = errors.New("retention: invalid policy")
)

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a cron expression (five fields, or @daily, @hourly,
// @every 6h, ...), optionally after a time zone ("CRON_TZ=Europe/Rome 0 2
// * * *"). Any malformed spec is an error wrapping ErrInvalidPolicy, never
// a panic: robfig/cron panics on a zone prefix with nothing after it
// ("TZ=UTC"), which is refused here first.
func ParseSchedule(spec string) (Schedule, error) {
	s, err := parseCron(spec)
	if err != nil {
		return Schedule{}, err
	}
	return Schedule{s: s, spec: spec}, nil
}

// Schedule is a parsed cron schedule (ParseSchedule). Its zero value has
// no next time.
type Schedule struct {
	s    cron.Schedule
	spec string
}

// Next returns the first time of the schedule after t, or the zero time
// when there is none.
func (s Schedule) Next(t time.Time) time.Time {
	if s.s == nil {
		return time.Time{}
	}
	return s.s.Next(t)
}

// String returns the spec the schedule was parsed from.
func (s Schedule) String() string { return s.spec }

// parseCron parses spec with robfig/cron, refusing what makes it panic.
func parseCron(spec string) (s cron.Schedule, err error) {
	if (strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=")) && !strings.Contains(spec, " ") {
		return nil, fmt.Errorf("%w: schedule %q: a time zone must be followed by a space and the cron fields, like \"CRON_TZ=UTC 0 2 * * *\"", ErrInvalidPolicy, spec)
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%w: schedule %q does not parse (%v)", ErrInvalidPolicy, spec, r)
		}
	}()
	s, err = cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: schedule %q: %v", ErrInvalidPolicy, spec, err)
	}
	return s, nil
}

// Validate checks the policy: no negative counts or durations, a retry
// budget of at most MaxRetryBudget, schedules (backup and drill) that
// parse, and at least one keep rule.
func (p *Policy) Validate() error {
	for name, v := range map[string]int{"incremental_days": p.IncrementalDays, "weekly_full_count": p.WeeklyFullCount,
		"monthly_full_count": p.MonthlyFullCount, "pre_deploy_days": p.PreDeployDays, "monthly_count": p.MonthlyCount,
		"keep_last": p.KeepLast, "keep_hourly": p.KeepHourly, "keep_daily": p.KeepDaily, "keep_weekly": p.KeepWeekly,
		"keep_monthly": p.KeepMonthly, "keep_yearly": p.KeepYearly, "max_attempts": p.MaxAttempts} {
		if v < 0 {
			return fmt.Errorf("%w: %s is %d; counts cannot be negative", ErrInvalidPolicy, name, v)
		}
	}
	for name, v := range map[string]Duration{"keep_within": p.KeepWithin, "full_every": p.FullEvery, "rpo_incremental": p.RPOIncremental, "rpo_full": p.RPOFull, "drill_ttr_slo": p.DrillTTRSLO} {
		if v < 0 {
			return fmt.Errorf("%w: %s is negative", ErrInvalidPolicy, name)
		}
	}
	if p.MaxAttempts > MaxRetryBudget {
		return fmt.Errorf("%w: max_attempts is %d; at most %d", ErrInvalidPolicy, p.MaxAttempts, MaxRetryBudget)
	}
	if slices.Contains(p.KeepTags, "") {
		return fmt.Errorf("%w: keep_tags has an empty tag", ErrInvalidPolicy)
	}
	for _, spec := range []string{p.Schedule, p.DrillSchedule} {
		if spec == "" {
			continue
		}
		if _, err := ParseSchedule(spec); err != nil {
			return err
		}
	}
	if p.IncrementalDays == 0 && p.WeeklyFullCount == 0 && p.MonthlyFullCount == 0 && p.PreDeployDays == 0 &&
		p.MonthlyCount == 0 && !p.MajorReleasesImmutable && p.KeepLast == 0 && p.KeepHourly == 0 && p.KeepDaily == 0 &&
		p.KeepWeekly == 0 && p.KeepMonthly == 0 && p.KeepYearly == 0 && p.KeepWithin == 0 && len(p.KeepTags) == 0 {
		return ErrEmptyPolicy
	}
	return nil
}

// DecodePolicy parses and validates a stored or user-given policy.
func DecodePolicy(b []byte) (Policy, error) {
	var p Policy
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Policy{}, fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	return p, p.Validate()
}

// Decision is the verdict on one snapshot.
type Decision struct {
	Snapshot backup.Snapshot `json:"snapshot"`
	Keep     bool            `json:"keep"`
	Reasons  []string        `json:"reasons,omitempty"`
}

package retention

import (
	"context"
	"fmt"
	"time"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
)

// RPO kinds, as Alert.Kind and the rpo.breach audit event's "kind" give
// them.
const (
	RPOKindIncremental = "incremental"
	RPOKindFull        = "full"
)

// DataNewest is the key of an rpo.breach audit event's Data holding the
// newest backup of the breached kind then (RFC 3339, "" when none).
const DataNewest = "newest"

// NewestBackups returns the times of the newest snapshot and of the
// newest full snapshot in cat (zero when there is none).
func NewestBackups(cat []backup.Snapshot) (newest, newestFull time.Time) {
	for _, s := range cat {
		if s.Timestamp.After(newest) {
			newest = s.Timestamp
		}
		if s.Type == backup.Full && s.Timestamp.After(newestFull) {
			newestFull = s.Timestamp
		}
	}
	return newest, newestFull
}

// RPOBreaches returns the RPOs of p that tenant breaches at now, given
// its newest backup and newest full backup (NewestBackups): one Alert per
// kind whose backup is older than the policy's RPO for it. A kind never
// backed up is counted from since (when the caller started watching the
// tenant); a zero RPO is off. It is pure: whether a breach is new, and
// so alerted, is the caller's to know.
func RPOBreaches(tenant string, p Policy, newest, newestFull, since, now time.Time) []Alert {
	var out []Alert
	for _, r := range []struct {
		kind string
		last time.Time
		rpo  Duration
	}{{RPOKindIncremental, newest, p.RPOIncremental}, {RPOKindFull, newestFull, p.RPOFull}} {
		if r.rpo <= 0 {
			continue
		}
		ref := r.last
		if ref.IsZero() {
			ref = since
		}
		if age := now.Sub(ref); age > time.Duration(r.rpo) {
			out = append(out, Alert{Tenant: tenant, Kind: r.kind, Newest: r.last, Age: age, RPO: time.Duration(r.rpo)})
		}
	}
	return out
}

// RecordRPOBreach audits a on aud: an audit.TypeRPOBreach event at
// LevelError (the alert notifiers pass on by default), with the kind, the
// age, the RPO and the newest backup (DataNewest) in its Data. Its error
// is aud's.
func RecordRPOBreach(ctx context.Context, aud audit.Auditor, a Alert) error {
	return aud.Record(context.WithoutCancel(ctx), audit.Event{Type: audit.TypeRPOBreach, Level: audit.LevelError, Tenant: a.Tenant,
		Message: fmt.Sprintf("RPO breach for %q: newest %s backup is %s old (RPO %s)", a.Tenant, a.Kind, a.Age.Round(time.Minute), a.RPO),
		Data:    map[string]any{"kind": a.Kind, "age_ms": a.Age.Milliseconds(), "rpo_ms": a.RPO.Milliseconds(), DataNewest: eventTime(a.Newest)}})
}

// eventTime is t as an audit event's Data holds it: RFC 3339 in UTC, ""
// for the zero time.
func eventTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

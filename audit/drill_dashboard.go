package audit

import (
	"context"
	"maps"
	"slices"
	"time"
)

// DrillMetrics summarises one tenant's scheduled disaster-recovery drills
// (events of TypeDrillPassed and TypeDrillFailed): the dashboard's last
// drill, time to restore against its SLO, and drill success rate.
type DrillMetrics struct {
	// Tenant is the tenant drilled.
	Tenant string `json:"tenant"`
	// Passed and Failed count its drills.
	Passed int `json:"passed"`
	Failed int `json:"failed"`
	// LastDrill is the newest drill's time; LastStatus its status
	// ("passed" or "failed").
	LastDrill  time.Time `json:"last_drill"`
	LastStatus string    `json:"last_status"`
	// LastSuccess is the newest passed drill's time, nil when none.
	LastSuccess *time.Time `json:"last_success"`
	// TTRMS is the newest drill's time to restore and SLOMS its objective
	// (0: none), in milliseconds; OverSLO says whether it was exceeded.
	TTRMS   float64 `json:"ttr_ms"`
	SLOMS   float64 `json:"slo_ms"`
	OverSLO bool    `json:"over_slo"`
	// SuccessRate is Passed / (Passed + Failed).
	SuccessRate float64 `json:"success_rate"`
}

// Drills derives each drilled tenant's DrillMetrics from the log (one
// pass), sorted by tenant. Like Dashboard, it needs
// steward.ActionAuditRead and fails with a *TamperError on a log that does
// not verify.
func (l *Log) Drills(ctx context.Context) ([]DrillMetrics, error) {
	var b DrillsBuilder
	for e, err := range l.Events(ctx, Filter{}) {
		if err != nil {
			return nil, err
		}
		b.Add(&e)
	}
	return b.Result(), nil
}

// DrillsBuilder accumulates drill events into DrillMetrics; hosts that
// keep events elsewhere can feed it directly. The zero value is ready to
// use; it is not safe for concurrent use.
type DrillsBuilder struct {
	m map[string]*DrillMetrics
}

// Add accounts for e when it is a drill event (others are ignored). Feed
// events oldest first: the newest drill added is the last.
func (b *DrillsBuilder) Add(e *Event) {
	if e.Type != TypeDrillPassed && e.Type != TypeDrillFailed {
		return
	}
	if b.m == nil {
		b.m = map[string]*DrillMetrics{}
	}
	m := b.m[e.Tenant]
	if m == nil {
		m = &DrillMetrics{Tenant: e.Tenant}
		b.m[e.Tenant] = m
	}
	m.LastDrill, m.LastStatus = e.Timestamp, "failed"
	if e.Type == TypeDrillPassed {
		m.Passed++
		m.LastStatus = "passed"
		t := e.Timestamp
		m.LastSuccess = &t
	} else {
		m.Failed++
	}
	m.TTRMS, _ = Number(e.Data[DataTTRMS])
	m.SLOMS, _ = Number(e.Data[DataSLOMS])
	m.OverSLO = m.SLOMS > 0 && m.TTRMS > m.SLOMS
	m.SuccessRate = float64(m.Passed) / float64(m.Passed+m.Failed)
}

// Result returns the metrics of every tenant seen, sorted by tenant.
func (b *DrillsBuilder) Result() []DrillMetrics {
	out := make([]DrillMetrics, 0, len(b.m))
	for _, t := range slices.Sorted(maps.Keys(b.m)) {
		out = append(out, *b.m[t])
	}
	return out
}

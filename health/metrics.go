package health

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/iluxsys/steward/internal/errs"
)

// Gauges a Checker with a Config.Meter reports, from its newest Report
// (nothing before the first Check). Their only attribute is "check", one
// of the Check constants, so their cardinality is bounded by the number
// of checks whatever the number of tenants.
const (
	// MetricStatus is 1 when every result of a check is ok, 0 when one is
	// degraded; a check that did not run (its part not configured) is
	// not reported.
	MetricStatus = "steward.health.status"
	// MetricDegradedTenants counts the tenants a per-tenant check (locks,
	// rpo, drill) found degraded.
	MetricDegradedTenants = "steward.health.degraded_tenants"
)

func (c *Checker) registerGauges(m metric.Meter) error {
	status, err := m.Int64ObservableGauge(MetricStatus, metric.WithDescription("1 when the health check passes, 0 when degraded"))
	if err != nil {
		return errs.Errorf("health", "gauge %s: %w", MetricStatus, err)
	}
	tenants, err := m.Int64ObservableGauge(MetricDegradedTenants, metric.WithDescription("tenants a health check found degraded"), metric.WithUnit("{tenant}"))
	if err != nil {
		return errs.Errorf("health", "gauge %s: %w", MetricDegradedTenants, err)
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		rep := c.last.Load()
		if rep == nil {
			return nil
		}
		ran, bad, badTenants := summarize(rep)
		for _, name := range checkNames {
			if !ran[name] {
				continue
			}
			attrs := metric.WithAttributes(attribute.String("check", name))
			v := int64(1)
			if bad[name] {
				v = 0
			}
			o.ObserveInt64(status, v, attrs)
			o.ObserveInt64(tenants, int64(badTenants[name]), attrs)
		}
		return nil
	}, status, tenants)
	if err != nil {
		return errs.Errorf("health", "gauges: %w", err)
	}
	return nil
}

// summarize says which checks ran, which are degraded, and how many
// tenants each found degraded.
func summarize(rep *Report) (ran, bad map[string]bool, badTenants map[string]int) {
	ran, bad, badTenants = map[string]bool{}, map[string]bool{}, map[string]int{}
	for _, r := range rep.Results {
		ran[r.Check] = true
		if r.Status == StatusOK {
			continue
		}
		bad[r.Check] = true
		if r.Tenant != "" {
			badTenants[r.Check]++
		}
	}
	return ran, bad, badTenants
}

package siem

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Names of the instruments a Sink registers on a Meter (see Instrument).
// Each has the attribute "sink" (the Sink's name, as DataSink).
const (
	// MetricDropped counts the events a Sink dropped (Dropped).
	MetricDropped = "steward.audit.siem.dropped"
	// MetricDelivered counts the events a Sink delivered (Delivered).
	MetricDelivered = "steward.audit.siem.delivered"
	// MetricQueued is how many events wait for delivery (Queued).
	MetricQueued = "steward.audit.siem.queued"
)

// Instrument reports s's counts as OpenTelemetry instruments from meter,
// read when the meter collects (nothing is added to the path of Record):
// MetricDropped and MetricDelivered (counters) and MetricQueued (a
// gauge). It returns a function that unregisters them, and an error when
// meter refuses an instrument.
func (s *Sink) Instrument(meter metric.Meter) (unregister func() error, err error) {
	dropped, err := meter.Int64ObservableCounter(MetricDropped, metric.WithDescription("audit events dropped by a SIEM sink whose queue was full"), metric.WithUnit("{event}"))
	if err != nil {
		return nil, fmt.Errorf("siem: metric %s: %w", MetricDropped, err)
	}
	delivered, err := meter.Int64ObservableCounter(MetricDelivered, metric.WithDescription("audit events delivered by a SIEM sink"), metric.WithUnit("{event}"))
	if err != nil {
		return nil, fmt.Errorf("siem: metric %s: %w", MetricDelivered, err)
	}
	queued, err := meter.Int64ObservableGauge(MetricQueued, metric.WithDescription("audit events waiting in a SIEM sink's queue"), metric.WithUnit("{event}"))
	if err != nil {
		return nil, fmt.Errorf("siem: metric %s: %w", MetricQueued, err)
	}
	attrs := metric.WithAttributes(attribute.String("sink", s.name))
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(dropped, int64(s.Dropped()), attrs)
		o.ObserveInt64(delivered, int64(s.Delivered()), attrs)
		o.ObserveInt64(queued, int64(s.Queued()), attrs)
		return nil
	}, dropped, delivered, queued)
	if err != nil {
		return nil, fmt.Errorf("siem: metrics: %w", err)
	}
	return reg.Unregister, nil
}

package config_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// eventMetricNames returns the series names the event metrics export (pkg/metrics.NewEventMetrics).
// They are not in metrics.golden (a fresh controller has no queue), and alerts.yml uses them.
func eventMetricNames(t *testing.T) []string {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.NewEventMetrics(reg)
	m.LagSeconds.Observe(1)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
		if mf.GetType().String() == "HISTOGRAM" {
			names = append(names, mf.GetName()+"_bucket", mf.GetName()+"_sum", mf.GetName()+"_count")
		}
	}
	return names
}

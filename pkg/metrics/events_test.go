package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestEventMetricsLintAndZeroes(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewEventMetrics(reg)
	m.LagSeconds.Observe(0.4)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	pairs := 0
	for _, types := range eventTypesBySource {
		pairs += len(types)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	for name, want := range map[string]int{
		"ecs_drainer_events_received_total":                              pairs * len(EventResults),
		"ecs_drainer_event_lag_seconds":                                  1,
		"ecs_drainer_event_queue_errors_total":                           2 * len(QueueErrorCodes),
		"ecs_drainer_event_queue_last_receive_success_timestamp_seconds": 1,
	} {
		if got := series[name]; got != want {
			t.Errorf("%s has %d series, want %d", name, got, want)
		}
	}
	// Every source the consumer counts under has its types; an unknown one has none.
	for _, s := range []string{EventSourceAutoScaling, EventSourceAutoScalingHook, EventSourceECS, EventSourceEC2, EventSourceOther} {
		if len(EventTypes(s)) == 0 {
			t.Errorf("source %s has no types", s)
		}
	}
	if EventTypes("nope") != nil {
		t.Error("an unknown source has types")
	}
}

package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/util/workqueue"
)

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "v1.2.3", "abc123")
	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "reconciler", MetricsProvider: m.WorkqueueProvider()})
	defer q.ShutDown()
	q.Add("x")
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestMetricsNamesAndZeroes(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "v1", "r1")
	m.ObserveAWSRequest("ecs", "ListTasks", "OK")
	m.ObserveAWSRequest("ecs", "ListTasks", "OK")
	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "reconciler", MetricsProvider: m.WorkqueueProvider()})
	defer q.ShutDown()
	q.Add("a")

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "ecs_drainer_") {
			t.Errorf("metric %s lacks the ecs_drainer_ prefix", mf.GetName())
		}
		series[mf.GetName()] = len(mf.GetMetric())
	}
	// Every name the README lists, with its label combinations present from the start.
	for name, n := range map[string]int{
		"ecs_drainer_drains_in_progress":                    1,
		"ecs_drainer_oldest_drain_age_seconds":              1,
		"ecs_drainer_drain_duration_seconds":                7,
		"ecs_drainer_drains_ended_total":                    3,
		"ecs_drainer_lifecycle_actions_completed_total":     4,
		"ecs_drainer_drain_timeouts_total":                  3,
		"ecs_drainer_heartbeats_total":                      1,
		"ecs_drainer_tasks_stopped_total":                   3,
		"ecs_drainer_reconcile_total":                       3,
		"ecs_drainer_reconcile_duration_seconds":            1,
		"ecs_drainer_aws_requests_total":                    1,
		"ecs_drainer_last_resync_success_timestamp_seconds": 1,
		"ecs_drainer_managed_asgs":                          1,
		"ecs_drainer_instances_watched":                     1,
		"ecs_drainer_build_info":                            1,
		"ecs_drainer_workqueue_depth":                       1,
		"ecs_drainer_workqueue_adds_total":                  1,
	} {
		if series[name] != n {
			t.Errorf("%s has %d series, want %d", name, series[name], n)
		}
	}
	if got := testutil.ToFloat64(m.AWSRequests.WithLabelValues("ecs", "ListTasks", "OK")); got != 2 {
		t.Errorf("aws_requests_total{ecs,ListTasks,OK} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.workqueue.depth.WithLabelValues("reconciler")); got != 1 {
		t.Errorf("workqueue depth = %v, want 1", got)
	}
}

// TestDrainStatsAtScrape: the drain gauges are computed by the source each time they are
// collected, not when something last set them.
func TestDrainStatsAtScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "v1", "r1")
	age := 10 * time.Second
	m.SetDrainStatsSource(func() DrainStats { return DrainStats{InProgress: 2, OldestAge: age} })
	for range 2 {
		if got := testutil.ToFloat64(m.DrainsInProgress); got != 2 {
			t.Errorf("drains_in_progress = %v, want 2", got)
		}
		if got := testutil.ToFloat64(m.OldestDrainAgeSeconds); got != age.Seconds() {
			t.Errorf("oldest_drain_age_seconds = %v, want %v", got, age.Seconds())
		}
		age += time.Minute // time passes and nothing else happens
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ecs_drainer_drains_in_progress Instances held in Terminating:Wait that the controller acts for and whose lifecycle action is not yet completed, whether or not DRAINING could be set yet.
# TYPE ecs_drainer_drains_in_progress gauge
ecs_drainer_drains_in_progress 2
`), "ecs_drainer_drains_in_progress"); err != nil {
		t.Error(err)
	}
}

package metrics

import (
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
)

// snakeCase is the one casing of the label values the controller chooses.
var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// verbatimLabels are the labels whose values are not the controller's to choose: AWS's own names
// of operations and error codes (see the package doc), and the build's identity.
var verbatimLabels = map[string][]string{
	"ecs_drainer_aws_requests_total":       {"operation", "code"},
	"ecs_drainer_event_queue_errors_total": {"operation"},
	"ecs_drainer_build_info":               {"version", "revision", "goversion"},
}

// TestLabelValuesAreSnakeCase checks every pre-initialised label value of every metric, the
// event metrics' included.
func TestLabelValuesAreSnakeCase(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "v1.2.3", "abc123")
	NewEventMetrics(reg)
	m.ObserveAWSRequest("ecs", "ListTasks", "OK")
	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "reconciler", MetricsProvider: m.WorkqueueProvider()})
	defer q.ShutDown()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if slices.Contains(verbatimLabels[mf.GetName()], l.GetName()) {
					continue
				}
				checked++
				if !snakeCase.MatchString(l.GetValue()) {
					t.Errorf("%s{%s=%q}: label values are snake_case", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("checked only %d label values; are the label combinations still pre-initialised?", checked)
	}
}

// TestLifecycleResultLabel: each result sent to AWS has its own label, and the label is not the
// AWS value.
func TestLifecycleResultLabel(t *testing.T) {
	for result, want := range map[string]string{
		awsapi.LifecycleActionContinue: ResultContinue,
		awsapi.LifecycleActionAbandon:  ResultAbandon,
		"continue":                     "",
		"":                             "",
	} {
		if got := LifecycleResultLabel(result); got != want {
			t.Errorf("LifecycleResultLabel(%q) = %q, want %q", result, got, want)
		}
	}
}

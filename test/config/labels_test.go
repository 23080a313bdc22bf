package config_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// labelValues maps a series name (a histogram's _bucket, _sum and _count included) to each of its
// labels and the values the controller exports for it.
type labelValues map[string]map[string][]string

// knownLabelValues gathers a fresh controller's metrics, the event metrics included, with every
// enumerated label combination pre-initialised. Labels whose values are open (the AWS operation and
// code of aws_requests_total, the work queue's name) have no series until something is observed, so
// they are absent and not checked.
func knownLabelValues(t *testing.T) labelValues {
	t.Helper()
	reg := prometheus.NewRegistry()
	metrics.New(reg, "v0.0.0", "test")
	metrics.NewEventMetrics(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := labelValues{}
	for _, mf := range mfs {
		names := []string{mf.GetName()}
		if mf.GetType().String() == "HISTOGRAM" {
			names = append(names, mf.GetName()+"_bucket", mf.GetName()+"_sum", mf.GetName()+"_count")
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				for _, n := range names {
					if known[n] == nil {
						known[n] = map[string][]string{}
					}
					if !slices.Contains(known[n][l.GetName()], l.GetValue()) {
						known[n][l.GetName()] = append(known[n][l.GetName()], l.GetValue())
					}
				}
			}
		}
	}
	return known
}

var (
	// selectorRE is an ecs_drainer_ series with its label matchers.
	selectorRE = regexp.MustCompile(`\b(ecs_drainer_[a-z0-9_]+)\s*\{([^}]*)\}`)
	// equalityRE is one label matcher by equality or inequality (regular expressions are not
	// checked).
	equalityRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(!=|=)\s*"([^"]*)"`)
)

// unknownLabelValues returns the label="value" matchers of expr (a PromQL expression or a promtool
// input series) on ecs_drainer_ series whose value the controller never exports: a query or alert
// that silently matches nothing, as one keeping result="CONTINUE" would.
func unknownLabelValues(expr string, known labelValues) []string {
	var bad []string
	for _, sel := range selectorRE.FindAllStringSubmatch(expr, -1) {
		for _, m := range equalityRE.FindAllStringSubmatch(sel[2], -1) {
			values, enumerated := known[sel[1]][m[1]]
			if enumerated && !slices.Contains(values, m[3]) {
				bad = append(bad, fmt.Sprintf("%s{%s%s%q} (exported: %s)", sel[1], m[1], m[2], m[3], strings.Join(values, ", ")))
			}
		}
	}
	return bad
}

func TestUnknownLabelValues(t *testing.T) {
	known := knownLabelValues(t)
	for expr, want := range map[string]int{
		`sum(ecs_drainer_lifecycle_actions_completed_total{job="ecs-drainer", result="continue"})`:            0,
		`sum(ecs_drainer_lifecycle_actions_completed_total{job="ecs-drainer", result="CONTINUE"})`:            1,
		`ecs_drainer_drain_timeouts_total{action!="stop-tasks"} + ecs_drainer_reconcile_total{result="done"}`: 1,
		`ecs_drainer_drain_duration_seconds_bucket{outcome="drained"}`:                                        0,
		`ecs_drainer_event_queue_errors_total{operation="ReceiveMessage", code="AccessDenied"}`:               1,
		`ecs_drainer_aws_requests_total{code="ThrottlingException"}`:                                          0, // open: AWS's codes
		`ecs_drainer_drain_timeouts_total{action=~"stop.*"}`:                                                  0, // not checked
	} {
		if got := unknownLabelValues(expr, known); len(got) != want {
			t.Errorf("unknownLabelValues(%s) = %v, want %d", expr, got, want)
		}
	}
}

// TestAlertsUseExportedLabelValues holds the rules and their unit tests' input series to the label
// values the controller exports, so a renamed value cannot leave an alert that never fires next
// to a unit test that feeds it the old value.
func TestAlertsUseExportedLabelValues(t *testing.T) {
	known := knownLabelValues(t)
	var rf ruleFile
	readYAML(t, &rf, "config/prometheus/alerts.yml")
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if bad := unknownLabelValues(r.Expr, known); len(bad) > 0 {
				t.Errorf("%s%s matches label values the controller does not export: %v", r.Alert, r.Record, bad)
			}
		}
	}
	var tf struct {
		Tests []struct {
			Name        string
			InputSeries []struct{ Series string } `yaml:"input_series"`
		}
	}
	readYAML(t, &tf, "config/prometheus/alerts_test.yml")
	for _, tc := range tf.Tests {
		for _, s := range tc.InputSeries {
			if bad := unknownLabelValues(s.Series, known); len(bad) > 0 {
				t.Errorf("alerts_test.yml %q: input series with label values the controller does not export: %v", tc.Name, bad)
			}
		}
	}
}

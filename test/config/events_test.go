package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// The event queue's alerts live in a file of their own, with runbooks in config/README.md: the
// controller does not consume a queue yet, so they are not part of the README's promises.
const (
	eventsRunbookBase = "https://github.com/ecs-drainer/ecs-drainer/blob/main/config/README.md#runbook-"
	eventsAlertsFile  = "events-alerts.yml"
)

// eventMetricNames returns the series names the event metrics export (pkg/metrics.NewEventMetrics).
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

func TestEventAlertRules(t *testing.T) {
	var rf ruleFile
	readYAML(t, &rf, "config/prometheus/"+eventsAlertsFile)
	if len(rf.Groups) != 1 || rf.Groups[0].Name != "ecs-drainer-events" {
		t.Fatalf("want one rule group named ecs-drainer-events, got %d groups", len(rf.Groups))
	}
	known := eventMetricNames(t)
	readme := string(readFile(t, "config/README.md"))
	var tf ruleTestFile
	readYAML(t, &tf, "config/prometheus/events-alerts_test.yml")
	if !slices.Equal(tf.RuleFiles, []string{eventsAlertsFile}) {
		t.Errorf("events-alerts_test.yml tests %v, want [%s]", tf.RuleFiles, eventsAlertsFile)
	}
	fires, quiet := map[string]int{}, map[string]int{}
	for _, tc := range tf.Tests {
		for _, c := range tc.AlertRuleTest {
			if len(c.ExpAlerts) > 0 {
				fires[c.Alertname]++
			} else {
				quiet[c.Alertname]++
			}
		}
	}
	for _, r := range rf.Groups[0].Rules {
		t.Run(r.Alert, func(t *testing.T) {
			if r.Alert == "" || r.Labels["severity"] != "warning" {
				t.Errorf("rule %q with severity %q: want alerts of severity warning (polling still protects)", r.Alert, r.Labels["severity"])
			}
			if got, want := r.Annotations["runbook_url"], eventsRunbookBase+strings.ToLower(r.Alert); got != want {
				t.Errorf("runbook_url %q, want %q", got, want)
			}
			if !strings.Contains(readme, "\n"+runbookHeader+r.Alert+"\n") {
				t.Errorf("config/README.md lacks the heading %q", runbookHeader+r.Alert)
			}
			if bad := unknownMetrics(r.Expr, known); len(bad) > 0 {
				t.Errorf("expression uses %v, which pkg/metrics.NewEventMetrics does not export", bad)
			}
			if !strings.Contains(r.Expr, `job="ecs-drainer"`) {
				t.Errorf(`expression does not select job="ecs-drainer"`)
			}
			if fires[r.Alert] == 0 || quiet[r.Alert] == 0 {
				t.Errorf("%d test cases where it fires, %d where it stays quiet; want both", fires[r.Alert], quiet[r.Alert])
			}
		})
	}
	var prom struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	readYAML(t, &prom, "config/prometheus/prometheus.yml")
	if !slices.Contains(prom.RuleFiles, eventsAlertsFile) {
		t.Errorf("prometheus.yml rule_files %v lacks %s", prom.RuleFiles, eventsAlertsFile)
	}
}

func TestPromtoolEventAlerts(t *testing.T) {
	t.Parallel() // runs an external tool: overlap it with the rest
	runTool(t, repoPath("config", "prometheus"), "promtool", "check", "rules", eventsAlertsFile)
	runTool(t, repoPath("config", "prometheus"), "promtool", "test", "rules", "events-alerts_test.yml")
}

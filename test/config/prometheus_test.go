package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	runbookBase   = "https://github.com/ecs-drainer/ecs-drainer#runbook-"
	runbookHeader = "### Runbook: "
)

// requiredAlerts are the alerts the project promises (config/README.md lists them).
var requiredAlerts = []string{
	"EcsDrainerDrainStuck",
	"EcsDrainerLifecycleActionExpired",
	"EcsDrainerDrainTimedOut",
	"EcsDrainerResyncStale",
	"EcsDrainerDown",
	"EcsDrainerAWSThrottling",
	"EcsDrainerAWSErrors",
	"EcsDrainerReconcileErrors",
}

type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert       string
			Record      string
			Expr        string
			For         string
			Labels      map[string]string
			Annotations map[string]string
		}
	}
}

type ruleTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	}
}

func readYAML(t *testing.T, v any, parts ...string) {
	t.Helper()
	if err := yaml.Unmarshal(readFile(t, parts...), v); err != nil {
		t.Fatalf("parsing %s: %v", filepath.Join(parts...), err)
	}
}

// knownMetrics reads the controller's metrics from pkg/metrics/testdata/metrics.golden (the exact
// exposition of a fresh controller, checked against the code by pkg/metrics' tests) and returns
// every series name a query may use: histograms with their _bucket, _sum and _count; plus the
// event queue's metrics, which exist only with --queue-url.
func knownMetrics(t *testing.T) []string {
	t.Helper()
	golden := string(readFile(t, "pkg", "metrics", "testdata", "metrics.golden"))
	typeRE := regexp.MustCompile(`^# TYPE (ecs_drainer_[a-z0-9_]+) ([a-z]+)$`)
	var names []string
	for line := range strings.Lines(golden) {
		m := typeRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		name, typ := m[1], m[2]
		if typ == "histogram" {
			names = append(names, name+"_bucket", name+"_sum", name+"_count")
		} else {
			names = append(names, name)
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d metrics in metrics.golden: %v; has its shape changed?", len(names), names)
	}
	return append(names, eventMetricNames(t)...)
}

var metricRE = regexp.MustCompile(`\becs_drainer_[a-z0-9_]+`)

// unknownMetrics returns the ecs_drainer_ series expr uses that the controller does not export.
func unknownMetrics(expr string, known []string) []string {
	var bad []string
	for _, m := range metricRE.FindAllString(expr, -1) {
		if !slices.Contains(known, m) {
			bad = append(bad, m)
		}
	}
	return bad
}

func TestAlertRules(t *testing.T) {
	var rf ruleFile
	readYAML(t, &rf, "config/prometheus/alerts.yml")
	if len(rf.Groups) != 1 || rf.Groups[0].Name != "ecs-drainer" {
		t.Fatalf("want one rule group named ecs-drainer, got %d groups", len(rf.Groups))
	}
	known := knownMetrics(t)
	var names []string
	for _, r := range rf.Groups[0].Rules {
		if r.Alert == "" {
			continue
		}
		names = append(names, r.Alert)
		t.Run(r.Alert, func(t *testing.T) {
			if sev := r.Labels["severity"]; sev != "page" && sev != "warning" {
				t.Errorf("severity %q, want page or warning", sev)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("no %s annotation", a)
				}
			}
			if got, want := r.Annotations["runbook_url"], runbookBase+strings.ToLower(r.Alert); got != want {
				t.Errorf("runbook_url %q, want %q (README heading %q)", got, want, runbookHeader+r.Alert)
			}
			if bad := unknownMetrics(r.Expr, known); len(bad) > 0 {
				t.Errorf("expression uses %v, which the controller does not export", bad)
			}
			if !strings.Contains(r.Expr, `job="ecs-drainer"`) {
				t.Errorf(`expression does not select job="ecs-drainer", the scrape job of prometheus.yml`)
			}
		})
	}
	for _, a := range requiredAlerts {
		if !slices.Contains(names, a) {
			t.Errorf("alert %s is missing", a)
		}
	}
}

// TestEveryAlertIsUnitTested checks that alerts_test.yml has, for every alert, a case where it
// fires and a case where it stays quiet; promtool then checks that they pass.
func TestEveryAlertIsUnitTested(t *testing.T) {
	var rf ruleFile
	readYAML(t, &rf, "config/prometheus/alerts.yml")
	var tf ruleTestFile
	readYAML(t, &tf, "config/prometheus/alerts_test.yml")
	if !slices.Equal(tf.RuleFiles, []string{"alerts.yml"}) {
		t.Errorf("alerts_test.yml tests %v, want [alerts.yml]", tf.RuleFiles)
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
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if fires[r.Alert] == 0 {
				t.Errorf("%s: no test case where it fires", r.Alert)
			}
			if quiet[r.Alert] == 0 {
				t.Errorf("%s: no test case where it stays quiet", r.Alert)
			}
		}
	}
}

// TestReadmeHasARunbookPerAlert holds the README to the runbook anchors the alerts link to, once
// the README has runbooks at all.
func TestReadmeHasARunbookPerAlert(t *testing.T) {
	readme, err := os.ReadFile(repoPath("README.md"))
	if err != nil || !strings.Contains(string(readme), runbookHeader) {
		t.Skipf("README.md has no %q headings yet", runbookHeader)
	}
	var rf ruleFile
	readYAML(t, &rf, "config/prometheus/alerts.yml")
	headings := map[string]bool{}
	for line := range strings.Lines(string(readme)) {
		headings[strings.TrimSpace(line)] = true
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if want := runbookHeader + r.Alert; r.Alert != "" && !headings[want] {
				t.Errorf("README.md lacks the heading %q that %s's runbook_url points at", want, r.Alert)
			}
		}
	}
}

func TestPromtoolCheckConfig(t *testing.T) {
	t.Parallel() // runs an external tool: overlap it with the rest
	runTool(t, repoPath("config", "prometheus"), "promtool", "check", "config", "prometheus.yml")
}

func TestPromtoolCheckRules(t *testing.T) {
	t.Parallel() // runs an external tool: overlap it with the rest
	runTool(t, repoPath("config", "prometheus"), "promtool", "check", "rules", "alerts.yml")
}

func TestPromtoolTestRules(t *testing.T) {
	t.Parallel() // runs an external tool: overlap it with the rest
	runTool(t, repoPath("config", "prometheus"), "promtool", "test", "rules", "alerts_test.yml")
}

func TestPrometheusConfigScrapesTheController(t *testing.T) {
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, &cfg, "config/prometheus/prometheus.yml")
	if !slices.Contains(cfg.RuleFiles, "alerts.yml") {
		t.Errorf("rule_files %v lacks alerts.yml", cfg.RuleFiles)
	}
	var targets []string
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "ecs-drainer" {
			continue
		}
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("metrics_path %q, want /metrics", sc.MetricsPath)
		}
		for _, s := range sc.StaticConfigs {
			targets = append(targets, s.Targets...)
		}
	}
	if len(targets) == 0 {
		t.Fatal("no static target in a scrape job named ecs-drainer")
	}
	for _, tg := range targets {
		if !strings.HasSuffix(tg, ":"+defaultHTTPPort) {
			t.Errorf("target %q is not on port %s", tg, defaultHTTPPort)
		}
	}
}

// TestGrafanaDashboard checks the dashboard's shape, that every query uses metrics and label
// values the controller exports, and that the panels show what an operator needs;
// TestGrafanaQueriesParse checks their syntax.
func TestGrafanaDashboard(t *testing.T) {
	dash := loadDashboard(t)
	if dash.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want a current one (39)", dash.SchemaVersion)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	hasDatasourceVar := slices.ContainsFunc(dash.Templating.List, func(v templateVar) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	})
	if !hasDatasourceVar {
		t.Error("no datasource template variable of type prometheus")
	}
	used := map[string]bool{}
	checkPanels(t, dashPanels(dash), knownMetrics(t), knownLabelValues(t), used)
	for _, want := range []string{
		"ecs_drainer_drains_in_progress", "ecs_drainer_oldest_drain_age_seconds",
		"ecs_drainer_drains_ended_total", "ecs_drainer_lifecycle_actions_completed_total",
		"ecs_drainer_drain_duration_seconds_bucket", "ecs_drainer_aws_requests_total",
		"ecs_drainer_workqueue_depth", "ecs_drainer_last_resync_success_timestamp_seconds",
		// Heartbeats: what is due against the request budget, and how close actions are to expiring.
		"ecs_drainer_heartbeats_due_per_second", "ecs_drainer_aws_request_rate_limit",
		"ecs_drainer_heartbeats_at_risk", "ecs_drainer_heartbeats_late_total",
		// The event path (--queue-url).
		"ecs_drainer_events_received_total", "ecs_drainer_event_lag_seconds_bucket",
		"ecs_drainer_event_queue_errors_total", "ecs_drainer_event_queue_last_receive_success_timestamp_seconds",
		"ecs_drainer_instances_found_by_resync_total",
	} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
}

// checkPanels checks each panel queries the datasource variable and only the metrics and label
// values known, and records in used the metrics the panels show.
func checkPanels(t *testing.T, panels []panel, known []string, values labelValues, used map[string]bool) {
	t.Helper()
	for _, p := range panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %q, want ${datasource}", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if bad := unknownMetrics(tg.Expr, known); len(bad) > 0 {
				t.Errorf("panel %q uses %v, which the controller does not export", p.Title, bad)
			}
			if bad := unknownLabelValues(tg.Expr, values); len(bad) > 0 {
				t.Errorf("panel %q matches label values the controller does not export: %v", p.Title, bad)
			}
			for _, m := range metricRE.FindAllString(tg.Expr, -1) {
				used[m] = true
			}
		}
	}
}

type templateVar struct {
	Name, Type string
	Query      any
}

type dashboard struct {
	UID           string
	Title         string
	SchemaVersion int
	Templating    struct{ List []templateVar }
	Panels        []panel
}

type panel struct {
	Type, Title string
	Datasource  struct{ Type, UID string }
	Targets     []struct{ Expr string }
	// Panels are those of a collapsed row.
	Panels []panel
}

// dashPanels returns every panel of the dashboard, those inside collapsed rows included.
func dashPanels(d dashboard) []panel {
	var all []panel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...)
	}
	return all
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	readJSON(t, &d, "config/grafana/ecs-drainer.json")
	return d
}

// grafanaVars are the dashboard variables and Grafana's built-in ones, with a value that makes
// the query valid PromQL.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$job", ".+")

// TestGrafanaQueriesParse has promtool parse every panel query, as recording rules in a
// temporary rule file.
func TestGrafanaQueriesParse(t *testing.T) {
	t.Parallel() // runs an external tool: overlap it with the rest
	dash := loadDashboard(t)
	var b strings.Builder
	b.WriteString("groups:\n  - name: grafana\n    rules:\n")
	n := 0
	for _, p := range dashPanels(dash) {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				continue
			}
			quoted, err := yaml.Marshal(grafanaVars.Replace(tg.Expr))
			if err != nil {
				t.Fatalf("quoting %q: %v", tg.Expr, err)
			}
			fmt.Fprintf(&b, "      - record: grafana:panel%d\n        expr: %s", n, quoted)
			n++
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "grafana.yml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	runTool(t, dir, "promtool", "check", "rules", "grafana.yml")
}

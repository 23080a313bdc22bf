package config_test

import (
	"os/exec"
	"strings"
	"testing"
)

const alertmanagerDir = "config/alertmanager"

// The receivers config/alertmanager/alertmanager.yml must route each severity of alerts.yml to.
var receiversBySeverity = map[string]string{
	"page":    "webhook,pagerduty",
	"warning": "webhook,slack",
}

func TestAlertmanagerCheckConfig(t *testing.T) {
	runTool(t, repoPath(alertmanagerDir), "amtool", "check-config", "alertmanager.yml")
}

// TestAlertmanagerRoutesEveryAlert asks amtool where each alert of alerts.yml goes: a page to
// PagerDuty, a warning to Slack, and every one to the webhook too.
func TestAlertmanagerRoutesEveryAlert(t *testing.T) {
	amtool := lookTool(t, "amtool")
	var rf ruleFile
	readYAML(t, &rf, "config/prometheus/alerts.yml")
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			want, ok := receiversBySeverity[r.Labels["severity"]]
			if !ok {
				t.Errorf("alert %s has severity %q, which the routing does not know", r.Alert, r.Labels["severity"])
				continue
			}
			cmd := exec.CommandContext(t.Context(), amtool, "config", "routes", "test", "--config.file=alertmanager.yml",
				"alertname="+r.Alert, "severity="+r.Labels["severity"], "job=ecs-drainer")
			cmd.Dir = repoPath(alertmanagerDir)
			out, err := cmd.Output()
			if got := strings.TrimSpace(string(out)); err != nil || got != want {
				t.Errorf("alert %s (severity %s) goes to %q (%v), want %q", r.Alert, r.Labels["severity"], got, err, want)
			}
		}
	}
}

// TestAlertmanagerConfigHoldsNoSecrets checks that the example reads its Slack URL and PagerDuty
// key from files: a secret written into the file would be committed with it.
func TestAlertmanagerConfigHoldsNoSecrets(t *testing.T) {
	var cfg struct {
		Receivers []struct {
			Name             string
			SlackConfigs     []map[string]any `yaml:"slack_configs"`
			PagerdutyConfigs []map[string]any `yaml:"pagerduty_configs"`
		}
	}
	readYAML(t, &cfg, alertmanagerDir, "alertmanager.yml")
	for _, r := range cfg.Receivers {
		for _, c := range r.SlackConfigs {
			if _, ok := c["api_url_file"]; !ok || c["api_url"] != nil {
				t.Errorf("receiver %s: Slack's webhook URL is a secret: use api_url_file, not api_url", r.Name)
			}
		}
		for _, c := range r.PagerdutyConfigs {
			if _, ok := c["routing_key_file"]; !ok || c["routing_key"] != nil || c["service_key"] != nil {
				t.Errorf("receiver %s: PagerDuty's key is a secret: use routing_key_file", r.Name)
			}
		}
	}
}

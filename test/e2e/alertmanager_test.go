package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// Substitutions applied to a copy of config/alertmanager/alertmanager.yml, each of which must match
// exactly once: notify at once and on every change instead of batching for minutes, deliver the
// webhook receiver's notifications to the test, and read the receivers' secrets from files the test
// writes (Slack's URL pointing at the test too, so that nothing leaves loopback).
const (
	amGroupWaitProd     = "group_wait: 30s"
	amGroupWaitTest     = "group_wait: 1s"
	amGroupIntervalProd = "group_interval: 5m"
	amGroupIntervalTest = "group_interval: 1s"
	amWebhookURLProd    = "url: http://alert-receiver.example.internal:9095/alerts"
	amSlackURLFileProd  = "/etc/alertmanager/secrets/slack-webhook-url"
	amPagerDutyKeyProd  = "/etc/alertmanager/secrets/pagerduty-routing-key"
	amWebhookReceiver   = "webhook" // the receiver of alertmanager.yml that the test runs
)

// amStart runs Debian's Alertmanager on a free loopback port with a templated copy of the shipped
// configuration whose webhook and Slack notifications go to rcv, and returns its address. Clustering
// is off: one Alertmanager, no gossip port.
func amStart(t *testing.T, bin string, rcv *amReceiver) string {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const file = "alertmanager.yml"
	cfg := promReadFile(t, filepath.Join(root, "config", "alertmanager", file))
	cfg = promSubstituteOnce(t, file, cfg, amGroupWaitProd, amGroupWaitTest)
	cfg = promSubstituteOnce(t, file, cfg, amGroupIntervalProd, amGroupIntervalTest)
	cfg = promSubstituteOnce(t, file, cfg, amWebhookURLProd, "url: "+rcv.url+"/alerts")
	cfg = promSubstituteOnce(t, file, cfg, amSlackURLFileProd, filepath.Join(dir, "slack-webhook-url"))
	cfg = promSubstituteOnce(t, file, cfg, amPagerDutyKeyProd, filepath.Join(dir, "pagerduty-routing-key"))
	promWriteFiles(t, dir, map[string]string{
		file:                    cfg,
		"slack-webhook-url":     rcv.url + "/slack",
		"pagerduty-routing-key": "not-a-real-routing-key",
	})

	addr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, "Alertmanager", dir, bin, addr,
		"--config.file="+filepath.Join(dir, file),
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
	)
	return addr
}

// amNotification is the body of one webhook notification (Alertmanager's webhook format, version 4).
type amNotification struct {
	Version  string    `json:"version"`
	Receiver string    `json:"receiver"`
	Status   string    `json:"status"` // firing or resolved
	Alerts   []amAlert `json:"alerts"`
}

type amAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// amReceiver is the test's end of Alertmanager's notifications: the webhook receiver's JSON on
// /alerts, and Slack's on /slack (kept as text: only the runbook link in it is checked).
type amReceiver struct {
	url           string
	mu            sync.Mutex
	notifications []amNotification
	slack         []string
}

func amNewReceiver(t *testing.T) *amReceiver {
	t.Helper()
	rcv := &amReceiver{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /alerts", func(w http.ResponseWriter, r *http.Request) {
		var n amNotification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		rcv.notifications = append(rcv.notifications, n)
		rcv.mu.Unlock()
	})
	mux.HandleFunc("POST /slack", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		rcv.slack = append(rcv.slack, string(body))
		rcv.mu.Unlock()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	rcv.url = srv.URL
	return rcv
}

// received returns the alerts named name that reached the webhook receiver in notifications of
// status (firing or resolved).
func (r *amReceiver) received(name, status string) []amAlert {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []amAlert
	for _, n := range r.notifications {
		if n.Receiver != amWebhookReceiver || n.Status != status {
			continue
		}
		for _, a := range n.Alerts {
			if a.Labels["alertname"] == name && a.Status == status {
				out = append(out, a)
			}
		}
	}
	return out
}

// alertNames is every alert name that reached the webhook receiver.
func (r *amReceiver) alertNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, n := range r.notifications {
		for _, a := range n.Alerts {
			if !slices.Contains(names, a.Labels["alertname"]) {
				names = append(names, a.Labels["alertname"])
			}
		}
	}
	slices.Sort(names)
	return names
}

// slackMentions reports whether a Slack message mentioned every one of parts.
func (r *amReceiver) slackMentions(parts ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.slack, func(msg string) bool {
		for _, p := range parts {
			if !strings.Contains(msg, p) {
				return false
			}
		}
		return true
	})
}

func (r *amReceiver) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("%d webhook notifications %+v, %d Slack messages", len(r.notifications), r.notifications, len(r.slack))
}

// amWaitDelivered waits until the webhook receiver has a notification of status (firing or
// resolved) for the alert name, and checks that each one carries the labels Prometheus gave the
// alert and the rule's runbook link.
func amWaitDelivered(t *testing.T, rcv *amReceiver, name string, labels map[string]string, runbookURL, status string) {
	t.Helper()
	promWait(t, fmt.Sprintf("the %s %s reaches the webhook receiver through Alertmanager", status, name), func() (bool, string) {
		return len(rcv.received(name, status)) > 0, rcv.String()
	})
	got := rcv.received(name, status)
	t.Logf("Alertmanager delivered the %s %s to the webhook receiver: labels %v, runbook_url %s",
		status, name, got[0].Labels, got[0].Annotations["runbook_url"])
	for _, a := range got {
		if !maps.Equal(a.Labels, labels) {
			t.Errorf("%s notification of %s: labels %v, want Prometheus' %v", status, name, a.Labels, labels)
		}
		if got := a.Annotations["runbook_url"]; runbookURL == "" || got != runbookURL {
			t.Errorf("%s notification of %s: runbook_url %q, want the rule's %q", status, name, got, runbookURL)
		}
	}
}

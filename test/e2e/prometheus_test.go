package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	dto "github.com/prometheus/client_model/go"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// The production EcsDrainerDrainStuck rule waits for a drain older than 30 minutes for 5 minutes.
// The test runs a copy of config/prometheus/alerts.yml in which exactly these two strings, inside
// that rule's block only, are replaced by seconds; the expression, labels and annotations are the
// shipped ones. If the rule no longer contains them the test fails rather than test nothing.
const (
	promStuckRule          = "EcsDrainerDrainStuck"
	promDownRule           = "EcsDrainerDown"
	promStuckThresholdProd = "> 1800"
	promStuckThresholdTest = "> 3"
	promStuckForProd       = "for: 5m"
	promStuckForTest       = "for: 5s"
	promStuckForSeconds    = 5
)

// Substitutions applied to a copy of config/prometheus/prometheus.yml: scrape and evaluate every
// second, scrape the controller under test, and send alerts to a loopback stand-in for
// Alertmanager (the shipped "alertmanager:9093" would need DNS). Each must match exactly once.
const (
	promScrapeIntervalProd = "scrape_interval: 30s"
	promEvalIntervalProd   = "evaluation_interval: 30s"
	promTargetProd         = `targets: ["ecs-drainer.internal:8080"]`
	promAlertmanagerProd   = `targets: ["alertmanager:9093"]`
	promIntervalTest       = "1s"
)

// Waiting limits. They bound how long the test waits for an outcome; nothing asserts durations.
const (
	promStartLimit = 30 * time.Second
	promPhaseLimit = 30 * time.Second
	promPoll       = 200 * time.Millisecond
	promStopLimit  = 10 * time.Second
)

// TestStuckDrainAlertOnRealPrometheus makes a drain stall on the simulator (a service whose
// deployment configuration lets no task move: minimumHealthyPercent=100, maximumPercent=100, on
// the only instance of its cluster), and checks on a real Prometheus running the project's rules
// that EcsDrainerDrainStuck goes pending, then firing, and clears once the drain is unstuck and
// completes, while EcsDrainerDown and every other alert stay quiet. Prometheus sends its alerts to
// a real Alertmanager running config/alertmanager/alertmanager.yml, which must deliver the alert,
// firing then resolved, with its labels and runbook link, to the webhook receiver the test runs.
func TestStuckDrainAlertOnRealPrometheus(t *testing.T) {
	promBin := requireTool(t, "prometheus", "prometheus")
	amBin := requireTool(t, "prometheus-alertmanager", "prometheus-alertmanager")
	sim, ctl := promStartStack(t)
	rcv := amNewReceiver(t)
	prom := promStart(t, promBin, ctl.Addr, amStart(t, amBin, rcv))

	const cluster, service = "prom-stuck", "api"
	fleet := promFleet(cluster, 1, demo.Service{Name: service, DesiredCount: 1, MinimumHealthyPercent: 100, MaximumPercent: 100})
	asg := fleet.Clusters[0].ASGs[0].Name
	as, ec := harness.Clients("http://" + sim.Addr)
	promBuildFleet(t, sim, as, ec, fleet, 1)

	promWaitRulesLoaded(t, prom)
	states := checkStuckRuleLoaded(t, prom)

	if _, err := as.SetDesiredCapacity(t.Context(), &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(asg), DesiredCapacity: aws.Int32(0),
	}); err != nil {
		t.Fatalf("scaling in %s: %v", asg, err)
	}

	for _, want := range []string{"pending", "firing"} {
		promWait(t, promStuckRule+" is "+want, func() (bool, string) {
			rules, err := promRules(prom.addr)
			if err != nil {
				return false, err.Error()
			}
			states.record(rules)
			r := rules[promStuckRule]
			return r.State == want, fmt.Sprintf("state %q, alerts %+v", r.State, r.Alerts)
		})
	}
	labels, runbook := checkStuckAlertFires(t, prom, rcv)

	checkStuck(t, sim, ctl)

	// Unstick: with no task wanted, ECS stops the one on the draining instance.
	if _, err := ec.UpdateService(t.Context(), &ecs.UpdateServiceInput{
		Cluster: aws.String(cluster), Service: aws.String(service), DesiredCount: aws.Int32(0),
	}); err != nil {
		t.Fatalf("scaling service %s to 0: %v", service, err)
	}
	promWait(t, promStuckRule+" clears", func() (bool, string) {
		rules, err := promRules(prom.addr)
		if err != nil {
			return false, err.Error()
		}
		states.record(rules)
		r := rules[promStuckRule]
		return r.State == "inactive" && len(r.Alerts) == 0, fmt.Sprintf("state %q, alerts %+v", r.State, r.Alerts)
	})
	amWaitDelivered(t, rcv, promStuckRule, labels, runbook, "resolved")
	// The controller counts a drain as ended when it sees the instance leave Terminating:Wait,
	// on its next look after the completion.
	promWait(t, "the instance terminates and the controller sees the drain end", func() (bool, string) {
		s := promStats(t, sim.Addr)
		ended := harness.Sum(promMetrics(t, ctl.Addr), "ecs_drainer_drains_ended_total", nil)
		return s.Terminated == 1 && ended == 1, fmt.Sprintf("terminated %d, drains ended %v", s.Terminated, ended)
	})

	checkDrainEndedOnce(t, sim, ctl)

	checkOnlyStuckAlerted(t, states, rcv)
}

// promWaitRulesLoaded waits until Prometheus scrapes the controller and has evaluated every rule,
// including the templated one, since. Until the first scrape absent(up) holds, so EcsDrainerDown
// is rightly pending; from here on the controller is up and states are recorded.
func promWaitRulesLoaded(t *testing.T, prom *promServer) {
	t.Helper()
	promWait(t, "Prometheus scrapes the controller and evaluates every rule", func() (bool, string) {
		up, err := promQueryScalar(prom.addr, `up{job="ecs-drainer"}`)
		if err != nil {
			return false, err.Error()
		}
		rules, err := promRules(prom.addr)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range rules {
			if r.Health != "ok" {
				return false, fmt.Sprintf("rule %s health %q %s", r.Name, r.Health, r.LastError)
			}
		}
		down := rules[promDownRule]
		return up == 1 && down.State == "inactive", fmt.Sprintf("up = %v, %s %q", up, promDownRule, down.State)
	})
}

// checkStuckRuleLoaded checks Prometheus loaded the templated stuck-drain rule, inactive before
// any scale-in, and returns the rule states recorded so far.
func checkStuckRuleLoaded(t *testing.T, prom *promServer) promStateLog {
	t.Helper()
	states := promStateLog{}
	rules, err := promRules(prom.addr)
	if err != nil {
		t.Fatal(err)
	}
	states.record(rules)
	stuck, ok := rules[promStuckRule]
	if !ok {
		t.Fatalf("Prometheus loaded no rule %s from the templated alerts.yml; rules: %v", promStuckRule, slices.Sorted(maps.Keys(rules)))
	}
	if !strings.Contains(stuck.Query, promStuckThresholdTest) || stuck.Duration != promStuckForSeconds {
		t.Fatalf("rule %s runs query %q for %vs, want the templated threshold %q for %ds", promStuckRule, stuck.Query, stuck.Duration, promStuckThresholdTest, promStuckForSeconds)
	}
	if stuck.State != "inactive" {
		t.Fatalf("rule %s is %q before any scale-in, want inactive", promStuckRule, stuck.State)
	}
	return states
}

// checkStuckAlertFires checks the stuck-drain alert carries its labels and reaches the webhook
// and, with its runbook link, the Slack receiver. It returns the labels and the runbook URL.
func checkStuckAlertFires(t *testing.T, prom *promServer, rcv *amReceiver) (map[string]string, string) {
	t.Helper()
	rules, err := promRules(prom.addr)
	if err != nil {
		t.Fatal(err)
	}
	alerts := rules[promStuckRule].Alerts
	if len(alerts) != 1 {
		t.Fatalf("%s has %d alerts, want 1 (one job): %+v", promStuckRule, len(alerts), alerts)
	}
	labels, runbook := alerts[0].Labels, rules[promStuckRule].Annotations["runbook_url"]
	if labels["severity"] != "warning" || labels["job"] != "ecs-drainer" || labels["alertname"] != promStuckRule {
		t.Errorf("%s alert labels %v, want alertname=%s job=ecs-drainer severity=warning", promStuckRule, labels, promStuckRule)
	}
	amWaitDelivered(t, rcv, promStuckRule, labels, runbook, "firing")
	// The warning also goes to Slack, whose message template must carry the runbook link.
	promWait(t, "the Slack receiver gets the firing "+promStuckRule+" with its runbook link", func() (bool, string) {
		return rcv.slackMentions("FIRING", promStuckRule, runbook), rcv.String()
	})
	return labels, runbook
}

// checkStuck checks the drain really is stuck, not slow: DRAINING, not completed, and the
// controller sees it.
func checkStuck(t *testing.T, sim, ctl *harness.Process) {
	t.Helper()
	tl := promTimelines(t, sim.Addr)
	if len(tl) != 1 || tl[0].DrainingAt.IsZero() || !tl[0].CompletedAt.IsZero() || !tl[0].TerminatedAt.IsZero() {
		t.Fatalf("while the alert fires, want one instance DRAINING and not completed; timelines %+v", tl)
	}
	ctlMetrics := promMetrics(t, ctl.Addr)
	if got := harness.Sum(ctlMetrics, "ecs_drainer_drains_in_progress", nil); got != 1 {
		t.Errorf("ecs_drainer_drains_in_progress = %v while stuck, want 1", got)
	}
}

// checkDrainEndedOnce checks the drain ended the right way, once, in the controller's metrics
// and the simulator's ground truth.
func checkDrainEndedOnce(t *testing.T, sim, ctl *harness.Process) {
	t.Helper()
	ctlMetrics := promMetrics(t, ctl.Addr)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ecs_drainer_drains_in_progress", nil, 0},
		{"ecs_drainer_drains_ended_total", nil, 1},
		{"ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"}, 1},
		{"ecs_drainer_lifecycle_actions_completed_total", nil, 1},
		{"ecs_drainer_lifecycle_actions_completed_total", map[string]string{"result": "continue", "reason": "drained"}, 1},
		{"ecs_drainer_drain_duration_seconds", map[string]string{"outcome": "drained"}, 1},
		{"ecs_drainer_drain_timeouts_total", nil, 0},
		{"ecs_drainer_tasks_stopped_total", nil, 0},
	} {
		if got := harness.Sum(ctlMetrics, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	s := promStats(t, sim.Addr)
	if s.LifecycleActionsCompleted["CONTINUE"] != 1 || len(s.CompletionsByInstance) != 1 || s.LifecycleActionsTimedOut != 0 || s.TerminatedWithTasks != 0 {
		t.Errorf("simulator: completed %v by instance %v, timed out %d, terminated with tasks %d; want one CONTINUE, none timed out or killed",
			s.LifecycleActionsCompleted, s.CompletionsByInstance, s.LifecycleActionsTimedOut, s.TerminatedWithTasks)
	}
}

// checkOnlyStuckAlerted checks EcsDrainerDown saw the controller up throughout, and nothing but
// the stuck drain alerted.
func checkOnlyStuckAlerted(t *testing.T, states promStateLog, rcv *amReceiver) {
	t.Helper()
	if got := states.seen(promDownRule); !slices.Equal(got, []string{"inactive"}) {
		t.Errorf("%s went through states %v while the controller was up, want only inactive", promDownRule, got)
	}
	if got := states.seen(promStuckRule); !slices.Equal(got, []string{"firing", "inactive", "pending"}) {
		t.Errorf("%s went through states %v, want firing, inactive and pending", promStuckRule, got)
	}
	for name, seen := range states {
		if name != promStuckRule && (seen["pending"] || seen["firing"]) {
			t.Errorf("alert %s went %v during the test; only %s should have", name, states.seen(name), promStuckRule)
		}
	}
	if got := rcv.alertNames(); !slices.Equal(got, []string{promStuckRule}) {
		t.Errorf("the webhook receiver got notifications of %v, want %s only", got, promStuckRule)
	}
}

// TestPromtoolCheckMetricsOnRealScrape lints what the running controller and simulator actually
// serve, after a drain so that the drain histograms and outcome counters carry data.
func TestPromtoolCheckMetricsOnRealScrape(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	sim, ctl := promStartStack(t)

	promScaleInOneOfTwo(t, sim, "prom-lint")
	promWait(t, "one drain completes and its instance terminates", func() (bool, string) {
		mfs, err := harness.Metrics(ctl.Addr)
		if err != nil {
			return false, err.Error()
		}
		ended := harness.Sum(mfs, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"})
		observed := harness.Sum(mfs, "ecs_drainer_drain_duration_seconds", map[string]string{"outcome": "drained"})
		s := promStats(t, sim.Addr)
		return ended == 1 && observed == 1 && s.Terminated == 1,
			fmt.Sprintf("drains completed %v, durations observed %v, instances terminated %d", ended, observed, s.Terminated)
	})

	for _, target := range []*harness.Process{ctl, sim} {
		t.Run(target.Name, func(t *testing.T) {
			body := promScrapeText(t, target.Addr)
			if !bytes.Contains(body, []byte("# TYPE ")) {
				t.Fatalf("scrape of %s has no metric families:\n%s", target.Name, body)
			}
			cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
			cmd.Stdin = bytes.NewReader(body)
			out, err := cmd.CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("promtool check metrics on %s's /metrics: %v\n%s", target.Name, err, out)
			}
		})
	}
}

// promStartStack runs awssim and ecs-drainer with one-second loops, stops both when the test
// ends, and prints their output if it failed.
func promStartStack(t *testing.T) (sim, ctl *harness.Process) {
	t.Helper()
	_, ctlBin, err := harness.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	return startStack(t, ctlBin)
}

// startStack is promStartStack with the controller started by ctlBin: the binary, or a script that
// runs it in a container (test/image/run.sh). It returns once the controller is ready.
func startStack(t *testing.T, ctlBin string) (sim, ctl *harness.Process) {
	t.Helper()
	simBin, _, err := harness.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	sim, err = harness.StartSim(simBin, "--seed=1")
	if err != nil {
		t.Fatal(err)
	}
	promCleanupProcess(t, sim)
	ctl, err = harness.StartController(ctlBin, "http://"+sim.Addr,
		"--resync-period=1s", "--poll-interval=1s", "--log-format=console")
	if err != nil {
		t.Fatal(err)
	}
	promCleanupProcess(t, ctl)
	promWait(t, "the controller is ready (first resync done)", func() (bool, string) {
		resp, err := http.Get("http://" + ctl.Addr + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return sim, ctl
}

func promCleanupProcess(t *testing.T, p *harness.Process) {
	t.Cleanup(func() {
		if err := p.Stop(promStopLimit); err != nil {
			t.Errorf("stopping %s: %v", p.Name, err)
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.Name, p.Output())
		}
	})
}

// promFleet is one cluster with one managed group (a 30 s terminating hook, kept alive by the
// controller's heartbeats) of instances instances and the given service. Tasks stop 1 s after
// SIGTERM so that drains end quickly.
func promFleet(cluster string, instances int, svc demo.Service) demo.Fleet {
	return demo.Fleet{
		StopTimeout:  time.Second,
		PollInterval: 50 * time.Millisecond,
		Clusters: []demo.Cluster{{
			Name: cluster,
			ASGs: []demo.ASG{{
				Name: cluster + "-asg", Min: 0, Desired: instances, Max: instances, TaskSlots: 2,
				Managed: true, HookName: demo.DefaultHookName, HookHeartbeatTimeout: 30 * time.Second,
			}},
			Services: []demo.Service{svc},
		}},
	}
}

// promScaleInOneOfTwo builds a managed group of two instances in cluster with one service task
// that has room to move, so that whichever instance Auto Scaling picks, its drain finishes, and
// scales the group in by one.
func promScaleInOneOfTwo(t *testing.T, sim *harness.Process, cluster string) {
	t.Helper()
	fleet := promFleet(cluster, 2, demo.Service{Name: "web", DesiredCount: 1, MinimumHealthyPercent: 50, MaximumPercent: 200})
	asg := fleet.Clusters[0].ASGs[0].Name
	as, ec := harness.Clients("http://" + sim.Addr)
	promBuildFleet(t, sim, as, ec, fleet, 1)
	if _, err := as.SetDesiredCapacity(t.Context(), &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(asg), DesiredCapacity: aws.Int32(1),
	}); err != nil {
		t.Fatalf("scaling in %s: %v", asg, err)
	}
}

// promBuildFleet builds fleet and waits until its instances are registered and running tasks
// of its services are RUNNING.
func promBuildFleet(t *testing.T, sim *harness.Process, as *autoscaling.Client, ec *ecs.Client, fleet demo.Fleet, runningTasks int) {
	t.Helper()
	if err := demo.Build(t.Context(), as, ec, fleet); err != nil {
		t.Fatal(err)
	}
	if err := demo.WaitRegistered(t.Context(), ec, fleet); err != nil {
		t.Fatal(err)
	}
	promWait(t, fmt.Sprintf("%d service tasks RUNNING", runningTasks), func() (bool, string) {
		mfs, err := harness.Metrics(sim.Addr)
		if err != nil {
			return false, err.Error()
		}
		n := harness.Sum(mfs, "awssim_tasks", map[string]string{"last_status": "RUNNING"})
		return n == float64(runningTasks), fmt.Sprintf("%v RUNNING", n)
	})
}

// promWait waits for cond or fails the test with what it last saw.
func promWait(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	if err := harness.Eventually(promPhaseLimit, promPoll, cond); err != nil {
		t.Fatalf("waiting until %s: %v", what, err)
	}
}

func promMetrics(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := harness.Metrics(addr)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// promScrapeText is the raw text exposition of http://addr/metrics, as Prometheus scrapes it
// without content negotiation.
func promScrapeText(t *testing.T, addr string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scraping %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: status %s, error %v", addr, resp.Status, err)
	}
	return body
}

func promStats(t *testing.T, simAddr string) awssim.Stats {
	t.Helper()
	var s awssim.Stats
	promGetJSON(t, "http://"+simAddr+"/debug/stats", &s)
	return s
}

func promTimelines(t *testing.T, simAddr string) []awssim.Timeline {
	t.Helper()
	var tl []awssim.Timeline
	promGetJSON(t, "http://"+simAddr+"/debug/timeline", &tl)
	return tl
}

func promGetJSON(t *testing.T, u string, v any) {
	t.Helper()
	if err := promFetchJSON(u, v); err != nil {
		t.Fatal(err)
	}
}

func promFetchJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return fmt.Errorf("getting %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("getting %s: status %s: %s", u, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decoding %s: %w", u, err)
	}
	return nil
}

// promServer is a running Prometheus.
type promServer struct {
	addr string
}

// promStart writes the templated configuration and rules into a temporary directory, runs
// Prometheus on a free loopback port with its TSDB there, waits until it is ready, and stops it
// when the test ends.
func promStart(t *testing.T, bin, targetAddr, alertmanagerAddr string) *promServer {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := promReadFile(t, filepath.Join(root, "config", "prometheus", "prometheus.yml"))
	cfg = promSubstituteOnce(t, "prometheus.yml", cfg, promScrapeIntervalProd, "scrape_interval: "+promIntervalTest)
	cfg = promSubstituteOnce(t, "prometheus.yml", cfg, promEvalIntervalProd, "evaluation_interval: "+promIntervalTest)
	cfg = promSubstituteOnce(t, "prometheus.yml", cfg, promTargetProd, fmt.Sprintf("targets: [%q]", targetAddr))
	cfg = promSubstituteOnce(t, "prometheus.yml", cfg, promAlertmanagerProd, fmt.Sprintf("targets: [%q]", alertmanagerAddr))
	rules := promTemplateAlerts(t, promReadFile(t, filepath.Join(root, "config", "prometheus", "alerts.yml")))
	// rule_files in prometheus.yml names "alerts.yml", relative to the configuration file.
	promWriteFiles(t, dir, map[string]string{"prometheus.yml": cfg, "alerts.yml": rules})

	addr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, "Prometheus", dir, bin, addr,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	return &promServer{addr: addr}
}

func promWriteFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatalf("writing %s: %v", name, err)
		}
	}
}

// startServer runs a third-party server (Prometheus, Alertmanager) that serves on addr, with its log
// in dir, and waits until it answers 200 on http://addr/-/ready, the readiness endpoint both have.
// The server runs in its own process group and is stopped when the test ends, its log printed if
// the test failed.
func startServer(t *testing.T, name, dir, bin, addr string, args ...string) {
	t.Helper()
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatalf("creating %s's log file: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so that stopping it reaches nothing else.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("starting %s: %v", bin, err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	// Registered after the caller's t.TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(promStopLimit):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		_ = logFile.Close()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, promReadFile(t, logFile.Name()))
		}
	})

	err = harness.Eventually(promStartLimit, promPoll, func() (bool, string) {
		select {
		case <-done:
			return true, ""
		default:
		}
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	select {
	case <-done:
		t.Fatalf("%s exited before it was ready: %v\n%s", name, waitErr, promReadFile(t, logFile.Name()))
	default:
	}
	if err != nil {
		t.Fatalf("waiting for %s to be ready: %v", name, err)
	}
}

func promReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return string(b)
}

// promSubstituteOnce replaces old by replacement in s, failing the test unless old occurs exactly
// once: a file that changed shape must break the test, not make it test something else.
func promSubstituteOnce(t *testing.T, file, s, old, replacement string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want exactly once; update the test's substitutions to match the file", file, old, n)
	}
	return strings.Replace(s, old, replacement, 1)
}

// promTemplateAlerts shortens EcsDrainerDrainStuck's threshold and "for" within that rule's own
// block (from its "- alert:" line to the next rule's), as the header of alerts.yml documents.
func promTemplateAlerts(t *testing.T, src string) string {
	t.Helper()
	marker := "- alert: " + promStuckRule + "\n"
	if n := strings.Count(src, marker); n != 1 {
		t.Fatalf("alerts.yml: %q occurs %d times, want exactly once", marker, n)
	}
	start := strings.Index(src, marker) + len(marker)
	end := len(src)
	if i := strings.Index(src[start:], "- alert: "); i >= 0 {
		end = start + i
	}
	block := src[start:end]
	block = promSubstituteOnce(t, "alerts.yml rule "+promStuckRule, block, promStuckThresholdProd, promStuckThresholdTest)
	block = promSubstituteOnce(t, "alerts.yml rule "+promStuckRule, block, promStuckForProd, promStuckForTest)
	return src[:start] + block + src[end:]
}

// promRule is one rule of Prometheus' /api/v1/rules.
type promRule struct {
	Name        string            `json:"name"`
	Type        string            `json:"type"`
	Query       string            `json:"query"`
	Duration    float64           `json:"duration"` // the rule's "for", in seconds
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"` // inactive, pending or firing
	Health      string            `json:"health"`
	LastError   string            `json:"lastError"`
	Alerts      []promAlert       `json:"alerts"`
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
	Value  string            `json:"value"`
}

// promRules returns the alerting rules Prometheus runs, by name.
func promRules(addr string) (map[string]promRule, error) {
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			Groups []struct {
				Rules []promRule `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := promFetchJSON("http://"+addr+"/api/v1/rules?type=alert", &resp); err != nil {
		return nil, err
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("/api/v1/rules status %q", resp.Status)
	}
	out := map[string]promRule{}
	for _, g := range resp.Data.Groups {
		for _, r := range g.Rules {
			out[r.Name] = r
		}
	}
	if len(out) == 0 {
		return nil, errors.New("Prometheus runs no alerting rules: the rule file did not load")
	}
	return out, nil
}

// promQueryScalar runs an instant query that must return one sample, and returns its value.
func promQueryScalar(addr, query string) (float64, error) {
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]json.RawMessage `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := promFetchJSON("http://"+addr+"/api/v1/query?query="+url.QueryEscape(query), &resp); err != nil {
		return 0, err
	}
	if resp.Status != "success" || len(resp.Data.Result) != 1 {
		return 0, fmt.Errorf("query %s: status %q, %d samples, want 1", query, resp.Status, len(resp.Data.Result))
	}
	var s string
	if err := json.Unmarshal(resp.Data.Result[0].Value[1], &s); err != nil {
		return 0, fmt.Errorf("query %s: decoding the value: %w", query, err)
	}
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil {
		return 0, fmt.Errorf("query %s: value %q: %w", query, s, err)
	}
	return v, nil
}

// promStateLog is every state each alerting rule was seen in.
type promStateLog map[string]map[string]bool

func (l promStateLog) record(rules map[string]promRule) {
	for name, r := range rules {
		if l[name] == nil {
			l[name] = map[string]bool{}
		}
		l[name][r.State] = true
	}
}

func (l promStateLog) seen(name string) []string {
	return slices.Sorted(maps.Keys(l[name]))
}

package main

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/options"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr []string // substrings, all present; none means valid
		check   func(t *testing.T, c Config)
	}{
		{
			name: "defaults are the issue's fleet",
			args: nil,
			check: func(t *testing.T, c Config) {
				if c.Instances != 10_000 || c.ASGs != 100 || c.Clusters != 10 || c.ScaleIn != 1_000 {
					t.Errorf("fleet = %d/%d/%d/%d, want 10000/100/10/1000", c.Instances, c.ASGs, c.Clusters, c.ScaleIn)
				}
			},
		},
		{
			name: "extra controller flags are passed on after the benchmark's own",
			args: []string{"--instances=1000", "--scale-in=100", "--aws-qps=10", "--aws-burst=20", "--controller-args=--workers=8,--log-level=debug"},
			check: func(t *testing.T, c Config) {
				got := c.controllerFlags("")
				want := []string{"--log-format=json", "--resync-period=10s", "--poll-interval=5s", "--standalone-task-grace=20s", "--aws-qps=10", "--aws-burst=20", "--workers=8", "--log-level=debug"}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("controllerFlags (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "the peer gets the controller's client-side rate limit",
			args: []string{"--peer=aws-sample", "--aws-qps=10", "--aws-burst=20", "--peer-args=--recursive-loop-limit=0"},
			check: func(t *testing.T, c Config) {
				want := []string{"--aws-qps=10", "--aws-burst=20", "--recursive-loop-limit=0"}
				if diff := cmp.Diff(want, c.peerFlags()); diff != "" {
					t.Errorf("peerFlags (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:    "unknown events mode",
			args:    []string{"--events=sometimes"},
			wantErr: []string{`--events is "sometimes": must be off, on or both`},
		},
		{
			name:    "unknown preset",
			args:    []string{"--preset=huge"},
			wantErr: []string{`--preset is "huge": must be one of defaults-200`},
		},
		{
			name:    "unknown peer",
			args:    []string{"--peer=lambda"},
			wantErr: []string{`--peer is "lambda": the only peer is aws-sample`},
		},
		{
			name:    "uneven shape",
			args:    []string{"--instances=1001", "--asgs=15"},
			wantErr: []string{"--asgs is 15: must be a positive multiple of --clusters (10)"},
		},
		{
			name:    "instances not a multiple of groups",
			args:    []string{"--instances=1001"},
			wantErr: []string{"--instances is 1001"},
		},
		{
			name:    "every problem at once",
			args:    []string{"--scale-in=0", "--poll-interval=0s", "--hook-heartbeat-timeout=10s", "--idle-resyncs=0", "--aws-qps=0"},
			wantErr: []string{"--scale-in is 0", "--poll-interval is 0s", "--hook-heartbeat-timeout is 10s", "--idle-resyncs is 0", "--aws-qps (0)"},
		},
		{
			name:    "no room for the tasks of drained instances",
			args:    []string{"--instances=1000", "--scale-in=900", "--task-slots=8"},
			wantErr: []string{"--task-slots is 8: the 100 instances left after scale-in hold 800 tasks, 3100 are needed"},
		},
		{
			name:    "unknown flag",
			args:    []string{"--nope"},
			wantErr: []string{"unknown flag: --nope"},
		},
		{
			name:    "stray argument",
			args:    []string{"extra"},
			wantErr: []string{`unexpected arguments ["extra"]`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("parseFlags: %v", err)
				}
				tt.check(t, c)
				return
			}
			if err == nil {
				t.Fatalf("parseFlags(%q) = nil error, want %q", tt.args, tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestEventsFlag: --events alone is on, and the queue URL goes to the controller before the extra
// flags; without it the controller polls only.
func TestEventsFlag(t *testing.T) {
	c, err := parseFlags([]string{"--events", "--controller-args=--workers=8"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Events != EventsOn || !c.queued() || c.mode() != modeEvents {
		t.Errorf("events = %q (queued %v, mode %s), want on", c.Events, c.queued(), c.mode())
	}
	got := c.controllerFlags("http://sim/q")
	if got[len(got)-2] != "--queue-url=http://sim/q" || got[len(got)-1] != "--workers=8" {
		t.Errorf("controllerFlags = %v", got)
	}
	if c, err = parseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if c.Events != EventsOff || c.queued() || c.mode() != modePolling {
		t.Errorf("events = %q by default, want off", c.Events)
	}
	if slices.ContainsFunc(c.controllerFlags(""), func(f string) bool { return strings.HasPrefix(f, "--queue-url") }) {
		t.Errorf("controllerFlags without a queue pass --queue-url: %v", c.controllerFlags(""))
	}
}

// TestPresetDefaults200: issue 9's fleet at the controller's own defaults; a flag given wins.
func TestPresetDefaults200(t *testing.T) {
	c, err := parseFlags([]string{"--preset=defaults-200", "--scale-in=10"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := options.Parse(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.Instances != 200 || c.ASGs != 1 || c.Clusters != 1 || c.StandalonePerASG != 0 || c.TaskSlots != 4 {
		t.Errorf("fleet = %d/%d/%d, %d standalone, %d slots", c.Instances, c.ASGs, c.Clusters, c.StandalonePerASG, c.TaskSlots)
	}
	if c.ScaleIn != 10 {
		t.Errorf("scale-in = %d, want the flag given (10) over the preset's", c.ScaleIn)
	}
	got := []any{c.ResyncPeriod, c.PollInterval, c.AWSQPS, c.AWSBurst, c.StandaloneTaskGrace}
	want := []any{o.ResyncPeriod, o.PollInterval, o.AWSQPS, o.AWSBurst, o.StandaloneTaskGrace}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("controller settings, want the controller's defaults (-want +got):\n%s", diff)
	}
}

func TestRunHelpAndBadFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"--help"}, &out, &errOut); code != exitOK {
		t.Errorf("--help exit = %d, want %d", code, exitOK)
	}
	if !strings.Contains(out.String(), "--scale-in") {
		t.Errorf("--help does not list --scale-in:\n%s", out.String())
	}
	out.Reset()
	if code := run(t.Context(), []string{"--clusters=0"}, &out, &errOut); code != exitConfig {
		t.Errorf("bad flags exit = %d, want %d", code, exitConfig)
	}
	if !strings.Contains(errOut.String(), "--clusters is 0") {
		t.Errorf("stderr = %q, want the problem named", errOut.String())
	}
}

func TestDistOf(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted on purpose
	}
	tests := []struct {
		name string
		in   []time.Duration
		want Dist
	}{
		{"empty", nil, Dist{}},
		{"one", ms(1500), Dist{Count: 1, Median: 1.5, P99: 1.5, Max: 1.5, Mean: 1.5}},
		{"nearest rank", ms(hundred...), Dist{Count: 100, Median: 0.05, P99: 0.099, Max: 0.1, Mean: 0.051}},
		{"even count median is the lower middle", ms(4000, 1000, 3000, 2000), Dist{Count: 4, Median: 2, P99: 4, Max: 4, Mean: 2.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, distOf(tt.in)); diff != "" {
				t.Errorf("distOf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCallsBetween(t *testing.T) {
	before := simStats{Requests: map[string]int{
		"autoscaling/DescribeAutoScalingGroups/OK": 10,
		"ecs/ListTasks/OK":                         5,
	}}
	after := simStats{Requests: map[string]int{
		"autoscaling/DescribeAutoScalingGroups/OK":                   12,
		"autoscaling/SetDesiredCapacity/OK":                          100,
		"autoscaling/RecordLifecycleActionHeartbeat/OK":              3,
		"autoscaling/RecordLifecycleActionHeartbeat/ValidationError": 1,
		"ecs/ListTasks/OK":                  9,
		"ecs/ListTasks/ThrottlingException": 2,
		"ecs/TagResource/OK":                4,
		"sqs/ReceiveMessage/OK":             7,
		"sqs/DeleteMessageBatch/OK":         5,
	}}
	got := callsBetween(before, after).without("autoscaling/SetDesiredCapacity", 100)
	want := Calls{
		"autoscaling/DescribeAutoScalingGroups":      2,
		"autoscaling/RecordLifecycleActionHeartbeat": 4,
		"ecs/ListTasks":          6,
		"ecs/TagResource":        4,
		"sqs/ReceiveMessage":     7,
		"sqs/DeleteMessageBatch": 5,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("callsBetween (-want +got):\n%s", diff)
	}
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"Total", got.Total(), 28},
		{"Service(autoscaling)", got.Service("autoscaling"), 6},
		{"Service(ecs)", got.Service("ecs"), 10},
		{"Service(sqs)", got.Service("sqs"), 12},
		{"Writes (ECS and Auto Scaling only)", got.Writes(), 8},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	wantErrs := map[string]int{"autoscaling/RecordLifecycleActionHeartbeat/ValidationError": 1, "ecs/ListTasks/ThrottlingException": 2}
	if diff := cmp.Diff(wantErrs, errorsBetween(before, after)); diff != "" {
		t.Errorf("errorsBetween (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]float64{"ecs/ListTasks": 1.5, "ecs/TagResource": 1}, Calls{"ecs/ListTasks": 6, "ecs/TagResource": 4}.per(4)); diff != "" {
		t.Errorf("per (-want +got):\n%s", diff)
	}
}

func TestSummarise(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tls := []timeline{
		{InstanceID: "i-a", TerminatingWaitAt: at(0), DrainingAt: at(2), LastTaskStoppedAt: at(10), CompletedAt: at(12), TerminatedAt: at(12.2), Completions: 1},
		{InstanceID: "i-b", TerminatingWaitAt: at(1), DrainingAt: at(5), LastTaskStoppedAt: at(11), CompletedAt: at(15), TerminatedAt: at(15.2), Completions: 2, Heartbeats: 1},
		// Expired: terminated with a task still running and no completion.
		{InstanceID: "i-c", TerminatingWaitAt: at(1), DrainingAt: at(3), TerminatedAt: at(301), TimedOut: 1, TasksKilled: 2},
		// Never scaled in: only a task-stop record, ignored.
		{InstanceID: "i-d", LastTaskStoppedAt: at(4)},
		// Completed with a task still stopping (runningTasksCount was 0): the kill is its last stop,
		// after the completion, so it is in no STOPPED latency.
		{InstanceID: "i-e", TerminatingWaitAt: at(2), DrainingAt: at(3), LastTaskStoppedAt: at(9.2), CompletedAt: at(9), TerminatedAt: at(9.2), Completions: 1, TasksKilled: 1},
	}
	s := summarise(tls)
	if s.Instances != 4 || s.Completed != 3 || s.Terminated != 4 || s.MultiComplete != 1 || s.TimedOut != 1 || s.TasksKilled != 3 || s.Heartbeats != 1 || s.CompletedWithTasks != 1 {
		t.Errorf("counts = %+v", s)
	}
	if !s.FirstWait.Equal(at(0)) || !s.LastComplete.Equal(at(15)) || !s.LastTerminated.Equal(at(301)) {
		t.Errorf("first wait %v, last completion %v, last termination %v", s.FirstWait, s.LastComplete, s.LastTerminated)
	}
	want := Latencies{
		WaitToDraining:       Dist{Count: 4, Median: 2, P99: 4, Max: 4, Mean: 2.25},
		DrainingToLastStop:   Dist{Count: 2, Median: 6, P99: 8, Max: 8, Mean: 7},
		LastStopToCompleted:  Dist{Count: 2, Median: 2, P99: 4, Max: 4, Mean: 3},
		WaitToCompleted:      Dist{Count: 3, Median: 12, P99: 14, Max: 14, Mean: 11},
		CompletedToTerminate: Dist{Count: 3, Median: 0.2, P99: 0.2, Max: 0.2, Mean: 0.2},
	}
	if diff := cmp.Diff(want, s.Latencies); diff != "" {
		t.Errorf("latencies (-want +got):\n%s", diff)
	}
}

func TestWindows(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sample := func(sec float64, ecs, as, done int) statSample {
		return statSample{at: t0.Add(time.Duration(sec * float64(time.Second))), stats: simStats{
			Requests:                  map[string]int{"ecs/ListTasks/OK": ecs, "autoscaling/CompleteLifecycleAction/OK": as},
			LifecycleActionsCompleted: map[string]int{"CONTINUE": done},
		}}
	}
	samples := []statSample{
		sample(0, 0, 0, 0), sample(1, 3, 0, 0), sample(2, 5, 0, 0),
		sample(3, 9, 2, 2), sample(4, 10, 4, 4), // window 2 ends at the last sample
	}
	got := windows(samples, t0, 2*time.Second)
	want := []window{
		{Start: 0, ECS: 5},
		{Start: 2, ECS: 5, AutoScaling: 4, Completed: 4},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("windows (-want +got):\n%s", diff)
	}
	if got := windows(samples[:1], t0, time.Second); got != nil {
		t.Errorf("windows of one sample = %v, want none", got)
	}
}

func TestSafetyAndTargets(t *testing.T) {
	cfg, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{Config: cfg}
	res.Idle.AutoScalingPerResync = 1
	res.Drain.ECSPerDrain = 3.01
	res.Drain.WritesPerDrain = 2.1
	res.Controller.PeakRSSMiB = 64
	res.Latency.WaitToDraining.Max = 11
	res.Latency.LastStopToCompleted.Max = 6.5
	got := map[string]bool{}
	for _, tg := range targets(cfg, res) {
		got[tg.Name] = tg.Met
	}
	want := map[string]bool{
		"idle resync: Auto Scaling calls":      true,
		"idle resync: ECS calls":               true,
		"ECS calls per drained instance":       false, // 3.01 > 3
		"write calls per drained instance":     true,
		"controller peak RSS":                  false, // under 64 MiB means strictly under
		"Terminating:Wait -> DRAINING (max)":   true,  // exactly resync + 1s is within
		"last task STOPPED -> completed (max)": false,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets met (-want +got):\n%s", diff)
	}

	ok := Safety{DrainsExpected: 10, DrainsCompleted: 10}
	if b := ok.Broken(); len(b) != 0 {
		t.Errorf("Broken() of a clean run = %v", b)
	}
	bad := Safety{DrainsExpected: 10, DrainsCompleted: 9, TasksKilledByTermination: 2, LifecycleActionsExpired: 1, CompletedMoreThanOnce: 1}
	if b := bad.Broken(); len(b) != 4 {
		t.Errorf("Broken() = %v, want 4 problems", b)
	}
}

func TestReportRoundTrip(t *testing.T) {
	cfg, err := parseFlags([]string{"--instances=1000", "--scale-in=100"})
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{Config: cfg, Machine: machine(), ControllerFlags: cfg.controllerFlags("")}
	res.Idle.CallsPerResync = map[string]float64{"autoscaling/DescribeAutoScalingGroups": 1}
	res.Drain.Calls = Calls{"ecs/ListTasks": 100, "autoscaling/CompleteLifecycleAction": 100}
	res.Drain.Completed = 100
	res.Targets = targets(cfg, res)
	table := renderTable(res)
	for _, want := range []string{"autoscaling/DescribeAutoScalingGroups", "ecs/ListTasks", "1.00 per drain", "tasks killed by termination", "Terminating:Wait -> DRAINING"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	dir := t.TempDir()
	if err := writeResults(dir, res); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("bench.json is not JSON: %v", err)
	}
	for _, k := range []string{"machine", "config", "fleet", "idle", "drain", "latencySeconds", "controller", "awssim", "safety", "targets"} {
		if _, ok := back[k]; !ok {
			t.Errorf("bench.json lacks %q", k)
		}
	}
	if back["config"].(map[string]any)["pollInterval"] == nil {
		t.Errorf("config.pollInterval missing")
	}
}

// TestComparison prints ecs-drainer and a peer in one table, calls per instance scaled in (so a
// drain that never completed still counts), SNS publishes with the AWS calls.
func TestComparison(t *testing.T) {
	cfg, err := parseFlags([]string{"--instances=1000", "--scale-in=100", "--peer=aws-sample"})
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{Config: cfg}
	res.Drain = DrainResult{ScaledIn: 100, Completed: 100, ECSCalls: 190, AutoScalingCalls: 115, AllEndedSeconds: 39.7}
	res.Latency.WaitToDraining = Dist{Count: 100, Median: 9.9, P99: 9.9, Max: 9.95}
	peer := PeerResult{Name: "aws-sample"}
	peer.Drain = DrainResult{ScaledIn: 100, Completed: 99, ECSCalls: 648, AutoScalingCalls: 100, AllEndedSeconds: 60.2}
	peer.Lambda.Publishes = 174
	peer.Safety = Safety{TasksKilledByTermination: 38, LifecycleActionsExpired: 1}
	res.Peers = []PeerResult{peer}
	table := renderComparison(res)
	for _, want := range []string{"100 scaled in at once", "hooks' heartbeat timeout 5m0s", "client-side limit 100/s, burst 200"} {
		if !strings.Contains(table, want) {
			t.Errorf("comparison lacks %q:\n%s", want, table)
		}
	}
	cells := map[string][]string{}
	for _, l := range strings.Split(table, "\n") {
		c := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(l), -1)
		cells[c[0]] = c
	}
	wantRows := map[string][]string{
		"ecs-drainer": {"ecs-drainer", "100 of 100", "3.05 (1.90 + 1.15 + 0.00)", "9.9 / 9.9 / 9.9", "-", "39.7", "0", "0"},
		"aws-sample":  {"aws-sample", "99 of 100", "9.22 (6.48 + 1.00 + 1.74)", "-", "-", "60.2", "38", "1"},
	}
	for name, want := range wantRows {
		if diff := cmp.Diff(want, cells[name]); diff != "" {
			t.Errorf("row %s (-want +got):\n%s\n%s", name, diff, table)
		}
	}
}

// TestEventTargets: with a queue the latency targets are issue 11's p99 bounds, 1 s up to 100
// drains at once and 2 s above, the completions' bound lengthened by what the client-side limit
// takes to let them through.
func TestEventTargets(t *testing.T) {
	for _, tc := range []struct {
		args                 []string
		toDraining, complete float64
	}{
		{[]string{"--events"}, 2, 10},                                       // 1,000 at 100/s, burst 200: (1000-200)/100 = 8 s
		{[]string{"--events", "--scale-in=100"}, 1, 1},                      // within the burst
		{[]string{"--events", "--scale-in=1000", "--aws-burst=1000"}, 2, 2}, // within the burst
		{[]string{"--events=both", "--aws-qps=10", "--aws-burst=20"}, 2, 100},
	} {
		cfg, err := parseFlags(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		limits := map[string]float64{}
		for _, tg := range targets(cfg, &Result{Config: cfg}) {
			limits[tg.Name] = tg.Limit
		}
		want := map[string]float64{"Terminating:Wait -> DRAINING (p99)": tc.toDraining, "last task STOPPED -> completed (p99)": tc.complete}
		for name, limit := range want {
			if got, ok := limits[name]; !ok || got != limit {
				t.Errorf("%v: target %q limit = %v (present %v), want %v", tc.args, name, got, ok, limit)
			}
		}
		if _, ok := limits["Terminating:Wait -> DRAINING (max)"]; ok {
			t.Errorf("%v: the polling targets are reported with a queue", tc.args)
		}
	}
}

// TestEventQueueSetUp creates the queue and rules in an in-process awssim through the SDK: every
// rule's pattern is one awssim accepts, and each targets the queue.
func TestEventQueueSetUp(t *testing.T) {
	sim := awssim.New(awssim.Options{})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	setup, err := setUpEventQueue(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ecs-drainer-lifecycle", "ecs-drainer-container-instances", "ecs-drainer-tasks", "ecs-drainer-spot"}
	if diff := cmp.Diff(want, setup.Rules); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if !strings.HasSuffix(setup.QueueURL, "/ecs-drainer-events") {
		t.Errorf("queue URL %q", setup.QueueURL)
	}
	calls := callsBetween(simStats{}, simStats{Requests: sim.Stats().Requests})
	wantCalls := Calls{"sqs/CreateQueue": 1, "sqs/GetQueueAttributes": 1, "events/PutRule": 4, "events/PutTargets": 4}
	if diff := cmp.Diff(wantCalls, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// TestModes prints an events run and its polling run side by side, one row each.
func TestModes(t *testing.T) {
	cfg, err := parseFlags([]string{"--instances=1000", "--scale-in=100", "--events=both"})
	if err != nil {
		t.Fatal(err)
	}
	ev := &Result{Mode: modeEvents, Config: cfg, Events: &EventSetup{QueueURL: "http://sim/q", Rules: []string{"r"}}}
	ev.Drain = DrainResult{ScaledIn: 100, Completed: 100, CallsPerDrain: 3.5, ECSPerDrain: 2, AutoScalingPerDrain: 1, SQSPerDrain: 0.5, DurationSeconds: 11.2}
	ev.Idle.SQSPerMinute = 3
	ev.Latency.WaitToDraining = Dist{Count: 100, Median: 0.3, P99: 0.5, Max: 0.6}
	pc := cfg
	pc.Events = EventsOff
	ev.Polling = &Result{Mode: modePolling, Config: pc}
	ev.Polling.Drain = DrainResult{ScaledIn: 100, Completed: 99, CallsPerDrain: 3, ECSPerDrain: 2, AutoScalingPerDrain: 1, DurationSeconds: 30}
	ev.Polling.Idle.AutoScalingPerMinute = 6
	ev.Polling.Safety = Safety{TasksKilledByTermination: 1, LifecycleActionsExpired: 2, CompletedMoreThanOnce: 3}
	table := renderTable(ev)
	for _, want := range []string{"benchmark: events mode", "benchmark: polling mode", "event queue  http://sim/q, fed by the EventBridge rules r", "events and polling side by side"} {
		if !strings.Contains(table, want) {
			t.Errorf("report lacks %q:\n%s", want, table)
		}
	}
	cells := map[string][]string{}
	for _, l := range strings.Split(renderModes(ev), "\n") {
		c := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(l), -1)
		cells[c[0]] = c
	}
	wantRows := map[string][]string{
		"events":  {"events", "100 of 100", "3.50 (2.00 + 1.00 + 0.50)", "0.0 + 0.0 + 3.0", "0.3 / 0.5 / 0.6", "-", "-", "11.2", "0", "0", "0"},
		"polling": {"polling", "99 of 100", "3.00 (2.00 + 1.00 + 0.00)", "6.0 + 0.0 + 0.0", "-", "-", "-", "30.0", "1", "2", "3"},
	}
	for name, want := range wantRows {
		if diff := cmp.Diff(want, cells[name]); diff != "" {
			t.Errorf("row %s (-want +got):\n%s", name, diff)
		}
	}
}

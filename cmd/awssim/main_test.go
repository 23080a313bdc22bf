package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
)

func noEnv(string) string { return "" }

func TestRunConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{
			name: "every problem listed",
			args: []string{"--error-rate=2", "--latency=-1s", "--log-format=xml", "extra"},
			env:  map[string]string{"AWSSIM_SEED": "x", "AWSSIM_HOSTILE": "-0.5"},
			want: []string{
				`--error-rate (AWSSIM_ERROR_RATE) is 2: must be a share from 0 to 1`,
				`--latency (AWSSIM_LATENCY) is -1s: must not be negative`,
				`--log-format (AWSSIM_LOG_FORMAT) is "xml"`,
				`unexpected argument "extra"`,
				`AWSSIM_SEED="x" (--seed): not a whole number`,
				`--hostile (AWSSIM_HOSTILE) is -0.5`,
			},
		},
		{
			name: "throttle rates",
			args: []string{"--throttle-rates=DescribeTasks=20:50,ListTasks=fast"},
			want: []string{`--throttle-rates (AWSSIM_THROTTLE_RATES) has "ListTasks=fast": write Operation=rate:burst`},
		},
		{
			name: "throttle rates name no operation or group",
			args: []string{"--throttle-rates=DescribeTaskz=20:50,ecs:TaskRead=1:2", "extra"}, // "extra": never serve
			want: []string{`--throttle-rates (AWSSIM_THROTTLE_RATES) ThrottleRates["DescribeTaskz"]: no such operation or ECS throttle group`},
		},
		{
			name: "latency beyond a minute",
			args: []string{"--latency=2m", "extra"},
			want: []string{`--latency (AWSSIM_LATENCY) is 2m0s: must be at most 1m0s`},
		},
		{
			name: "event delivery",
			args: []string{"--event-delay=0s", "--event-loss=1.5", "--event-duplicate=-1", "--event-reorder=-1s", "--spot-notice=-2m", "extra"},
			want: []string{
				`--event-delay (AWSSIM_EVENT_DELAY) is 0s: must be positive`,
				`--event-loss (AWSSIM_EVENT_LOSS) is 1.5: must be a share from 0 to 1`,
				`--event-duplicate (AWSSIM_EVENT_DUPLICATE) is -1: must be a share from 0 to 1`,
				`--event-reorder (AWSSIM_EVENT_REORDER) is -1s: must not be negative`,
				`--spot-notice (AWSSIM_SPOT_NOTICE) is -2m0s: must be positive`,
			},
		},
		{
			name: "unknown flag",
			args: []string{"--nope"},
			want: []string{"unknown flag: --nope"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, func(k string) string { return tt.env[k] }, &stdout, &stderr, nil)
			if code != exitConfig {
				t.Errorf("exit code %d, want %d", code, exitConfig)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestParseThrottleRates(t *testing.T) {
	got, err := parseThrottleRates([]string{"DescribeTasks=20:50", "StopTask=0.5:1"})
	if err != nil {
		t.Fatalf("parseThrottleRates: %v", err)
	}
	if got["DescribeTasks"].Rate != 20 || got["DescribeTasks"].Burst != 50 || got["StopTask"].Rate != 0.5 || len(got) != 2 {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{"x", "=1:1", "Op=1", "Op=0:1", "Op=1:0", "Op=NaN:1", "Op=1:+Inf"} {
		if _, err := parseThrottleRates([]string{bad}); err == nil {
			t.Errorf("parseThrottleRates(%q) accepted", bad)
		}
	}
}

func TestRunHelpAndVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run(t.Context(), []string{"--help"}, noEnv, &out, io.Discard, nil); code != exitOK {
		t.Fatalf("--help exit code %d", code)
	}
	for _, w := range []string{"--listen address", "$AWSSIM_LISTEN", "(default 127.0.0.1:4566)", "--launch-delay", "$AWSSIM_LAUNCH_DELAY", "--demo"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("help lacks %q:\n%s", w, out.String())
		}
	}
	out.Reset()
	if code := run(t.Context(), []string{"--version"}, noEnv, &out, io.Discard, nil); code != exitOK {
		t.Fatalf("--version exit code %d", code)
	}
	if !strings.HasPrefix(out.String(), "awssim dev (revision unknown, go") {
		t.Errorf("--version printed %q", out.String())
	}
}

// syncBuffer is written by the server goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServe starts the server on a free loopback port with the demo fleet and talks to it over
// HTTP and through the SDK, then shuts it down as SIGTERM would.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addrCh := make(chan string, 1)
	done := make(chan int, 1)
	var logs syncBuffer
	go func() {
		done <- run(ctx, []string{"--listen=127.0.0.1:0", "--demo"}, func(k string) string {
			// The environment is read: a fast model for the test.
			if k == "AWSSIM_REGISTER_DELAY" {
				return "50ms"
			}
			return ""
		}, io.Discard, &logs, func(addr string) { addrCh <- addr })
	}()
	var addr string
	select {
	case addr = <-addrCh:
	case code := <-done:
		t.Fatalf("awssim exited with %d before serving:\n%s", code, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("awssim did not serve within 30s:\n%s", logs.String())
	}
	endpoint := "http://" + addr

	resp, err := http.Get(endpoint + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz status %d", resp.StatusCode)
	}

	checkDemoFleet(t, endpoint)

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit code %d after shutdown:\n%s", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("awssim did not stop within 10s of cancellation")
	}
	if !strings.Contains(logs.String(), "Shutting down") {
		t.Errorf("logs lack the shutdown line:\n%s", logs.String())
	}
}

// checkDemoFleet checks the server at endpoint built the demo's clusters and groups.
func checkDemoFleet(t *testing.T, endpoint string) {
	t.Helper()
	ctx := t.Context()
	as, ec := demo.NewClients(endpoint, "us-east-1")
	clusters, err := ec.ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil {
		t.Fatalf("ListClusters: %v", err)
	}
	if len(clusters.ClusterArns) != 2 {
		t.Errorf("ListClusters = %v, want the demo's 2 clusters", clusters.ClusterArns)
	}
	groups, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		t.Fatalf("DescribeAutoScalingGroups: %v", err)
	}
	var names []string
	for _, g := range groups.AutoScalingGroups {
		names = append(names, aws.ToString(g.AutoScalingGroupName))
	}
	slices.Sort(names)
	if want := []string{"batch-asg", "batch-legacy-asg", "web-asg"}; !slices.Equal(names, want) {
		t.Errorf("groups = %v, want %v", names, want)
	}
}

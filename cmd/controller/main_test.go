package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestRunBadConfigExits2WithEveryProblem(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(),
		[]string{"--workers=0", "--drain-timeout-action=explode", "--log-format=xml"},
		envOf(map[string]string{"RESYNC_PERIOD": "abc", "AWS_QPS": "-1"}),
		&stdout, &stderr)
	if code != exitConfig {
		t.Errorf("exit code %d, want %d", code, exitConfig)
	}
	for _, w := range []string{
		"ecs-drainer: invalid configuration:",
		`  - --workers (WORKERS) is 0`,
		`  - --drain-timeout-action (DRAIN_TIMEOUT_ACTION) is "explode": must be one of stop-tasks, continue, abandon`,
		`  - --log-format (LOG_FORMAT) is "xml"`,
		`  - RESYNC_PERIOD="abc" (--resync-period): not a duration`,
		`  - --aws-qps (AWS_QPS) is -1`,
		"Run ecs-drainer --help",
	} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
		}
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout not empty: %q", stdout.String())
	}
}

func TestRunVersionAndHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--version"}, []string{"ecs-drainer dev (revision unknown, go1."}},
		{[]string{"--help"}, []string{"Usage: ecs-drainer", "--resync-period duration", "$RESYNC_PERIOD", "(default 10s)", "--dry-run", "$DRY_RUN", "--simulate", "--sim-listen"}},
		{[]string{"-h"}, []string{"Usage: ecs-drainer"}},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			var stdout bytes.Buffer
			// A bad environment must not stop --version or --help.
			if code := run(t.Context(), tt.args, envOf(map[string]string{"WORKERS": "x"}), &stdout, io.Discard); code != exitOK {
				t.Fatalf("exit code %d", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}

// syncBuffer collects output written by the program's goroutines.
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

// started is a program run in the background.
type started struct {
	httpAddr, simEndpoint string
	stdout, stderr        *syncBuffer
	cancel                context.CancelFunc
	done                  chan int
}

// start runs the program until the test ends or stop is called.
func start(t *testing.T, args []string, env map[string]string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s := &started{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	ready := make(chan struct{})
	a := &app{stdout: s.stdout, stderr: s.stderr, getenv: envOf(env), listening: func(httpAddr, simEndpoint string) {
		s.httpAddr, s.simEndpoint = httpAddr, simEndpoint
		close(ready)
	}}
	go func() { s.done <- a.run(ctx, args) }()
	select {
	case <-ready:
	case code := <-s.done:
		t.Fatalf("exited with %d before serving:\n%s", code, s.stderr.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("not serving within 30s:\n%s", s.stderr.String())
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop cancels the run, as the first SIGTERM does, and returns its exit code.
func (s *started) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		s.done <- code // keep it for a second call
		return code
	case <-time.After(20 * time.Second):
		t.Fatalf("did not shut down within 20s:\n%s", s.stderr.String())
		return -1
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// waitFor polls cond with a bounded deadline; it asserts the outcome, never how long it took.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gate holds every request to the simulator until opened, so the test sees the controller before
// its first resync has succeeded.
type gate struct {
	open chan struct{}
	h    http.Handler
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case <-g.open:
	case <-r.Context().Done():
		return
	}
	g.h.ServeHTTP(w, r)
}

// awsEnv points the SDK's default configuration at the simulator for this test only, isolated from
// the host's AWS files.
func awsEnv(t *testing.T, endpoint string) {
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_PROFILE", "")
}

// TestHealthAndReadiness runs the controller against a simulator holding the demo fleet: /healthz
// answers at once, /readyz is 503 until the first resync succeeds and 200 after, /metrics serves the
// controller's, Go's and the process's metrics, and cancellation exits 0.
func TestHealthAndReadiness(t *testing.T) {
	sim := awssim.New(awssim.Options{Seed: 3})
	g := &gate{open: make(chan struct{}), h: sim.Handler()}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	simCtx, stopSim := context.WithCancel(context.Background())
	simDone := make(chan struct{})
	go func() { sim.Start(simCtx); close(simDone) }()
	t.Cleanup(func() { stopSim(); <-simDone })
	awsEnv(t, srv.URL)

	s := start(t, []string{"--http-addr=127.0.0.1:0", "--resync-period=1s", "--poll-interval=1s"}, nil)
	base := "http://" + s.httpAddr

	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before the first resync = %d %q, want 503", code, body)
	}

	close(g.open)
	waitFor(t, 20*time.Second, "/readyz 200 after the first resync", func() bool {
		code, _ := get(t, base+"/readyz")
		return code == http.StatusOK
	})
	_, metrics := get(t, base+"/metrics")
	for _, w := range []string{"ecs_drainer_build_info{", "go_goroutines", "process_resident_memory_bytes", "ecs_drainer_aws_requests_total{"} {
		if !strings.Contains(metrics, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	if code := s.stop(t); code != exitOK {
		t.Errorf("exit code %d after shutdown, want 0:\n%s", code, s.stderr.String())
	}
	logs := s.stderr.String()
	for _, w := range []string{`"msg":"Starting ecs-drainer"`, `"asgTag":"ecs-drainer/enabled=true"`, `"dryRun":false`, `"msg":"Shutting down"`} {
		if !strings.Contains(logs, w) {
			t.Errorf("logs lack %s:\n%s", w, logs)
		}
	}
}

// TestSimulate runs --simulate: it prints where to look, builds the demo fleet in its own simulator,
// becomes ready, and drains an instance a scale-in puts in Terminating:Wait through to
// CompleteLifecycleAction.
func TestSimulate(t *testing.T) {
	// No grace for standalone tasks: the instance the scale-in picks may hold one.
	s := start(t, []string{"--simulate", "--http-addr=127.0.0.1:0", "--standalone-task-grace=0s"}, nil)
	base := "http://" + s.httpAddr
	checkBanner(t, s.stdout.String(), s.simEndpoint, base)
	waitFor(t, 20*time.Second, "/readyz 200", func() bool {
		code, _ := get(t, base+"/readyz")
		return code == http.StatusOK
	})

	// Scale in now rather than wait for the demo loop.
	as, _ := demo.NewClients(s.simEndpoint, simRegion)
	if _, err := as.SetDesiredCapacity(t.Context(), &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String("web-asg"), DesiredCapacity: aws.Int32(3), HonorCooldown: aws.Bool(false),
	}); err != nil {
		t.Fatalf("SetDesiredCapacity: %v", err)
	}
	waitFor(t, 45*time.Second, "a lifecycle action completed with CONTINUE", func() bool {
		_, m := get(t, s.simEndpoint+"/metrics")
		for _, line := range strings.Split(m, "\n") {
			if strings.HasPrefix(line, `awssim_lifecycle_actions_completed_total{result="CONTINUE"}`) && !strings.HasSuffix(line, " 0") {
				return true
			}
		}
		return false
	})
	checkPages(t, base)
	if code := s.stop(t); code != exitOK {
		t.Errorf("exit code %d after shutdown, want 0", code)
	}
	logs := s.stderr.String()
	for _, w := range []string{"Built demo fleet", "Starting ecs-drainer"} {
		if !strings.Contains(logs, w) {
			t.Errorf("console logs lack %q:\n%s", w, logs)
		}
	}
	if strings.Contains(logs, `"msg":`) {
		t.Errorf("--simulate logged JSON, want console:\n%s", logs)
	}
}

// checkBanner checks what --simulate prints for a person: the drains page first, then the metrics
// and the simulator's endpoint with an AWS CLI example.
func checkBanner(t *testing.T, banner, simEndpoint, base string) {
	t.Helper()
	for _, w := range []string{simEndpoint, base + "/metrics", "aws --endpoint-url " + simEndpoint} {
		if !strings.Contains(banner, w) {
			t.Errorf("banner lacks %q:\n%s", w, banner)
		}
	}
	if first := strings.TrimSpace(banner); !strings.HasPrefix(first, "Drains page: "+base+"/ ") {
		t.Errorf("banner does not start with the drains page's URL:\n%s", banner)
	}
}

// checkPages checks that the drains page and its JSON twin are mounted (pkg/web tests what they
// show), and nothing else.
func checkPages(t *testing.T, base string) {
	t.Helper()
	if code, body := get(t, base+"/"); code != http.StatusOK || !strings.Contains(body, "ecs-drainer drains") {
		t.Errorf("GET / = %d:\n%s", code, body)
	}
	if code, body := get(t, base+"/drains"); code != http.StatusOK || !strings.Contains(body, `"inProgress"`) {
		t.Errorf("GET /drains = %d:\n%s", code, body)
	}
	if code, _ := get(t, base+"/nothing-here"); code != http.StatusNotFound {
		t.Errorf("GET /nothing-here = %d, want 404", code)
	}
}

func TestDisplayAddr(t *testing.T) {
	tests := map[string]string{
		":8080":          "localhost:8080",
		"0.0.0.0:80":     "localhost:80",
		"[::]:9":         "localhost:9",
		"127.0.0.1:8080": "127.0.0.1:8080",
		"bad":            "bad",
	}
	for in, want := range tests {
		if got := displayAddr(in); got != want {
			t.Errorf("displayAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSignals checks the signal contract in a child process (os.Exit cannot run in this one): the
// first SIGTERM cancels the context for a graceful shutdown, a second exits at once with 130.
func TestSignals(t *testing.T) {
	if os.Getenv("ECS_DRAINER_SIGNAL_CHILD") == "1" {
		// stop is never called: the child ends by os.Exit either way.
		ctx, _ := signalContext(os.Stderr)
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			os.Exit(3) // the first signal did not cancel
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		time.Sleep(10 * time.Second)
		os.Exit(4) // the second signal did not exit
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSignals$")
	cmd.Env = append(os.Environ(), "ECS_DRAINER_SIGNAL_CHILD=1")
	out, err := cmd.CombinedOutput()
	if got := cmd.ProcessState.ExitCode(); got != 130 {
		t.Errorf("child exit code %d (%v), want 130:\n%s", got, err, out)
	}
	if !strings.Contains(string(out), "second terminated, exiting at once") {
		t.Errorf("child output lacks the second-signal line:\n%s", out)
	}
}

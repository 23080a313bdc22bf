// Package harness runs the project's real binaries as separate processes on loopback, for the
// end-to-end tests, the benchmark and the soak: awssim, ecs-drainer, and the SDK clients that talk to
// them. Nothing here reaches beyond 127.0.0.1.
//
// Functions return errors rather than taking a testing.TB so that the benchmark program can use them
// too; tests wrap them with t.Fatal.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Fake credentials: the simulator does not check signatures, and nothing here may hold real ones.
const (
	FakeAccessKey = "AKIDEXAMPLESIMULATOR"
	FakeSecretKey = "simulator-secret-not-a-real-key"
	Region        = "us-east-1"
)

// RepoRoot finds the module root from the working directory (tests run in their package folder).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from inside the repository")
		}
		dir = parent
	}
}

var buildOnce struct {
	sync.Once
	dir string
	err error
}

// Binaries builds bin/awssim and bin/ecs-drainer once per process (go build is incremental, so this
// is quick when `make build` already ran) and returns their paths.
func Binaries() (awssimPath, controllerPath string, err error) {
	buildOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			buildOnce.err = err
			return
		}
		dir := filepath.Join(root, "bin")
		for name, pkg := range map[string]string{"awssim": "./cmd/awssim", "ecs-drainer": "./cmd/controller"} {
			cmd := exec.CommandContext(context.Background(), "go", "build", "-o", filepath.Join(dir, name), pkg)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildOnce.err = fmt.Errorf("building %s: %w\n%s", pkg, err, out)
				return
			}
		}
		buildOnce.dir = dir
	})
	if buildOnce.err != nil {
		return "", "", buildOnce.err
	}
	return filepath.Join(buildOnce.dir, "awssim"), filepath.Join(buildOnce.dir, "ecs-drainer"), nil
}

// FreeAddr returns a loopback address with a port that was free a moment ago, for third-party
// servers that cannot report the port they bound (another process may take it meanwhile: prefer
// binding port 0 and reading the address back, as Start does).
func FreeAddr() (string, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Process is one running binary whose output is kept for diagnosis.
type Process struct {
	Name string
	Addr string // the HTTP address it serves
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// Start runs bin with args and extra environment, learns the HTTP address it serves from the first
// match of addrRE's first group in its output, and waits until http://addr/healthz answers 200.
// Binaries are started on port 0 and report the port they got: picking a free port first and
// passing it in races with every other test doing the same.
func Start(name, bin string, args, env []string, addrRE *regexp.Regexp) (*Process, error) {
	// Not CommandContext's kill-on-cancel: the caller decides how a process ends (Stop, Kill).
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so a kill reaches nothing else and the test can SIGKILL it cleanly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	if err := p.waitHealthy(addrRE, 30*time.Second); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

func (p *Process) waitHealthy(addrRE *regexp.Regexp, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was healthy: %w\n%s", p.Name, p.err, p.Output())
		default:
		}
		if p.Addr == "" {
			if m := addrRE.FindStringSubmatch(p.Output()); m != nil {
				p.Addr = m[1]
			}
		}
		if p.Addr != "" {
			resp, err := get("http://" + p.Addr + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.Addr == "" {
		return fmt.Errorf("%s did not log the address it serves (%s) within %s\n%s", p.Name, addrRE, limit, p.Output())
	}
	return fmt.Errorf("%s not healthy on %s within %s\n%s", p.Name, p.Addr, limit, p.Output())
}

// PID is the process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Output is everything the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Kill sends SIGKILL and waits for the process to go.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to limit for a graceful exit, then kills. It returns the exit error.
func (p *Process) Stop(limit time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		p.Kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM", p.Name, limit)
	}
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// get is an HTTP GET bounded in time, so a hung process cannot hang a test.
func get(url string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

// cancelOnClose releases a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// The addresses the binaries log once they listen, in their json and console log formats alike:
// awssim's "Serving the simulated AWS account" endpoint, ecs-drainer's "Starting ecs-drainer" httpAddr.
var (
	simAddrRE  = regexp.MustCompile(`"endpoint":\s*"http://([^"]+)"`)
	ctrlAddrRE = regexp.MustCompile(`"httpAddr":\s*"([^"]+)"`)
)

// StartSim runs awssim on a loopback port of its choosing with extra flags.
func StartSim(bin string, flags ...string) (*Process, error) {
	return Start("awssim", bin, append([]string{"--listen", "127.0.0.1:0"}, flags...), nil, simAddrRE)
}

// StartController runs ecs-drainer against the simulator at simURL with extra flags. Its metrics
// and health endpoints are on p.Addr, a loopback port of its choosing.
func StartController(bin, simURL string, flags ...string) (*Process, error) {
	return Start("ecs-drainer", bin, append([]string{"--http-addr", "127.0.0.1:0"}, flags...), ControllerEnv(simURL), ctrlAddrRE)
}

// ControllerEnv is the environment that points an AWS client at the simulator with fake credentials.
func ControllerEnv(simURL string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + simURL,
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + FakeAccessKey,
		"AWS_SECRET_ACCESS_KEY=" + FakeSecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
}

// Clients returns SDK clients for the simulator. Their retryer retries throttles and 5xx generously
// so that test set-up survives injected faults.
func Clients(simURL string) (*autoscaling.Client, *ecs.Client) {
	cfg := aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(FakeAccessKey, FakeSecretKey, ""),
		BaseEndpoint: aws.String(simURL),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 10
				o.MaxBackoff = 2 * time.Second
				o.RateLimiter = noRetryQuota{}
			})
		},
	}
	return autoscaling.NewFromConfig(cfg), ecs.NewFromConfig(cfg)
}

// noRetryQuota disables the SDK's client-side retry quota: fault-injection tests retry far more
// than a real client would, on purpose.
type noRetryQuota struct{}

func (noRetryQuota) GetToken(context.Context, uint) (func() error, error) { return noop, nil }
func (noRetryQuota) AddTokens(uint) error                                 { return nil }

func noop() error { return nil }

// Metrics scrapes http://addr/metrics.
func Metrics(addr string) (map[string]*dto.MetricFamily, error) {
	resp, err := get("http://" + addr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: status %s", addr, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing metrics from %s: %w", addr, err)
	}
	return mfs, nil
}

// Sum adds the values of every series of a counter or gauge family whose labels include match.
func Sum(mfs map[string]*dto.MetricFamily, name string, match map[string]string) float64 {
	mf, ok := mfs[name]
	if !ok {
		return 0
	}
	var total float64
	for _, m := range mf.GetMetric() {
		if !labelsMatch(m, match) {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			total += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

func labelsMatch(m *dto.Metric, match map[string]string) bool {
	for k, v := range match {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Eventually polls cond every poll until it returns true or limit passes; the error carries the
// last reason cond gave. It waits for an outcome; it asserts nothing about how long that took.
func Eventually(limit, poll time.Duration, cond func() (bool, string)) error {
	deadline := time.Now().Add(limit)
	var why string
	for {
		var ok bool
		ok, why = cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met within %s: %s", limit, why)
		}
		time.Sleep(poll)
	}
}

// ProcStats is what /proc says of a process: CPU seconds used and resident memory.
type ProcStats struct {
	CPUSeconds float64
	RSSBytes   int64
	PeakRSS    int64 // VmHWM
	Threads    int
}

// ReadProcStats reads /proc/<pid>/stat and /proc/<pid>/status (Linux).
func ReadProcStats(pid int) (ProcStats, error) {
	var s ProcStats
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("reading /proc stat of %d: %w", pid, err)
	}
	// Fields after the command name, which is in parentheses and may contain spaces.
	rest := string(stat[bytes.LastIndexByte(stat, ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return s, fmt.Errorf("short /proc stat for %d", pid)
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	const clkTck = 100 // USER_HZ on Linux
	s.CPUSeconds = (utime + stime) / clkTck
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("reading /proc status of %d: %w", pid, err)
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			s.RSSBytes = n * 1024
		case "VmHWM":
			s.PeakRSS = n * 1024
		case "Threads":
			s.Threads = int(n)
		}
	}
	return s, sc.Err()
}

// syncBuffer is a bytes.Buffer safe for a process's writers and a reader at once.
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

var _ io.Writer = (*syncBuffer)(nil)

// Command awssim serves the ECS, EC2 Auto Scaling, SQS and EventBridge simulator (pkg/awssim) over HTTP, speaking the
// real wire protocols, so the controller, the AWS CLI and the SDKs can be pointed at it with
// --endpoint-url / AWS_ENDPOINT_URL. Every flag is also read from an environment variable: the flag
// in SCREAMING_SNAKE case with the prefix AWSSIM_ (--launch-delay <- AWSSIM_LAUNCH_DELAY); the
// prefix keeps generic names such as SEED or LATENCY from being picked up by accident.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/pkg/options/envflag"
)

// Stamped at build time: go build -ldflags "-X main.version=v1.2.3 -X main.revision=abc1234".
var (
	version  = "dev"
	revision = "unknown"
)

// envPrefix prefixes every flag's environment variable.
const envPrefix = "AWSSIM_"

const (
	exitOK     = 0
	exitFailed = 1
	exitConfig = 2
)

const (
	shutdownTimeout = 5 * time.Second
	buildTimeout    = 60 * time.Second
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs
		// A second signal means the person does not want to wait for open requests.
		os.Exit(130)
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil)
	cancel()
	os.Exit(code)
}

// config is the command line: the server's own flags and every awssim.Options knob.
type config struct {
	listen      string
	demo        bool
	logFormat   string
	throttleMap []string
	version     bool
	help        bool
	sim         awssim.Options
}

func newFlagSet(c *config) *pflag.FlagSet {
	fs := pflag.NewFlagSet("awssim", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	o := &c.sim
	fs.StringVar(&c.listen, "listen", "127.0.0.1:4566", "`address` to serve on (port 0 picks a free one)")
	fs.BoolVar(&c.demo, "demo", false, "build the live demo's fleet (pkg/demo Small) at startup")
	fs.StringVar(&o.Region, "region", "us-east-1", "region the account answers for")
	fs.StringVar(&o.AccountID, "account-id", "123456789012", "account ID in ARNs")
	fs.Int64Var(&o.Seed, "seed", 0, "seed of every random choice (IDs, faults), so a run can be repeated")
	fs.DurationVar(&o.LaunchDelay, "launch-delay", 200*time.Millisecond, "instance Pending -> InService")
	fs.DurationVar(&o.RegisterDelay, "register-delay", 300*time.Millisecond, "instance InService -> container instance ACTIVE")
	fs.DurationVar(&o.TaskStartDelay, "task-start-delay", 200*time.Millisecond, "task PENDING -> RUNNING")
	fs.Float64Var(&o.StopTimeoutScale, "stop-timeout-scale", 1, "multiplies each container's stopTimeout (how long a stopping task takes)")
	fs.DurationVar(&o.TerminateDelay, "terminate-delay", 200*time.Millisecond, "instance Terminating:Proceed -> Terminated")
	fs.DurationVar(&o.StoppedTaskRetention, "stopped-task-retention", time.Hour, "how long stopped tasks stay describable")
	fs.IntVar(&o.DefaultTaskSlots, "default-task-slots", 4, "tasks per instance for groups without an awssim:task-slots tag")
	fs.DurationVar(&o.TickInterval, "tick-interval", 50*time.Millisecond, "how often the model advances")
	fs.IntVar(&o.PageSizeOverride, "page-size", 0, "cap every paged List/Describe at this many items (0: the APIs' own limits)")
	fs.BoolVar(&o.Throttle, "throttle", false, "throttle each operation with an AWS-like token bucket")
	fs.StringSliceVar(&c.throttleMap, "throttle-rates", nil, "per-operation buckets with --throttle: `Operation=rate:burst`,... (an ECS group name such as ecs:TaskRead sets the group's shared bucket)")
	fs.Float64Var(&o.ErrorRate, "error-rate", 0, "share (0..1) of requests answered with an injected 5xx")
	fs.DurationVar(&o.Latency, "latency", 0, "added to every request")
	fs.Float64Var(&o.Hostile, "hostile", 0, "share (0..1) of responses made malformed")
	fs.DurationVar(&o.EventDelay, "event-delay", 100*time.Millisecond, "how long an event or lifecycle notification takes to reach its SQS queue")
	fs.Float64Var(&o.EventDuplicate, "event-duplicate", 0, "share (0..1) of EventBridge deliveries made twice")
	fs.Float64Var(&o.EventLoss, "event-loss", 0, "share (0..1) of EventBridge deliveries lost")
	fs.DurationVar(&o.EventReorder, "event-reorder", 0, "random extra delay of up to this long per EventBridge delivery, which reorders events")
	fs.DurationVar(&o.SpotNotice, "spot-notice", 2*time.Minute, "Spot interruption warning -> the instance is reclaimed")
	fs.StringVar(&c.logFormat, "log-format", "console", "console or json")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
	fs.BoolVarP(&c.help, "help", "h", false, "print this help and exit")
	return fs
}

// parse reads flags, then the AWSSIM_ environment for flags not given, then checks every value,
// reporting all problems at once.
func parse(args []string, getenv func(string) string) (*config, *pflag.FlagSet, error) {
	c := &config{}
	fs := newFlagSet(c)
	if err := fs.Parse(args); err != nil {
		return nil, fs, fmt.Errorf("%w (run with --help to list the flags)", err)
	}
	if c.help || c.version {
		return c, fs, nil
	}
	var problems []error
	for _, a := range fs.Args() {
		problems = append(problems, fmt.Errorf("unexpected argument %q: awssim takes only flags", a))
	}
	if err := envflag.ApplyEnv(fs, envPrefix, getenv, "version", "help"); err != nil {
		problems = append(problems, err)
	}
	problems = append(problems, c.validate())
	if err := errors.Join(problems...); err != nil {
		return nil, fs, err
	}
	return c, fs, nil
}

func (c *config) validate() error {
	var p []error
	bad := func(flag, format string, args ...any) {
		p = append(p, fmt.Errorf("--%s (%s) %s", flag, envflag.EnvName(envPrefix, flag), fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.listen); err != nil {
		bad("listen", "is %q: write host:port, such as 127.0.0.1:4566", c.listen)
	}
	o := &c.sim
	checkTimesAndShares(o, bad)
	if o.PageSizeOverride < 0 {
		bad("page-size", "is %d: must be 0 (off) or positive", o.PageSizeOverride)
	}
	if o.DefaultTaskSlots < 1 {
		bad("default-task-slots", "is %d: must be at least 1", o.DefaultTaskSlots)
	}
	if c.logFormat != "console" && c.logFormat != "json" {
		bad("log-format", "is %q: must be console or json", c.logFormat)
	}
	rates, err := parseThrottleRates(c.throttleMap)
	if err != nil {
		bad("throttle-rates", "%v", err)
	} else if err := (awssim.Options{ThrottleRates: rates}).Validate(); err != nil {
		// Names that are neither an operation nor an ECS throttle group.
		bad("throttle-rates", "%v", err)
	}
	o.ThrottleRates = rates
	return errors.Join(p...)
}

// checkTimesAndShares reports, through bad, the durations and shares of o no run could use.
func checkTimesAndShares(o *awssim.Options, bad func(flag, format string, args ...any)) {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"launch-delay", o.LaunchDelay}, {"register-delay", o.RegisterDelay}, {"task-start-delay", o.TaskStartDelay},
		{"terminate-delay", o.TerminateDelay}, {"stopped-task-retention", o.StoppedTaskRetention}, {"latency", o.Latency},
		{"event-reorder", o.EventReorder},
	} {
		if d.v < 0 {
			bad(d.flag, "is %s: must not be negative", d.v)
		}
	}
	if o.Latency > awssim.MaxLatency {
		bad("latency", "is %s: must be at most %s", o.Latency, awssim.MaxLatency)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"tick-interval", o.TickInterval}, {"event-delay", o.EventDelay}, {"spot-notice", o.SpotNotice}} {
		if d.v <= 0 {
			bad(d.flag, "is %s: must be positive", d.v)
		}
	}
	if !(o.StopTimeoutScale > 0) || math.IsInf(o.StopTimeoutScale, 0) {
		bad("stop-timeout-scale", "is %v: must be a positive number", o.StopTimeoutScale)
	}
	for _, r := range []struct {
		flag string
		v    float64
	}{{"error-rate", o.ErrorRate}, {"hostile", o.Hostile}, {"event-duplicate", o.EventDuplicate}, {"event-loss", o.EventLoss}} {
		if !(r.v >= 0 && r.v <= 1) {
			bad(r.flag, "is %v: must be a share from 0 to 1", r.v)
		}
	}
}

// parseThrottleRates reads "Operation=rate:burst" items; Operation may also name an ECS throttle
// group (awssim.Options.ThrottleRates).
func parseThrottleRates(items []string) (map[string]awssim.Bucket, error) {
	if len(items) == 0 {
		return nil, nil
	}
	out := map[string]awssim.Bucket{}
	for _, it := range items {
		op, spec, ok := strings.Cut(it, "=")
		rateS, burstS, ok2 := strings.Cut(spec, ":")
		rate, err1 := strconv.ParseFloat(rateS, 64)
		burst, err2 := strconv.ParseFloat(burstS, 64)
		if !ok || !ok2 || op == "" || err1 != nil || err2 != nil || !(rate > 0) || !(burst >= 1) || math.IsInf(rate, 0) || math.IsInf(burst, 0) {
			return nil, fmt.Errorf("has %q: write Operation=rate:burst with rate > 0 and burst >= 1, such as DescribeTasks=20:50", it)
		}
		out[op] = awssim.Bucket{Rate: rate, Burst: burst}
	}
	return out, nil
}

// run is the whole program with its inputs and outputs passed in; listening, when set, is told the
// address once the server serves (tests use it with port 0).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, listening func(addr string)) int {
	c, fs, err := parse(args, getenv)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "awssim: invalid configuration:")
		for _, line := range strings.Split(err.Error(), "\n") {
			_, _ = fmt.Fprintf(stderr, "  - %s\n", line)
		}
		_, _ = fmt.Fprintln(stderr, "Run awssim --help to list the flags and their environment variables.")
		return exitConfig
	}
	switch {
	case c.help:
		_, _ = fmt.Fprint(stdout, "Usage: awssim [flags]\n\nServes a simulated Amazon ECS, EC2 Auto Scaling, SQS and EventBridge on one endpoint. Each\nflag can also be set by the environment variable shown; a flag on the command line wins.\n\nFlags:\n")
		if err := envflag.PrintUsage(stdout, fs, envPrefix, "version", "help"); err != nil {
			return exitFailed
		}
		return exitOK
	case c.version:
		_, _ = fmt.Fprintf(stdout, "awssim %s (revision %s, %s)\n", version, revision, runtime.Version())
		return exitOK
	}

	log, flush := newLogger(c.logFormat, stderr)
	defer flush()
	if err := serve(ctx, c, log, listening); err != nil {
		log.Error(err, "Exiting on error")
		return exitFailed
	}
	return exitOK
}

func serve(ctx context.Context, c *config, log logr.Logger, listening func(string)) error {
	sim := awssim.New(c.sim)
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listening on --listen %s: %w", c.listen, err)
	}
	endpoint := "http://" + ln.Addr().String()
	srv := &http.Server{
		Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second,
		// Requests live in ctx, so a shutdown ends SQS long polls (up to 20 s) at once, with an
		// empty answer, instead of waiting them out past shutdownTimeout.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	simCtx, stopSim := context.WithCancel(ctx)
	var wg sync.WaitGroup
	srvErr := make(chan error, 1)
	wg.Go(func() { srvErr <- srv.Serve(ln) })
	wg.Go(func() { sim.Start(simCtx) })
	log.Info("Serving the simulated AWS account", "endpoint", endpoint, "region", c.sim.Region,
		"throttle", c.sim.Throttle, "errorRate", c.sim.ErrorRate, "hostile", c.sim.Hostile, "seed", c.sim.Seed)

	var runErr error
	if c.demo {
		runErr = buildDemo(ctx, endpoint, c.sim.Region, log)
	}
	if runErr == nil {
		if listening != nil {
			listening(ln.Addr().String())
		}
		<-ctx.Done()
		log.Info("Shutting down")
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error(err, "Stopping the HTTP server")
	}
	if err := <-srvErr; err != nil && !errors.Is(err, http.ErrServerClosed) && runErr == nil {
		runErr = fmt.Errorf("serving HTTP: %w", err)
	}
	stopSim()
	wg.Wait()
	steps := sim.StepCosts()
	log.Info("Stopped", "steps", steps.Steps, "stepMeanSeconds", steps.Mean().Seconds(), "stepMaxSeconds", steps.Max.Seconds())
	return runErr
}

func buildDemo(ctx context.Context, endpoint, region string, log logr.Logger) error {
	fleet := demo.Small()
	as, ec := demo.NewClients(endpoint, region)
	bctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	if err := demo.Build(bctx, as, ec, fleet); err != nil {
		return fmt.Errorf("building the demo fleet: %w", err)
	}
	log.Info("Built demo fleet", "clusters", len(fleet.Clusters), "instances", fleet.Instances(), "managedGroups", len(fleet.ManagedASGs()))
	return nil
}

func newLogger(format string, w io.Writer) (logr.Logger, func()) {
	var enc zapcore.Encoder
	if format == "json" {
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	} else {
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		cfg.CallerKey = zapcore.OmitKey
		enc = zapcore.NewConsoleEncoder(cfg)
	}
	z := zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), zapcore.InfoLevel))
	// Sync fails harmlessly on terminals and pipes; nothing to do about it.
	return zapr.NewLogger(z).WithName("awssim"), func() { _ = z.Sync() }
}

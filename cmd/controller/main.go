// Command ecs-drainer makes EC2 Auto Scaling scale-in safe for Amazon ECS: for every instance held in
// Terminating:Wait by a terminating lifecycle hook it drains the ECS container instance, records
// heartbeats while tasks move, and completes the lifecycle action once every task has stopped.
//
// This file is wiring only: options -> logger -> metrics registry -> AWS clients -> reconciler, an
// HTTP server for /metrics, /healthz, /readyz and the drains page (/ and /drains, pkg/web), and
// signal handling. With --simulate it also runs the AWS simulator in-process with a live demo fleet
// (simulate.go). `ecs-drainer check` checks the setup once instead, changing nothing (check.go,
// pkg/check).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/utils/clock"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/events"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
	"github.com/ecs-drainer/ecs-drainer/pkg/options"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler"
	"github.com/ecs-drainer/ecs-drainer/pkg/web"
)

// Stamped at build time: go build -ldflags "-X main.version=v1.2.3 -X main.revision=abc1234"
// (the Makefile does this).
var (
	version  = "dev"
	revision = "unknown"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a runtime failure: could not listen, could not load AWS configuration
	exitConfig = 2 // a bad configuration: nothing was started
)

// shutdownTimeout bounds how long the HTTP servers get to finish their requests at shutdown.
const shutdownTimeout = 5 * time.Second

func main() {
	ctx, stop := signalContext(os.Stderr)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// signalContext is cancelled by the first SIGTERM or SIGINT, which starts a graceful shutdown; a
// second one exits at once, for a person whose Ctrl-C should not wait on a slow AWS call.
func signalContext(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		s := <-sigs
		_, _ = fmt.Fprintf(stderr, "ecs-drainer: second %s, exiting at once\n", s)
		os.Exit(130)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel()
	}
}

// run is the whole program with its inputs and outputs passed in, so tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return (&app{stdout: stdout, stderr: stderr, getenv: getenv}).run(ctx, args)
}

// app is one run of the program.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// listening, when set, is told where the HTTP server and (with --simulate) the simulator listen,
	// once both serve. Tests use it to find ports chosen by the kernel.
	listening func(httpAddr, simEndpoint string)
}

func (a *app) run(ctx context.Context, args []string) int {
	if isCheck(args) {
		return a.runCheck(ctx, args[1:])
	}
	opts, err := options.Parse(args, a.getenv)
	if err != nil {
		a.printConfigError(err, "ecs-drainer --help")
		return exitConfig
	}
	if code, done := a.helpOrVersion(opts.Help, opts.Version, opts.PrintUsage); done {
		return code
	}

	log, flush := newLogger(opts.LogFormat, opts.LogLevel, a.stderr)
	defer flush()
	ctx = logr.NewContext(ctx, log)
	if err := a.serve(ctx, opts, log); err != nil {
		log.Error(err, "Exiting on error")
		var cfgErr configError
		if errors.As(err, &cfgErr) {
			return exitConfig
		}
		return exitFailed
	}
	return exitOK
}

// configError marks a configuration problem found after parsing (by the reconciler's own checks).
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

// printConfigError lists every configuration problem; help is the command that lists the flags.
func (a *app) printConfigError(err error, help string) {
	_, _ = fmt.Fprintln(a.stderr, "ecs-drainer: invalid configuration:")
	for _, line := range strings.Split(err.Error(), "\n") {
		_, _ = fmt.Fprintf(a.stderr, "  - %s\n", line)
	}
	_, _ = fmt.Fprintf(a.stderr, "Run %s to list the flags and their environment variables.\n", help)
}

func (a *app) printVersion() {
	_, _ = fmt.Fprintf(a.stdout, "ecs-drainer %s (revision %s, %s)\n", version, revision, runtime.Version())
}

// serve wires everything and blocks until ctx ends and the controller has finished the reconciles
// it holds.
func (a *app) serve(ctx context.Context, opts *options.Options, log logr.Logger) error {
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	m := metrics.New(reg, version, revision)

	// Listen before anything else, so a taken port fails at once, and /healthz answers while the
	// rest starts.
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", opts.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listening on --http-addr %s: %w", opts.HTTPAddr, err)
	}
	var ctrl atomic.Pointer[reconciler.Controller]
	srv := &http.Server{Handler: handler(reg, &ctrl), ReadHeaderTimeout: 10 * time.Second}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(ln) }()
	defer func() {
		shutdown(srv, log, "metrics")
		if err := <-srvDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "HTTP server failed")
		}
	}()

	clientOpts := awsapi.ClientOptions{QPS: opts.AWSQPS, Burst: opts.AWSBurst, Observer: m}
	m.AWSRequestRateLimit.Set(opts.AWSQPS)
	simEndpoint := ""
	if opts.Simulate {
		sim, err := startSimulation(ctx, opts, log)
		if err != nil {
			return err
		}
		defer sim.stop()
		simEndpoint = sim.endpoint
		opts.QueueURL = sim.queueURL
		clientOpts.EndpointURL, clientOpts.Region, clientOpts.Credentials = sim.endpoint, simRegion, simCredentials()
		printBanner(a.stdout, sim.endpoint, ln.Addr().String())
	}

	asClient, ecsClient, err := awsapi.NewClients(ctx, clientOpts)
	if err != nil {
		return fmt.Errorf("creating AWS clients: %w", err)
	}
	c, err := reconciler.New(opts.ReconcilerConfig(), reconciler.Deps{
		AutoScaling: asClient,
		ECS:         ecsClient,
		Metrics:     m,
		Clock:       clock.RealClock{},
		Log:         log.WithName("controller"),
	})
	if err != nil {
		return configError{fmt.Errorf("creating the controller: %w", err)}
	}
	var consumer *events.Consumer
	if evCfg := opts.EventsConfig(); evCfg.Enabled() {
		if consumer, err = newConsumer(ctx, evCfg, clientOpts, reg, c); err != nil {
			return err
		}
	}
	ctrl.Store(c)

	logStart(log, opts, ln.Addr().String())
	if a.listening != nil {
		a.listening(ln.Addr().String(), simEndpoint)
	}

	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		if consumer != nil {
			// Polling stays on beside it: events only make the controller look sooner.
			consumer.Run(logr.NewContext(ctx, log.WithName("events")))
		}
	}()
	runErr := c.Run(ctx)
	// The consumer finishes the batch in hand (handleTimeout); the controller, shut down,
	// refuses its hints, so their messages reappear for the next replica.
	<-consumerDone
	log.Info("Shutting down")
	if runErr != nil && ctx.Err() == nil {
		return fmt.Errorf("running the controller: %w", runErr)
	}
	return nil
}

// newConsumer builds the event queue's consumer with the controller as its sink, and tells the
// controller about it. The event metrics are registered only here, so that their absence says
// "no queue" and the queue alerts stay quiet.
func newConsumer(ctx context.Context, cfg events.Config, clientOpts awsapi.ClientOptions, reg *prometheus.Registry, c *reconciler.Controller) (*events.Consumer, error) {
	sqsClient, err := awsapi.NewSQSClient(ctx, clientOpts)
	if err != nil {
		return nil, fmt.Errorf("creating the SQS client: %w", err)
	}
	em := metrics.NewEventMetrics(reg)
	consumer, err := events.New(cfg, events.Deps{SQS: sqsClient, Sink: c, Metrics: em, Clock: clock.RealClock{}})
	if err != nil {
		return nil, configError{fmt.Errorf("creating the event consumer: %w", err)}
	}
	c.UseEventQueue(reconciler.EventQueue{Health: consumer.Health, Metrics: em})
	return consumer, nil
}

// newRegistry is the metrics registry, with the Go and process collectors.
func newRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("registering the Go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("registering the process collector: %w", err)
	}
	return reg, nil
}

// logStart says what the controller is about to do, with the configuration that matters.
func logStart(log logr.Logger, opts *options.Options, httpAddr string) {
	hook := opts.HookName
	if hook == "" {
		hook = "(each group's single terminating hook)"
	}
	clusters := "(all)"
	if len(opts.Clusters) > 0 {
		clusters = strings.Join(opts.Clusters, ",")
	}
	log.Info("Starting ecs-drainer",
		"version", version, "revision", revision,
		"asgTag", opts.ASGTag, "asgNames", opts.ASGNames, "hookName", hook, "manageHooks", opts.ManageHooks,
		"clusters", clusters, "dryRun", opts.DryRun, "httpAddr", httpAddr,
		"resyncPeriod", opts.ResyncPeriod.String(), "pollInterval", opts.PollInterval.String(),
		"drainTimeout", opts.DrainTimeout.String(), "drainTimeoutAction", opts.DrainTimeoutAction,
		"queueURL", opts.QueueURL, "rebalanceAction", opts.RebalanceAction)
	if opts.DryRun {
		log.Info("Dry run: nothing will be changed on AWS")
	}
	if opts.QueueURL == "" && opts.RebalanceAction != reconciler.RebalanceIgnore {
		log.Info("Ignoring --rebalance-action without --queue-url", "why", "rebalance recommendations come only as events", "rebalanceAction", opts.RebalanceAction)
	}
}

// handler serves /metrics, /healthz (the process serves), /readyz (the controller has listed the
// fleet successfully at least once), and the drains page: / in HTML and /drains in JSON.
func handler(reg *prometheus.Registry, ctrl *atomic.Pointer[reconciler.Controller]) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	drains := func() (reconciler.DrainsView, bool) {
		if c := ctrl.Load(); c != nil {
			return c.Drains(), true
		}
		return reconciler.DrainsView{}, false
	}
	mux.Handle("GET /{$}", web.Page(drains, version))
	mux.Handle("GET /drains", web.JSON(drains))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if c := ctrl.Load(); c != nil && c.Ready() {
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		http.Error(w, "not ready: no successful resync of the fleet yet", http.StatusServiceUnavailable)
	})
	return mux
}

func shutdown(srv *http.Server, log logr.Logger, name string) {
	// The serving context is already cancelled here; shutdown gets its own bounded one.
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Error(err, "Stopping HTTP server", "server", name)
	}
}

// helpOrVersion answers --help (with printUsage) or --version, and reports whether it did.
func (a *app) helpOrVersion(help, version bool, printUsage func(io.Writer) error) (code int, done bool) {
	switch {
	case help:
		if err := printUsage(a.stdout); err != nil {
			return exitFailed, true
		}
		return exitOK, true
	case version:
		a.printVersion()
		return exitOK, true
	}
	return 0, false
}

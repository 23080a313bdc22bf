package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/go-logr/logr"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/pkg/options"
)

// The simulated account's region and fake credentials (the simulator checks no signature).
const (
	simRegion    = "us-east-1"
	simAccessKey = "AKIDSIMULATE"
	simSecretKey = "simulate-secret-not-a-real-key"
)

// buildTimeout bounds building the demo fleet; on the simulator's default delays it takes about a
// second.
const buildTimeout = 30 * time.Second

func simCredentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(simAccessKey, simSecretKey, "")
}

// simulation is the in-process simulator of --simulate with its demo fleet and scale loop.
type simulation struct {
	endpoint string
	// queueURL is the event queue the controller consumes: the demo's own, or --queue-url.
	queueURL string
	stop     func()
}

// startSimulation serves awssim on --sim-listen, builds demo.Small() in it through the SDK and
// starts the scale loop. It also creates the event queue the controller reads (CreateEventQueue),
// unless --queue-url is given. The simulator keeps running until stop, after the controller has
// finished, so the reconcile in hand at shutdown can still reach it; the scale loop stops with ctx.
func startSimulation(ctx context.Context, opts *options.Options, log logr.Logger) (*simulation, error) {
	log = log.WithName("demo")
	sim := awssim.New(awssim.Options{Region: simRegion, Seed: 1})
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", opts.SimListen)
	if err != nil {
		return nil, fmt.Errorf("listening on --sim-listen %s: %w", opts.SimListen, err)
	}
	endpoint := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	simCtx, cancelSim := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "Simulator HTTP server failed")
		}
	})
	wg.Go(func() { sim.Start(simCtx) })
	stop := func() {
		cancelSim()
		shutdown(srv, log, "simulator")
		wg.Wait()
	}

	fleet := demo.Small()
	asClient, ecsClient := demo.NewClients(endpoint, simRegion)
	buildCtx, cancelBuild := context.WithTimeout(ctx, buildTimeout)
	defer cancelBuild()
	if err := demo.Build(buildCtx, asClient, ecsClient, fleet); err != nil {
		stop()
		return nil, fmt.Errorf("building the demo fleet in the simulator: %w", err)
	}
	log.Info("Built demo fleet", "endpoint", endpoint, "clusters", len(fleet.Clusters), "instances", fleet.Instances(),
		"managedGroups", len(fleet.ManagedASGs()), "scaleInterval", demo.DefaultScaleInterval.String())

	// The demo takes the event path, as a deployment with the template's queue does: a queue and
	// an EventBridge rule made with standard AWS calls, unless --queue-url names another queue.
	queueURL := opts.QueueURL
	if queueURL == "" {
		q, err := demo.CreateEventQueue(buildCtx, endpoint, simRegion)
		if err == nil {
			err = demo.RouteEventsTo(buildCtx, endpoint, simRegion, q, demo.ControllerEvents)
		}
		if err != nil {
			stop()
			return nil, fmt.Errorf("setting up the demo's event queue in the simulator: %w", err)
		}
		queueURL = q.URL
		log.Info("Created the event queue and its EventBridge rule", "queueURL", queueURL)
	}

	// The first scale-in comes a few seconds after the banner, so a person sees a drain at once.
	// Every fourth step interrupts a Spot instance instead, which the event path drains at the warning.
	interrupt := func(id string) error { return sim.InterruptSpot(id, "terminate") }
	loop := &demo.ScaleLoop{AutoScaling: asClient, Groups: fleet.ManagedASGs(), Log: log, Seed: 1, FirstStepAfter: firstScaleAfter, Interrupt: interrupt}
	wg.Go(func() { loop.Run(ctx) })
	return &simulation{endpoint: endpoint, queueURL: queueURL, stop: stop}, nil
}

// firstScaleAfter is how soon after start the demo's first scale-in comes.
const firstScaleAfter = 5 * time.Second

// printBanner tells a person at the terminal where to look while the demo runs.
func printBanner(w io.Writer, simEndpoint, httpAddr string) {
	web := "http://" + displayAddr(httpAddr)
	_, _ = fmt.Fprintf(w, `
Drains page: %s/   (open it in a browser; the same as JSON: %s/drains)

ecs-drainer --simulate: a simulated AWS account (awssim) with a demo fleet; a managed group scales
in or out every %s (the first in a few seconds), and the controller drains the instances being terminated.

  controller metrics  %s/metrics   (health: %s/healthz, %s/readyz)
  simulator endpoint  %s   (its metrics: %s/metrics)

  Look around with the AWS CLI:
    export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=%s
    aws --endpoint-url %s autoscaling describe-auto-scaling-instances
    aws --endpoint-url %s ecs list-container-instances --cluster web --status DRAINING

Press Ctrl-C to stop.

`, web, web, demo.DefaultScaleInterval, web, web, web, simEndpoint, simEndpoint, simAccessKey, simRegion, simEndpoint, simEndpoint)
}

// displayAddr turns a listen address into one a browser can open: an empty or wildcard host
// becomes localhost.
func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

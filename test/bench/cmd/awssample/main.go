// Command awssample runs the drain algorithm of aws-samples/ecs-cid-sample (package
// test/bench/awssample) as its own process, for the benchmark's --peer aws-sample: the SNS topics
// and the Lambda runtime are modelled in this process, and the function's ECS and Auto Scaling
// calls go through aws-sdk-go-v2 clients to AWS_ENDPOINT_URL (awssim), with the same client-side
// rate limit as ecs-drainer (pkg/awsapi: one token bucket per service). Lifecycle notifications
// arrive as HTTP POSTs to /topics/{cluster} on loopback.
//
//	AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_REGION=us-east-1 awssample --aws-qps 100 --aws-burst 200
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/utils/clock"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/test/bench/awssample"
)

const (
	exitOK     = 0
	exitFailed = 1
	exitConfig = 2
)

// maxAttempts is botocore's legacy retry mode's total attempts per call (the sample builds its
// clients with boto3's defaults).
const maxAttempts = 5

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	listen        string
	qps           float64
	burst         int
	timeout       time.Duration
	maxChain      int
	retryDelays   []time.Duration
	republishWait time.Duration
}

func parse(args []string) (options, error) {
	o := options{}
	def := awssample.DefaultConfig()
	fs := pflag.NewFlagSet("awssample", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to serve on (port 0 picks a free one)")
	fs.Float64Var(&o.qps, "aws-qps", 100, "client-side request rate limit per service, as ecs-drainer's --aws-qps (requests/s; 0: none)")
	fs.IntVar(&o.burst, "aws-burst", 200, "client-side request burst, as ecs-drainer's --aws-burst")
	fs.DurationVar(&o.timeout, "lambda-timeout", def.Timeout, "the function's timeout (the sample's template: 60s)")
	fs.IntVar(&o.maxChain, "recursive-loop-limit", def.MaxChain, "invocations one chain of publishes may make before Lambda's loop detection drops the next (0: RecursiveLoop=Allow)")
	fs.DurationSliceVar(&o.retryDelays, "async-retry-delays", def.RetryDelays, "waits before the retries of a failed asynchronous invocation (Lambda: 1m,2m)")
	fs.DurationVar(&o.republishWait, "republish-delay", awssample.RepublishDelay, "the sample's sleep before it publishes the message again")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%w\n%s", err, fs.FlagUsages())
	}
	var p []error
	if o.timeout <= 0 || o.republishWait < 0 || o.maxChain < 0 || o.qps < 0 || o.burst < 1 {
		p = append(p, errors.New("--lambda-timeout must be positive, --republish-delay, --recursive-loop-limit and --aws-qps not negative, --aws-burst at least 1"))
	}
	return o, errors.Join(p...)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	o, err := parse(args)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "awssample: %v\n", err)
		return exitConfig
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	as, ec, err := awsapi.NewClients(ctx, awsapi.ClientOptions{QPS: o.qps, Burst: o.burst, MaxAttempts: maxAttempts})
	if err != nil {
		log.Error("Building AWS clients", "error", err.Error())
		return exitFailed
	}
	cfg := awssample.DefaultConfig()
	cfg.Timeout, cfg.MaxChain, cfg.RetryDelays = o.timeout, o.maxChain, o.retryDelays
	if r := os.Getenv("AWS_REGION"); r != "" {
		cfg.Region = r
	}
	clk := clock.RealClock{}
	h := &awssample.Handler{ECS: ec, AutoScaling: as, Clock: clk, Log: log, Delay: o.republishWait}
	rt := awssample.NewRuntime(ctx, clk, cfg, h.Handle, log)
	h.SNS = rt

	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.listen)
	if err != nil {
		log.Error("Listening", "address", o.listen, "error", err.Error())
		return exitFailed
	}
	srv := &http.Server{Handler: rt.Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("Serving the ecs-cid-sample peer", "httpAddr", l.Addr().String(), "awsQps", o.qps, "awsBurst", o.burst,
		"lambdaTimeout", o.timeout.String(), "recursiveLoopLimit", o.maxChain)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		log.Error("Serving", "error", err.Error())
		return exitFailed
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	s := rt.Stats()
	log.Info("Stopped", "invocations", s.Invocations, "publishes", s.Publishes, "errors", s.Errors, "inFlight", s.InFlight, "scheduled", s.Scheduled)
	return exitOK
}

// Command bench is `make bench`: it runs ecs-drainer and awssim as separate processes on loopback,
// builds a large ECS fleet in the simulator through the SDK, measures what the controller costs
// with nothing terminating, then scales in a share of the fleet at once and measures the drains:
// AWS calls by service and operation (counted by awssim, the ground truth), latencies from awssim's
// per-instance timelines, CPU and memory of both processes from /proc, and the safety invariants
// (no task killed by a termination, no lifecycle action expired). It prints a table and writes
// bench.json (and both processes' logs) to --out.
//
// Performance targets are reported, met or missed, never asserted: the exit status is 1 only when
// the run itself failed or a safety invariant of ecs-drainer broke.
//
// With --events it gives the controller an event queue: an SQS queue fed by the EventBridge rules
// of the CloudFormation template, created in awssim through the SDK, and --queue-url; SQS calls
// are counted with the rest. --events both then runs the same fleet and scale-in without a queue,
// in a fresh awssim, and prints both modes side by side.
//
// With --peer aws-sample it then runs aws-samples/ecs-cid-sample's Lambda (test/bench/awssample) on
// the same fleet and scale-in in a fresh awssim, measures it from the same ground truth, and prints
// both side by side. The sample's broken invariants are its results, not failures of the run.
//
//	go run ./test/bench --awssim bin/awssim --controller bin/ecs-drainer --out bench-results
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/pflag"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the run failed, or a safety invariant broke
	exitConfig = 2 // bad flags: nothing was started
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program with its inputs and outputs passed in.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args)
	if errors.Is(err, pflag.ErrHelp) {
		_, _ = fmt.Fprint(stdout, helpText())
		return exitOK
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitConfig
	}
	res, err := runBench(ctx, cfg, stderr)
	if res != nil && err == nil {
		err = runAfter(ctx, cfg, res, stderr)
	}
	if res != nil {
		_, _ = fmt.Fprint(stdout, renderTable(res))
		if werr := writeResults(cfg.Out, res); werr != nil {
			_, _ = fmt.Fprintf(stderr, "bench: %v\n", werr)
			return exitFailed
		}
		_, _ = fmt.Fprintf(stdout, "\nWrote %s\n", resultsPath(cfg.Out))
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitFailed
	}
	if broken := res.broken(); len(broken) > 0 {
		_, _ = fmt.Fprintf(stderr, "bench: safety invariants broken: %v\n", broken)
		return exitFailed
	}
	return exitOK
}

// runAfter runs what comes after ecs-drainer's run, one at a time so that the machine's cores go
// to one drainer and its awssim at a time: the polling run of --events both, in a fresh awssim with
// the same fleet and scale-in and its files in a directory of their own, then the peer.
func runAfter(ctx context.Context, cfg Config, res *Result, stderr io.Writer) error {
	if cfg.Events == EventsBoth {
		pc := cfg
		pc.Events = EventsOff
		pc.Out = filepath.Join(cfg.Out, modePolling)
		var err error
		if res.Polling, err = runBench(ctx, pc, stderr); err != nil {
			return err
		}
	}
	if cfg.Peer == "" {
		return nil
	}
	pr, err := runPeer(ctx, cfg, stderr)
	if pr != nil {
		res.Peers = append(res.Peers, *pr)
	}
	return err
}

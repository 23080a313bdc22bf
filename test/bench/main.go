// Command bench is `make bench`: it runs ecs-drainer and awssim as separate processes on loopback,
// builds a large ECS fleet in the simulator through the SDK, measures what the controller costs
// with nothing terminating, then scales in a share of the fleet at once and measures the drains:
// AWS calls by service and operation (counted by awssim, the ground truth), latencies from awssim's
// per-instance timelines, CPU and memory of both processes from /proc, and the safety invariants
// (no task killed by a termination, no lifecycle action expired). It prints a table and writes
// bench.json (and both processes' logs) to --out.
//
// Performance targets are reported, met or missed, never asserted: the exit status is 1 only when
// the run itself failed or a safety invariant broke.
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
	if broken := res.Safety.Broken(); len(broken) > 0 {
		_, _ = fmt.Fprintf(stderr, "bench: safety invariants broken: %v\n", broken)
		return exitFailed
	}
	return exitOK
}

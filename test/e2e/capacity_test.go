package e2e

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

var capacity = flag.Bool("capacity", false, "measure the controller's heartbeat capacity at several latencies and --aws-qps (make heartbeat-capacity); prints a table")

// TestHeartbeatCapacity measures how many lifecycle heartbeats per second the controller sustains
// for a given API latency and --aws-qps. N instances wait in Terminating:Wait before the
// controller starts, so at its first sight every one of them needs a heartbeat at once (the last
// one is unknown); the capacity is the rate at which it records them, read from its
// heartbeats_total every 100 ms once the rate limit's initial burst (--aws-burst, here 2 x
// --aws-qps) is spent. Hooks are an hour long so nothing expires while it is measured,
// and the drains (tasks that take 2 minutes to stop) go on meanwhile, with their own ECS calls and
// the Auto Scaling calls of discovery. It prints numbers and asserts only that every heartbeat
// was recorded: speed is shown, not asserted.
func TestHeartbeatCapacity(t *testing.T) {
	if !*capacity {
		t.Skip("a measurement, not a test: run with -args -capacity (make heartbeat-capacity)")
	}
	runs := []struct {
		qps       float64
		latency   time.Duration
		instances int
	}{
		{10, 0, 150},
		{10, 700 * time.Millisecond, 150},
		{10, 2 * time.Second, 150},
		{10, 4 * time.Second, 150},
		{100, 700 * time.Millisecond, 1000},
	}
	var report strings.Builder
	fmt.Fprintf(&report, "%-8s %-9s %-10s %-9s %-22s %-12s\n", "aws-qps", "latency", "instances", "workers", "heartbeats/s sustained", "ceiling")
	for _, r := range runs {
		rate, workers := measureHeartbeats(t, r.qps, r.latency, r.instances)
		ceiling := r.qps
		if r.latency > 0 {
			ceiling = min(ceiling, float64(workers)/r.latency.Seconds())
		}
		fmt.Fprintf(&report, "%-8v %-9v %-10d %-9d %-22.1f %-12.1f\n", r.qps, r.latency, r.instances, workers, rate, ceiling)
	}
	t.Logf("heartbeat capacity (ceiling: min(--aws-qps, workers / latency)):\n%s", report.String())
}

// measureHeartbeats runs one measurement and returns the heartbeats per second recorded and the
// heartbeat workers the controller ran.
func measureHeartbeats(t *testing.T, qps float64, latency time.Duration, n int) (float64, int) {
	t.Helper()
	e := newCtrlEnv(t, "--stop-timeout-scale", "1")
	e.build(slowGroup("capacity", "capacity-asg", n, time.Hour, 120*time.Second))
	ids := e.scaleIn("capacity-asg", 0)
	if len(ids) != n {
		t.Fatalf("scale-in put %d instances in Terminating:Wait, want %d", len(ids), n)
	}
	e.setFaults(awssim.Faults{LatencyMS: int(latency / time.Millisecond)})
	burst := max(int(qps*2), 1)
	ctrl := e.startController("--aws-qps", fmt.Sprint(qps), "--aws-burst", fmt.Sprint(burst), "--resync-period", "15s", "--poll-interval", "15s")
	var first, last time.Time
	var firstCount float64
	err := harness.Eventually(5*time.Minute, 100*time.Millisecond, func() (bool, string) {
		mfs, err := harness.Metrics(ctrl.Addr)
		if err != nil {
			return false, err.Error()
		}
		got := harness.Sum(mfs, "ecs_drainer_heartbeats_total", nil)
		// The window opens once the bucket's initial burst is spent: what follows is sustained.
		if got > float64(burst) && first.IsZero() {
			first, firstCount = time.Now(), got
		}
		if got >= float64(n) {
			last = time.Now()
			return true, ""
		}
		return false, fmt.Sprintf("%v of %d heartbeats", got, n)
	})
	if err != nil {
		t.Fatalf("qps %v latency %v: %v", qps, latency, err)
	}
	if st := e.stats(); st.LifecycleActionsTimedOut != 0 {
		t.Errorf("%d actions expired under hour-long hooks", st.LifecycleActionsTimedOut)
	}
	if err := ctrl.Stop(30 * time.Second); err != nil {
		t.Errorf("stopping the controller: %v", err)
	}
	workers := reconciler.HeartbeatWorkersFor(qps)
	return (float64(n) - firstCount) / last.Sub(first).Seconds(), workers
}

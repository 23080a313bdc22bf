// Package e2e holds the end-to-end tests: the real ecs-drainer and awssim binaries run as separate
// processes on loopback, talking the real ECS and Auto Scaling wire protocols through the real
// aws-sdk-go-v2 clients. Each scenario asserts end states and invariants from the simulator's own
// ground truth (/debug/stats, /debug/timeline, /metrics): every terminated instance had no task
// running, no lifecycle action expired while the controller was up, and every instance was
// completed exactly once.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
)

// ctrlDefaultParallel is how many scenarios run at once unless -parallel is given. The scenarios
// spend their time waiting on other processes (a drain takes seconds of simulated work), not on
// the CPU, so running more of them than the 2-core default keeps the suite within minutes.
const ctrlDefaultParallel = "12"

func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", ctrlDefaultParallel); err != nil {
			fmt.Fprintln(os.Stderr, "setting -test.parallel:", err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// TestControllerFleetPaging drains many instances of several groups in several clusters at once,
// with every paged List and Describe cut to two items per page, so that the controller must follow
// every page of DescribeAutoScalingGroups, ListClusters, ListContainerInstances and ListTasks.
// Unmanaged groups, tagged nothing and holding their own instances in Terminating:Wait, sit between
// the managed ones on the same pages and in the same clusters; the controller must not touch them.
func TestControllerFleetPaging(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t, "--page-size", "2")
	f := demo.Uniform(demo.Shape{
		Clusters: 3, ASGsPerCluster: 2, InstancesPerASG: 3,
		ServicesPerCluster: 3, TasksPerInstance: 1, Daemon: true, TaskSlots: 6,
	})
	unmanaged := []string{"legacy-a", "legacy-b"}
	for i, name := range unmanaged {
		f.Clusters[i].ASGs = append(f.Clusters[i].ASGs, demo.ASG{
			Name: name, Min: 0, Desired: 2, Max: 2, TaskSlots: 6,
			HookName: demo.DefaultHookName, HookHeartbeatTimeout: 300 * time.Second,
		})
	}
	e.build(f)
	ctrl := e.startController()
	e.waitReady(ctrl)

	var drained, held []string
	for _, g := range f.ManagedASGs() {
		drained = append(drained, e.scaleIn(g.Name, 1)...)
	}
	for _, name := range unmanaged {
		held = append(held, e.scaleIn(name, 1)...)
	}
	if len(drained) != 12 || len(held) != 2 {
		t.Fatalf("scale-in put %d managed and %d unmanaged instances in Terminating:Wait, want 12 and 2", len(drained), len(held))
	}
	e.waitTerminated(drained)
	e.waitCtrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"}, 12)

	st := e.stats()
	e.drainedOnce(drained)
	e.noHarm(st)
	e.completions(st, 12, 0)
	tls := e.timelines()
	for _, id := range held {
		tl := tls[id]
		if !tl.DrainingAt.IsZero() || tl.Completions != 0 || tl.Heartbeats != 0 || !tl.TerminatedAt.IsZero() {
			t.Errorf("unmanaged %s was touched: %+v", id, tl)
		}
	}
	if got := e.ctrlMetric(ctrl, "ecs_drainer_lifecycle_actions_completed_total", map[string]string{"result": "continue", "reason": "drained"}); got != 12 {
		t.Errorf("controller counted %v completions for drained instances, want 12", got)
	}
	if got := e.ctrlMetric(ctrl, "ecs_drainer_drains_in_progress", nil); got != 0 {
		t.Errorf("drains in progress = %v at the end, want 0", got)
	}
	// Every page was followed: the six managed groups span three pages, and the three clusters two.
	if got := e.ctrlMetric(ctrl, "ecs_drainer_managed_asgs", nil); got != 6 {
		t.Errorf("managed_asgs = %v, want 6", got)
	}
	if got := ctrlCalls(st, "ecs", "ListClusters"); got < 2 {
		t.Errorf("%d ListClusters calls, want at least the two pages of three clusters", got)
	}
	t.Logf("requests:\n%s", ctrlFormatCounts(ctrlByOp(st.Requests)))
}

// TestControllerAPICost counts the API calls the controller makes, from awssim's own counters. An
// idle fleet (nothing terminating) costs exactly one DescribeAutoScalingGroups per 100 tagged
// groups per resync and no ECS call at all. A drain of several instances of one cluster costs,
// per instance, the writes the reconciler's package doc promises (a share of a DRAINING call, one
// tag, one completion, no heartbeat for a drain shorter than half the heartbeat timeout) and one
// ListTasks, plus lookups shared by the whole batch.
func TestControllerAPICost(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t)
	const spareGroups = 101 // with the 3 below, 104 tagged groups: two pages of 100
	f := demo.Fleet{Clusters: []demo.Cluster{
		{
			Name: "cost-a",
			ASGs: []demo.ASG{
				{Name: "cost-a-1", Min: 0, Desired: 8, Max: 8, TaskSlots: 4, Managed: true, HookHeartbeatTimeout: 60 * time.Second},
				{Name: "cost-a-2", Min: 0, Desired: 2, Max: 2, TaskSlots: 4, Managed: true, HookHeartbeatTimeout: 60 * time.Second},
			},
			Services: []demo.Service{
				{Name: "web", DesiredCount: 6, MinimumHealthyPercent: 50, MaximumPercent: 200},
				{Name: "agent", Daemon: true},
			},
		},
		{
			Name: "cost-b",
			ASGs: []demo.ASG{
				{Name: "cost-b-1", Min: 0, Desired: 2, Max: 2, TaskSlots: 4, Managed: true, HookHeartbeatTimeout: 60 * time.Second},
				{Name: "cost-b-legacy", Min: 0, Desired: 1, Max: 1, TaskSlots: 4},
			},
			Services: []demo.Service{{Name: "web", DesiredCount: 3, MinimumHealthyPercent: 50, MaximumPercent: 200}},
		},
		{Name: "cost-spare"},
	}}
	for i := range spareGroups {
		f.Clusters[2].ASGs = append(f.Clusters[2].ASGs, demo.ASG{
			Name: fmt.Sprintf("cost-spare-%03d", i), Max: 1, Managed: true, HookHeartbeatTimeout: 60 * time.Second,
		})
	}
	e.build(f)
	beforeStart := e.stats()
	ctrl := e.startController()
	e.waitReady(ctrl)

	// Idle: count K resyncs by the controller's last-success timestamp, which changes once per
	// resync (resyncs are 2 s apart, the gauge has 1 s resolution), and is set after the listing.
	const resyncs = 3
	const pagesPerResync = 2
	lastResync := func() float64 { return e.ctrlMetric(ctrl, "ecs_drainer_last_resync_success_timestamp_seconds", nil) }
	nextResync := func(prev float64) float64 {
		var now float64
		e.eventually("the next resync", func() (bool, string) {
			now = lastResync()
			return now != prev, fmt.Sprintf("last resync at %v", now)
		})
		return now
	}
	ts := nextResync(lastResync())
	idleStart := e.stats()
	ctrlStart := e.ctrlMetric(ctrl, "ecs_drainer_aws_requests_total", map[string]string{"operation": "DescribeAutoScalingGroups"})
	for range resyncs {
		ts = nextResync(ts)
	}
	idleEnd := e.stats()
	ctrlEnd := e.ctrlMetric(ctrl, "ecs_drainer_aws_requests_total", map[string]string{"operation": "DescribeAutoScalingGroups"})
	idle := ctrlByOp(ctrlDelta(idleStart, idleEnd))
	want := map[string]int{"autoscaling/DescribeAutoScalingGroups": resyncs * pagesPerResync}
	if fmt.Sprint(idle) != fmt.Sprint(want) {
		t.Errorf("idle fleet, %d resyncs: calls\n%swant\n%s", resyncs, ctrlFormatCounts(idle), ctrlFormatCounts(want))
	}
	if got := int(ctrlEnd - ctrlStart); got != resyncs*pagesPerResync {
		t.Errorf("the controller counted %d DescribeAutoScalingGroups calls over %d resyncs, awssim %d", got, resyncs, resyncs*pagesPerResync)
	}
	for op, n := range ctrlByOp(ctrlDelta(beforeStart, idleEnd)) {
		if op != "autoscaling/DescribeAutoScalingGroups" {
			t.Errorf("idle fleet: %d %s calls since the controller started, want none", n, op)
		}
	}

	// Draining: six instances of one cluster leave together.
	const drains = 6
	drainStart := e.stats()
	ids := e.scaleIn("cost-a-1", 2)
	if len(ids) != drains {
		t.Fatalf("scale-in put %d instances in Terminating:Wait, want %d", len(ids), drains)
	}
	e.waitTerminated(ids)
	e.waitCtrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"}, drains)
	drainEnd := e.stats()
	e.drainedOnce(ids)
	e.noHarm(drainEnd)
	drain := ctrlByOp(ctrlDelta(drainStart, drainEnd))
	t.Logf("draining %d instances of one cluster (resyncs included):\n%s", drains, ctrlFormatCounts(drain))
	exact := map[string]int{
		"autoscaling/SetDesiredCapacity":             1, // the test's scale-in
		"autoscaling/DescribeLifecycleHooks":         1, // once for the group, then cached
		"autoscaling/CompleteLifecycleAction":        drains,
		"autoscaling/RecordLifecycleActionHeartbeat": 0, // drains far shorter than half the 60 s timeout
		"ecs/ListClusters":                           1,
		"ecs/TagResource":                            0, // drains far shorter than tagAfter (half the 60 s timeout)
		"ecs/ListTasks":                              drains,
		"ecs/StopTask":                               0,
	}
	for _, op := range ctrlSortedKeys(exact) {
		if drain[op] != exact[op] {
			t.Errorf("draining %d instances: %d %s calls, want %d", drains, drain[op], op, exact[op])
		}
	}
	// DRAINING requests are coalesced over a 200 ms window: all six normally share one call, but on
	// a loaded machine a reconcile may miss the window and open a second batch.
	updates := drain["ecs/UpdateContainerInstancesState"]
	if updates < 1 || updates > 2 {
		t.Errorf("draining %d instances: %d UpdateContainerInstancesState calls, want 1 (2 at worst)", drains, updates)
	}
	if got, want := drainEnd.WriteCalls-drainStart.WriteCalls, 1+updates+drains; got != want {
		t.Errorf("draining %d instances: %d successful writes, want %d (scale-in, DRAINING, a completion each)", drains, got, want)
	}
	// Lookups are shared: one ListContainerInstances probe per cluster at most, then one for the
	// rest of the group's instances in the cluster where the probe found it. Lookups are batched
	// over a window like DRAINING's, so a loaded machine may split them in two: one call more.
	// Per-instance scans would cost a call per instance and cluster.
	if got, most := drain["ecs/ListContainerInstances"], len(f.Clusters)+2; got > most {
		t.Errorf("draining %d instances: %d ListContainerInstances calls, want at most %d", drains, got, most)
	}
}

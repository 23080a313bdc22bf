package reconciler

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/events"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// hintConfig is testConfig with the production resync and poll periods, so that only a hint can
// make the controller act within a second.
func hintConfig() Config {
	cfg := testConfig()
	cfg.ResyncPeriod, cfg.PollInterval = 15*time.Second, 15*time.Second
	return cfg
}

// startWithQueue starts a controller told that an event queue feeds it (healthy, idle).
func (e *env) startWithQueue(cfg Config) (*testController, *metrics.EventMetrics) {
	e.t.Helper()
	c, reg, m := e.newController(cfg, nil, nil)
	em := metrics.NewEventMetrics(prometheus.NewRegistry())
	c.UseEventQueue(EventQueue{Health: func() events.Health { return events.Health{LastReceive: e.clock.Now()} }, Metrics: em})
	tc := e.run(c, reg, m, nil)
	return tc, em
}

// TestHintsDrainAndCompleteAtOnce: with 15 s resync and poll, a terminating hint sets DRAINING
// within a second of simulated time, and a stopped-task hint completes the action within a second
// of the last task stopping. Nothing is counted as found by resync.
func TestHintsDrainAndCompleteAtOnce(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 3, slots: 4, heartbeat: 300, defaultResult: "ABANDON", tasks: 6, minPct: 50, maxPct: 200})
	c, em := e.startWithQueue(hintConfig())
	e.advance(16*time.Second, time.Second) // past the first resync

	e.setDesired("web", 2)
	e.advance(100*time.Millisecond, 100*time.Millisecond)
	waiting := e.inState("web", "Terminating:Wait")
	if len(waiting) != 1 {
		t.Fatalf("instances in Terminating:Wait %v, want one", waiting)
	}
	id := waiting[0]
	if err := c.Instance(t.Context(), events.InstanceHint{Kind: events.InstanceTerminating, InstanceID: id}); err != nil {
		t.Fatalf("Instance: %v", err)
	}
	e.until("DRAINING after the hint", time.Second, 100*time.Millisecond, func() bool {
		ci, ok := e.containerInstance("c1", id)
		return ok && ci.Status != nil && *ci.Status == "DRAINING"
	})
	ci, _ := e.containerInstance("c1", id)
	// The tasks stop on their own (the service places them elsewhere); each stop is a hint.
	e.until("tasks stopped", time.Minute, 100*time.Millisecond, func() bool { return e.allStopped("c1", *ci.ContainerInstanceArn) })
	if err := c.Task(t.Context(), events.TaskHint{LastStatus: "STOPPED", ContainerInstanceARN: *ci.ContainerInstanceArn}); err != nil {
		t.Fatalf("Task: %v", err)
	}
	e.until("completed after the hint", 2*time.Second, 100*time.Millisecond, func() bool {
		return !slices.Contains(e.inState("web", "Terminating:Wait"), id)
	})
	if got := value(t, em.InstancesFoundByResync); got != 0 {
		t.Errorf("instances_found_by_resync_total = %v, want 0", got)
	}
	e.checkNoHarm([]string{id})
}

// TestFoundByResyncCounted: an instance a resync finds whose terminating hint never comes is
// counted once, eventGrace after first sight; one whose hint comes late is not.
func TestFoundByResyncCounted(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 3, slots: 4, heartbeat: 300, defaultResult: "ABANDON", tasks: 6, minPct: 50, maxPct: 200})
	c, em := e.startWithQueue(hintConfig())
	e.advance(16*time.Second, time.Second)

	e.setDesired("web", 1)
	e.until("found by a resync", 20*time.Second, time.Second, func() bool { return len(c.Drains().InProgress) == 2 })
	late := c.Drains().InProgress[0].InstanceID
	if err := c.Instance(t.Context(), events.InstanceHint{Kind: events.InstanceTerminating, InstanceID: late}); err != nil {
		t.Fatalf("Instance: %v", err)
	}
	e.advance(30*time.Second, time.Second)
	if got := value(t, em.InstancesFoundByResync); got != 1 {
		t.Errorf("instances_found_by_resync_total = %v, want 1 (one hint never came, one came late)", got)
	}
}

// TestEarlierHintDoesNotCoverALaterAction: a terminating hint for an instance that was not
// terminating (a forged or stale event) does not count for its real scale-in later, whose event
// never came: that one is found by resync and counted.
func TestEarlierHintDoesNotCoverALaterAction(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 2, slots: 4, heartbeat: 300, defaultResult: "ABANDON", tasks: 4, minPct: 50, maxPct: 200})
	c, em := e.startWithQueue(hintConfig())
	e.advance(16*time.Second, time.Second)

	for id := range e.instances("web") {
		if err := c.Instance(t.Context(), events.InstanceHint{Kind: events.InstanceTerminating, InstanceID: id}); err != nil {
			t.Fatalf("Instance: %v", err)
		}
	}
	e.advance(time.Minute, time.Second) // resyncs list both in service: the hints named no action
	e.setDesired("web", 1)
	e.until("found by a resync", 20*time.Second, time.Second, func() bool { return len(c.Drains().InProgress) == 1 })
	e.advance(eventGrace+hintConfig().ResyncPeriod, time.Second)
	if got := value(t, em.InstancesFoundByResync); got != 1 {
		t.Errorf("instances_found_by_resync_total = %v, want 1: the earlier hint was not this action's event", got)
	}
}

// TestHintsRefusedAtShutdown: once the controller stops, every hint is refused, so its message
// stays on the queue.
func TestHintsRefusedAtShutdown(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	c, _ := e.startWithQueue(hintConfig())
	c.stop()
	ctx := t.Context()
	for name, err := range map[string]error{
		"instance":           c.Instance(ctx, events.InstanceHint{Kind: events.InstanceTerminating, InstanceID: "i-1"}),
		"container instance": c.ContainerInstance(ctx, events.ContainerInstanceHint{ContainerInstanceARN: "arn"}),
		"task":               c.Task(ctx, events.TaskHint{LastStatus: "STOPPED", ContainerInstanceARN: "arn"}),
		"spot":               c.Spot(ctx, events.SpotHint{InstanceID: "i-1"}),
		"rebalance":          c.Rebalance(ctx, events.RebalanceHint{InstanceID: "i-1"}),
	} {
		if err == nil {
			t.Errorf("%s hint taken after shutdown, want an error", name)
		}
	}
}

// allStopped reports whether the container instance runs no task and every task told to stop on
// it is STOPPED.
func (e *env) allStopped(cluster, ciArn string) bool {
	e.t.Helper()
	ctx := e.t.Context()
	for _, desired := range []ecstypes.DesiredStatus{ecstypes.DesiredStatusRunning, ecstypes.DesiredStatusStopped} {
		out, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), ContainerInstance: aws.String(ciArn), DesiredStatus: desired})
		if err != nil {
			e.t.Fatalf("ListTasks: %v", err)
		}
		if len(out.TaskArns) == 0 {
			continue
		}
		if desired == ecstypes.DesiredStatusRunning {
			return false
		}
		d, err := e.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: out.TaskArns})
		if err != nil {
			e.t.Fatalf("DescribeTasks: %v", err)
		}
		if slices.ContainsFunc(d.Tasks, func(t ecstypes.Task) bool { return aws.ToString(t.LastStatus) != "STOPPED" }) {
			return false
		}
	}
	return true
}

// TestHintCoversALaggingListing: the instance's own terminating event arrives, the resync it starts
// lists the group a moment before Auto Scaling's read side shows the instance waiting
// (DescribeAutoScalingGroups is eventually consistent), and the next resync sees it. The hint came
// before that listing began, but within eventGrace of it: it is this action's event, so nothing is
// counted as found by resync.
func TestHintCoversALaggingListing(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	c, _, _ := e.newController(hintConfig(), nil, nil)
	em := metrics.NewEventMetrics(prometheus.NewRegistry())
	c.UseEventQueue(EventQueue{Health: func() events.Health { return events.Health{LastReceive: e.clock.Now()} }, Metrics: em})
	c.lastResync.Store(e.clock.Now().UnixNano())
	const id, asg = "i-0123456789abcdef0", "web"
	now := e.clock.Now()
	c.groups[asg] = &groupState{hooksAt: now, selection: hookSelection{hook: hookInfo{name: hookName, heartbeatTimeout: 300 * time.Second, globalTimeout: 30000 * time.Second}}}
	c.watch(map[string]*listedGroup{asg: {name: asg}}, now)

	// The event, at once.
	e.clock.Step(time.Second)
	if err := c.Instance(t.Context(), events.InstanceHint{Kind: events.InstanceTerminating, InstanceID: id}); err != nil {
		t.Fatal(err)
	}
	// The resync it starts, 100 ms later: the listing lags.
	e.clock.Step(100 * time.Millisecond)
	c.watch(map[string]*listedGroup{asg: {name: asg}}, e.clock.Now())
	// The next resync shows it waiting; eventGrace later the sweep counts.
	e.clock.Step(2 * time.Second)
	c.watch(map[string]*listedGroup{asg: {name: asg, waiting: []string{id}}}, e.clock.Now())
	e.clock.Step(eventGrace)
	c.watch(map[string]*listedGroup{asg: {name: asg, waiting: []string{id}}}, e.clock.Now())
	if got := value(t, em.InstancesFoundByResync); got != 0 {
		t.Errorf("instances found by resync = %v, want 0: its own event came first", got)
	}
}

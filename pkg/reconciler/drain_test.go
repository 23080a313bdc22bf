package reconciler

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// TestScaleInDrainsAndCompletes scales in a managed ECS group: the instance leaving is drained, its
// service tasks move to the other instances, and the hook is completed once, with no task killed by
// the termination.
func TestScaleInDrainsAndCompletes(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 3, slots: 4, heartbeat: 300, defaultResult: "ABANDON", tasks: 6, minPct: 50, maxPct: 200})

	c := e.start(testConfig())
	e.setDesired("web", 2)
	e.until("instance terminated", 2*time.Minute, 250*time.Millisecond, func() bool { return len(e.instances("web")) == 2 })
	e.advance(5*time.Second, 500*time.Millisecond)

	st := e.sim.Stats()
	if n := st.TasksStoppedByReason[awssim.StopReasonHostTerminated]; n != 0 {
		t.Errorf("%d tasks killed by the termination, want 0", n)
	}
	if st.TerminatedWithTasks != 0 || st.LifecycleActionsTimedOut != 0 {
		t.Errorf("terminated with tasks %d, actions timed out %d; want 0, 0", st.TerminatedWithTasks, st.LifecycleActionsTimedOut)
	}
	if len(st.CompletionsByInstance) != 1 || st.LifecycleActionsCompleted["CONTINUE"] != 1 {
		t.Errorf("completions %v, by result %v; want one CONTINUE", st.CompletionsByInstance, st.LifecycleActionsCompleted)
	}
	for id, n := range st.CompletionsByInstance {
		if n != 1 {
			t.Errorf("instance %s completed %d times, want 1", id, n)
		}
	}
	if got := e.runningTasks("c1"); got != 6 {
		t.Errorf("%d tasks running after the drain, want 6", got)
	}
	if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(metrics.ResultContinue, metrics.ReasonDrained)); got != 1 {
		t.Errorf("lifecycle_actions_completed_total{CONTINUE,drained} = %v, want 1", got)
	}
	if got := value(t, c.m.DrainsEnded.WithLabelValues(metrics.EndedCompleted)); got != 1 {
		t.Errorf("drains_ended_total{completed} = %v, want 1", got)
	}
	if got := value(t, c.m.DrainsInProgress); got != 0 {
		t.Errorf("drains_in_progress = %v, want 0", got)
	}
	if got := value(t, c.m.ReconcileTotal.WithLabelValues(metrics.ReconcileError)); got != 0 {
		t.Errorf("reconcile errors = %v, want 0", got)
	}
	// One instance pays every fixed cost alone: ListClusters, one lookup, one DRAINING call, a few
	// polls, one ListTasks and one DescribeTasks. The drain is shorter than tagAfter: no tag.
	t.Logf("controller ECS calls %d, Auto Scaling calls %d, writes %d", c.calls(t, "ecs", ""), c.calls(t, "autoscaling", ""), c.writes(t))
	if got := c.writes(t); got != 2 {
		t.Errorf("%d write calls, want 2 (DRAINING, completion)", got)
	}
	if got := c.calls(t, "ecs", "TagResource"); got != 0 {
		t.Errorf("%d TagResource calls for a drain of seconds, want 0", got)
	}
}

// TestIdleResyncCosts shows that with nothing terminating a resync costs one
// DescribeAutoScalingGroups call per 100 managed groups and no other call: hooks are not described
// and ECS is not asked anything.
func TestIdleResyncCosts(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	e.createCluster("c1")
	for i := range 120 {
		e.group(fmt.Sprintf("g%03d", i), 1, "c1", 2, true)
		e.hook(fmt.Sprintf("g%03d", i), hookName, 300, "CONTINUE")
	}
	e.group("unmanaged", 2, "c1", 2, false)
	e.advance(2*time.Second, time.Second)

	c := e.start(testConfig()) // resyncs at once, then every 2 s
	e.advance(10*time.Second, time.Second)
	const resyncs = 6 // at 0, 2, 4, 6, 8 and 10 s
	if got, want := c.calls(t, "autoscaling", "DescribeAutoScalingGroups"), 2*resyncs; got != want {
		t.Errorf("DescribeAutoScalingGroups calls = %d, want %d (2 pages of 100 per resync)", got, want)
	}
	if got := c.calls(t, "autoscaling", ""); got != 2*resyncs {
		t.Errorf("Auto Scaling calls = %d, want only the %d describes", got, 2*resyncs)
	}
	if got := c.calls(t, "ecs", ""); got != 0 {
		t.Errorf("ECS calls = %d, want 0", got)
	}
	if got := value(t, c.m.ManagedASGs); got != 120 {
		t.Errorf("managed_asgs = %v, want 120", got)
	}
	if got := value(t, c.m.LastResyncSuccess); got != float64(e.clock.Now().Unix()) {
		t.Errorf("last_resync_success_timestamp_seconds = %v, want %v", got, e.clock.Now().Unix())
	}
	if !c.Ready() {
		t.Error("not ready after successful resyncs")
	}
}

// TestHooksDescribedConcurrently scales in many groups at once: the resync that finds their
// instances describes their hooks hookDescribers at a time, not one after another, so the last
// group's instances are not held back from DRAINING by a round trip per group before them.
func TestHooksDescribedConcurrently(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	e.createCluster("c1")
	const groups = 25
	for i := range groups {
		e.group(fmt.Sprintf("g%02d", i), 1, "c1", 2, true)
		e.hook(fmt.Sprintf("g%02d", i), hookName, 300, "CONTINUE")
	}
	e.advance(2*time.Second, time.Second)

	f := newFaults()
	f.Set(func(fs *faultSet) { fs.hooksBarrier = hookDescribers })
	c := e.startWith(testConfig(), f, nil)
	for i := range groups {
		e.setDesired(fmt.Sprintf("g%02d", i), 0)
	}
	e.until("every instance completed", time.Minute, time.Second, func() bool {
		return len(e.sim.Stats().CompletionsByInstance) == groups
	})
	if got := f.maxHookCalls(); got != hookDescribers {
		t.Errorf("at most %d DescribeLifecycleHooks calls were in flight at once, want %d", got, hookDescribers)
	}
	if got := c.calls(t, "autoscaling", "DescribeLifecycleHooks"); got != groups {
		t.Errorf("DescribeLifecycleHooks calls = %d, want one per group (%d)", got, groups)
	}
}

// TestNeverRegisteredCompletedAtOnce scales in a managed group whose instances never joined ECS:
// the hook is completed at the first look, without touching ECS beyond the lookup.
func TestNeverRegisteredCompletedAtOnce(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	e.createCluster("c1")
	e.group("batch", 2, "", 0, true) // not an ECS group
	e.hook("batch", hookName, 300, "ABANDON")
	e.advance(2*time.Second, time.Second)

	c := e.start(testConfig())
	e.setDesired("batch", 1)
	e.until("instance terminated", 10*time.Second, 100*time.Millisecond, func() bool { return len(e.instances("batch")) == 1 })
	e.advance(3*time.Second, time.Second)

	st := e.sim.Stats()
	if st.LifecycleActionsCompleted["CONTINUE"] != 1 || len(st.CompletionsByInstance) != 1 {
		t.Errorf("completions %v by result %v, want one CONTINUE", st.CompletionsByInstance, st.LifecycleActionsCompleted)
	}
	if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(metrics.ResultContinue, metrics.ReasonNotRegistered)); got != 1 {
		t.Errorf("lifecycle_actions_completed_total{CONTINUE,not_registered} = %v, want 1", got)
	}
	if got := c.calls(t, "ecs", "UpdateContainerInstancesState") + c.calls(t, "ecs", "TagResource"); got != 0 {
		t.Errorf("%d ECS writes for an unregistered instance, want 0", got)
	}
	if got := c.writes(t); got != 1 {
		t.Errorf("%d writes, want 1 (the completion)", got)
	}
}

// TestDryRunMakesNoWrites runs the scale-in scenario in dry run: nothing is written, the drain
// plan is only logged, and the hook is left to its timeout.
func TestDryRunMakesNoWrites(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.createCluster("c1")
	e.group("web", 2, "c1", 4, true)
	e.group("batch", 2, "", 0, true)
	e.hook("web", hookName, 60, "CONTINUE")
	e.hook("batch", hookName, 60, "CONTINUE")
	e.advance(2*time.Second, 500*time.Millisecond)
	e.service("c1", "app", e.taskDef("app", 0), 4, 50, 200, "")
	e.until("service running", time.Minute, 500*time.Millisecond, func() bool { return e.runningTasks("c1") == 4 })

	cfg := testConfig()
	cfg.DryRun = true
	cfg.ManageHooks = true
	cfg.DrainTimeout = 20 * time.Second
	e.group("new", 1, "", 0, true) // no hook: dry run would create one
	c := e.start(cfg)
	writesBefore := e.sim.Stats().WriteCalls
	e.setDesired("web", 1)
	e.setDesired("batch", 1)
	e.advance(90*time.Second, 500*time.Millisecond)

	st := e.sim.Stats()
	if got := st.WriteCalls - writesBefore; got != 2 {
		t.Errorf("%d write calls reached the simulator, want only the test's 2 SetDesiredCapacity", got)
	}
	if got := c.writes(t); got != 0 {
		t.Errorf("controller made %d write calls in dry run", got)
	}
	if st.LifecycleActionsTimedOut != 2 {
		t.Errorf("%d lifecycle actions timed out, want 2 (nobody completed them)", st.LifecycleActionsTimedOut)
	}
	if got := value(t, c.m.DrainsEnded.WithLabelValues(metrics.EndedExpired)); got != 2 {
		t.Errorf("drains_ended_total{expired} = %v, want 2", got)
	}
	// The drain timeout (20 s) passed, but dry run carried out nothing, so nothing is counted.
	if got := value(t, c.m.DrainTimeouts.WithLabelValues(DrainTimeoutStopTasks)); got != 0 {
		t.Errorf("drain_timeouts_total{stop-tasks} = %v in dry run, want 0", got)
	}
}

// TestUnmanagedGroupUntouched scales in a group without the tag: the controller neither drains
// nor completes anything there.
func TestUnmanagedGroupUntouched(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	e.createCluster("c1")
	e.group("other", 2, "c1", 2, false)
	e.hook("other", hookName, 300, "CONTINUE")
	e.advance(2*time.Second, time.Second)

	c := e.start(testConfig())
	e.setDesired("other", 1)
	e.advance(20*time.Second, time.Second)

	waiting := e.inState("other", "Terminating:Wait")
	if len(waiting) != 1 {
		t.Fatalf("instances waiting %v, want 1", waiting)
	}
	ci, ok := e.containerInstance("c1", waiting[0])
	if !ok || aws.ToString(ci.Status) != "ACTIVE" {
		t.Errorf("container instance of the unmanaged instance: found %v, status %s; want ACTIVE", ok, aws.ToString(ci.Status))
	}
	if got := c.calls(t, "ecs", "") + c.writes(t); got != 0 {
		t.Errorf("controller made %d ECS or write calls, want 0", got)
	}
}

// TestECSManagedHookLeftAlone: a group whose only terminating hook is ECS's managed draining hook
// is skipped; one that has it beside the controller's hook gets only its own hook completed.
func TestECSManagedHookLeftAlone(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	e.createCluster("c1")
	e.group("ecsonly", 2, "c1", 2, true)
	e.hook("ecsonly", ECSManagedHookName, 300, "CONTINUE")
	e.group("both", 2, "c1", 2, true)
	e.hook("both", ECSManagedHookName, 300, "CONTINUE")
	e.hook("both", hookName, 300, "CONTINUE")
	e.advance(2*time.Second, time.Second)

	c := e.start(testConfig())
	e.setDesired("ecsonly", 1)
	e.setDesired("both", 1)
	e.advance(30*time.Second, 500*time.Millisecond)

	only := e.inState("ecsonly", "Terminating:Wait")
	if len(only) != 1 {
		t.Fatalf("ecsonly instances waiting %v, want 1", only)
	}
	if ci, _ := e.containerInstance("c1", only[0]); aws.ToString(ci.Status) != "ACTIVE" {
		t.Errorf("ecsonly container instance status %s, want ACTIVE (not drained)", aws.ToString(ci.Status))
	}
	both := e.inState("both", "Terminating:Wait")
	if len(both) != 1 {
		t.Fatalf("both: instances waiting %v, want 1 (ECS's hook still holds it)", both)
	}
	var ours, ecsHook int
	for _, a := range e.sim.LifecycleActions() {
		switch {
		case a.EC2InstanceID == both[0] && a.LifecycleHookName == hookName:
			ours++
		case a.LifecycleHookName == ECSManagedHookName:
			ecsHook++
		}
	}
	if ours != 0 || ecsHook != 2 {
		t.Errorf("outstanding actions: ours %d, ECS's %d; want 0, 2", ours, ecsHook)
	}
	st := e.sim.Stats()
	if st.CompletionsByInstance[both[0]] != 1 || len(st.CompletionsByInstance) != 1 {
		t.Errorf("completions %v, want exactly one for %s", st.CompletionsByInstance, both[0])
	}
	if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(metrics.ResultContinue, metrics.ReasonDrained)); got != 1 {
		t.Errorf("lifecycle_actions_completed_total{CONTINUE,drained} = %v, want 1", got)
	}
}

// TestGroupSelectedByNameAndClusters manages a group named on the command line (no tag) and
// restricts lookups to named clusters, so ListClusters is never called.
func TestGroupSelectedByNameAndClusters(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.createCluster("c1")
	e.createCluster("c2")
	e.group("named", 2, "c1", 2, false)
	e.hook("named", hookName, 300, "ABANDON")
	e.advance(2*time.Second, 500*time.Millisecond)

	cfg := testConfig()
	cfg.ASGTagKey, cfg.ASGTagValue = "", ""
	cfg.ASGNames = []string{"named", "does-not-exist"}
	cfg.Clusters = []string{"c2", "c1"}
	cfg.HookName = hookName
	c := e.start(cfg)
	e.setDesired("named", 1)
	e.until("instance terminated", time.Minute, 500*time.Millisecond, func() bool { return len(e.instances("named")) == 1 })

	if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(metrics.ResultContinue, metrics.ReasonDrained)); got != 1 {
		t.Errorf("lifecycle_actions_completed_total{CONTINUE,drained} = %v, want 1", got)
	}
	if got := c.calls(t, "ecs", "ListClusters"); got != 0 {
		t.Errorf("ListClusters calls = %d, want 0 with --clusters", got)
	}
	if got := value(t, c.m.ManagedASGs); got != 1 {
		t.Errorf("managed_asgs = %v, want 1", got)
	}
}

// TestLatency checks the two latency promises on the simulated clock: Terminating:Wait to DRAINING
// within a resync period and a second, and the last task STOPPED to completion within a poll
// interval and a second.
func TestLatency(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 2, slots: 4, heartbeat: 300, defaultResult: "ABANDON", tasks: 4, minPct: 50, maxPct: 200})

	cfg := testConfig()
	cfg.ResyncPeriod = 5 * time.Second
	cfg.PollInterval = 3 * time.Second
	e.start(cfg)
	e.advance(1500*time.Millisecond, 100*time.Millisecond) // terminate mid-way between two resyncs
	terminated := e.clock.Now()
	id := e.terminate("web", "")
	ci, _ := e.containerInstance("c1", id)
	ciArn := aws.ToString(ci.ContainerInstanceArn)

	var draining, completed time.Time
	e.until("completed", time.Minute, 100*time.Millisecond, func() bool {
		if draining.IsZero() {
			if ci, _ := e.containerInstance("c1", id); aws.ToString(ci.Status) == "DRAINING" {
				draining = e.clock.Now()
			}
		}
		if e.sim.Stats().CompletionsByInstance[id] == 1 {
			completed = e.clock.Now()
			return true
		}
		return false
	})
	var lastStopped time.Time
	for _, task := range e.tasksOn("c1", ciArn) {
		if s := aws.ToTime(task.StoppedAt); s.After(lastStopped) {
			lastStopped = s
		}
	}
	if d := draining.Sub(terminated); d > cfg.ResyncPeriod+time.Second {
		t.Errorf("DRAINING %v after Terminating:Wait, want at most %v", d, cfg.ResyncPeriod+time.Second)
	}
	if d := completed.Sub(lastStopped); lastStopped.IsZero() || d > cfg.PollInterval+time.Second {
		t.Errorf("completed %v after the last task stopped (at %v), want at most %v", d, lastStopped, cfg.PollInterval+time.Second)
	}
	t.Logf("DRAINING after %v, completion %v after the last task stopped", draining.Sub(terminated), completed.Sub(lastStopped))
}

// TestWakeContainerInstance: an external hint about a container instance wakes the watched
// instance registered there, only once it is known where it is registered, and no longer once the
// instance is forgotten.
func TestWakeContainerInstance(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	e.build(webFleet{instances: 2, slots: 4, heartbeat: 300, defaultResult: "ABANDON", tasks: 4, minPct: 50, maxPct: 200})
	c := e.start(testConfig())
	if c.WakeContainerInstance("arn:aws:ecs:us-east-1:123456789012:container-instance/c1/none") {
		t.Error("woke an instance for a container instance nobody is registered as")
	}
	id := e.terminate("web", "")
	e.until("instance looked up", time.Minute, 500*time.Millisecond, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		inst := c.instances[id]
		return inst != nil && inst.reg.ARN != ""
	})
	ci, _ := e.containerInstance("c1", id)
	arn := aws.ToString(ci.ContainerInstanceArn)
	if !c.WakeContainerInstance(arn) {
		t.Errorf("no instance woken for the container instance of %s", id)
	}
	c.Wake("i-notwatched") // harmless
	e.until("instance forgotten", 2*time.Minute, 500*time.Millisecond, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.instances[id] == nil
	})
	if c.WakeContainerInstance(arn) {
		t.Errorf("woke an instance for the container instance of %s, forgotten", id)
	}
	c.mu.Lock()
	if len(c.byContainerInstance) != 0 {
		t.Errorf("container instance index %v after every instance was forgotten, want empty", c.byContainerInstance)
	}
	c.mu.Unlock()
}

// TestStuckListingHoldsNoOtherDrain: the listing of one instance's tasks told to stop hangs (a call
// stuck behind the rate limit). With a single worker, the other instance's drain still completes:
// listings run apart from the reconciles. Made inside the reconcile, the stuck listing held the
// only worker, and no other instance moved until it ended.
func TestStuckListingHoldsNoOtherDrain(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 4, slots: 4, heartbeat: 300, defaultResult: "ABANDON", tasks: 4, minPct: 50, maxPct: 200})
	stuck := e.terminate("web", "")
	other := e.terminate("web", "")
	ci, ok := e.containerInstance("c1", stuck)
	if !ok {
		t.Fatalf("no container instance for %s", stuck)
	}
	f := newFaults()
	f.Set(func(fs *faultSet) { fs.hangListTasksOn = aws.ToString(ci.ContainerInstanceArn) })
	cfg := testConfig()
	cfg.Workers = 1
	e.startWith(cfg, f, nil)
	t.Cleanup(func() { f.Set(func(fs *faultSet) { fs.hangListTasksOn = "" }) }) // before the controller stops

	completions := func(id string) int { return e.sim.Stats().CompletionsByInstance[id] }
	e.until("the other drain completed", 2*time.Minute, 500*time.Millisecond, func() bool { return completions(other) == 1 })
	if n := completions(stuck); n != 0 || !f.held() {
		t.Fatalf("stuck instance: %d completions, listing held %v; want 0, true", n, f.held())
	}

	f.Set(func(fs *faultSet) { fs.hangListTasksOn = "" })
	e.until("the stuck drain completed", 2*time.Minute, 500*time.Millisecond, func() bool { return completions(stuck) == 1 })
	e.checkNoHarm([]string{stuck, other})
}

// TestSlowListingIsWaitedFor: a listing of the tasks told to stop that takes longer than a poll
// interval is waited for, not filed again over and over (each new request used to make the answer
// in flight too old to use, so none ever was): the drain completes with one ListTasks.
func TestSlowListingIsWaitedFor(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 2, slots: 4, heartbeat: 300, defaultResult: "ABANDON", tasks: 2, minPct: 50, maxPct: 200})
	cfg := testConfig()
	f := newFaults()
	f.Set(func(fs *faultSet) { fs.slowListTasks = 3 * cfg.PollInterval / 2 })
	c := e.startWith(cfg, f, nil)
	id := e.terminate("web", "")
	e.until("the drain completed", 2*time.Minute, 500*time.Millisecond, func() bool { return e.sim.Stats().CompletionsByInstance[id] == 1 })
	if n := c.calls(t, "ecs", "ListTasks"); n != 1 {
		t.Errorf("%d ListTasks calls, want 1", n)
	}
	e.checkNoHarm([]string{id})
}

// TestStuckTagHoldsNoDrain: the drain-started-at tag hangs (a TagResource stuck behind the rate
// limit). With a single worker the drain still completes once its standalone task is stopped after
// the grace: the tag is written apart from the reconciles, and the drain does not wait for it. Its
// request ends with the drain: the failed call is not sent again. Written inside the reconcile,
// the stuck tag held the only worker, and the drain never moved past it.
func TestStuckTagHoldsNoDrain(t *testing.T) {
	e, id := newTaggedDrainEnv(t)

	f := newFaults()
	f.Set(func(fs *faultSet) { fs.hangTagResource = true })
	cfg := testConfig()
	cfg.Workers = 1
	cfg.StandaloneTaskGrace = 45 * time.Second
	c := e.startWith(cfg, f, nil)
	t.Cleanup(func() { f.Set(func(fs *faultSet) { fs.hangTagResource = false }) }) // before the controller stops
	e.terminate("web", id)

	e.until("the tag sent", time.Minute, 500*time.Millisecond, f.held)
	e.until("the drain completed", 2*time.Minute, 500*time.Millisecond, func() bool { return e.sim.Stats().CompletionsByInstance[id] == 1 })
	if !f.held() {
		t.Fatal("the tag's call ended before the drain completed; the test proves nothing")
	}
	f.Set(func(fs *faultSet) { fs.hangTagResource = false })
	e.advance(time.Minute, time.Second)
	if n := c.calls(t, "ecs", "TagResource"); n != 0 {
		t.Errorf("%d TagResource calls after the drain completed, want 0: the tag went with the drain", n)
	}
	if f.held() {
		t.Error("a call still held after the faults were lifted")
	}
	e.checkNoHarm([]string{id})
}

// TestDeniedTagHoldsNoDrain: without ecs:TagResource (AccessDenied), a drain longer than tagAfter
// still completes once its standalone task is stopped after the grace; the tag is retried with
// backoff while the drain lasts, and not after.
func TestDeniedTagHoldsNoDrain(t *testing.T) {
	e, id := newTaggedDrainEnv(t)

	f := newFaults()
	f.Set(func(fs *faultSet) { fs.denyTag = true })
	cfg := testConfig()
	cfg.StandaloneTaskGrace = 45 * time.Second
	e.startWith(cfg, f, nil)
	e.terminate("web", id)

	e.until("the drain completed", 2*time.Minute, 500*time.Millisecond, func() bool { return e.sim.Stats().CompletionsByInstance[id] == 1 })
	// Due at 30 s, the drain over at about 45 s: retried with backoff (1 s, 2 s, 4 s, 8 s, ...)
	// meanwhile, a few times; neither once and dropped nor filed again at every 1 s poll.
	denied := f.get().tagDenied
	if denied < 2 || denied > 8 {
		t.Fatalf("%d tags attempted while the drain lasted, want 2 to 8 (retried with backoff)", denied)
	}
	e.advance(10*time.Minute, 5*time.Second)
	if n := f.get().tagDenied; n != denied {
		t.Errorf("%d tags attempted after the drain completed, want 0", n-denied)
	}
	e.checkNoHarm([]string{id})
}

// newTaggedDrainEnv builds a group whose hook has a 60 s heartbeat timeout (tagAfter: half of it,
// 30 s) and an instance running a service task and a standalone task, so that its drain, with a
// standalone grace over 30 s, lives long enough to be tagged. It returns the instance.
func newTaggedDrainEnv(t *testing.T) (*env, string) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.createCluster("c1")
	e.group("web", 2, "c1", 4, true)
	e.hook("web", hookName, 60, "ABANDON")
	e.advance(2*time.Second, 500*time.Millisecond)
	td := e.taskDef("app", 0)
	e.service("c1", "app", td, 2, 50, 200, "")
	e.until("service running", time.Minute, 500*time.Millisecond, func() bool { return e.runningTasks("c1") == 2 })
	_, ciArn := e.runTask("c1", td)
	return e, e.ec2ID("c1", ciArn)
}

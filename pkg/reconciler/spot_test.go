package reconciler

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/events"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// spotScene is webFleet plus a standalone task; it returns the EC2 instance the standalone task
// runs on and that instance's container instance ARN.
func (e *env) spotScene(f webFleet) (id, ciArn string) {
	e.t.Helper()
	e.build(f)
	_, ciArn = e.runTask("c1", e.taskDef("batch", 0))
	e.advance(2*time.Second, 500*time.Millisecond)
	for ec2ID := range e.instances("web") {
		if ci, ok := e.containerInstance("c1", ec2ID); ok && aws.ToString(ci.ContainerInstanceArn) == ciArn {
			return ec2ID, ciArn
		}
	}
	e.t.Fatalf("no instance of web holds container instance %s", ciArn)
	return "", ""
}

// spotWeb is the scene of the Spot tests: webFleet with room for the service to move.
var spotWeb = webFleet{instances: 3, slots: 4, heartbeat: 300, defaultResult: "ABANDON", tasks: 6, minPct: 50, maxPct: 200}

// warnSpot has awssim warn that it reclaims the instance, and hands the controller the warning's
// hint, as the event queue would.
func (e *env) warnSpot(c *testController, id string) {
	e.t.Helper()
	if err := e.sim.InterruptSpot(id, "terminate"); err != nil {
		e.t.Fatal(err)
	}
	if err := c.Spot(e.t.Context(), e.spotHint(id, "terminate")); err != nil {
		e.t.Fatalf("Spot: %v", err)
	}
}

// recommendRebalance has awssim recommend a rebalance of the instance, and hands the controller
// the recommendation's hint.
func (e *env) recommendRebalance(c *testController, id string) {
	e.t.Helper()
	if err := e.sim.RecommendRebalance(id); err != nil {
		e.t.Fatal(err)
	}
	if err := c.Rebalance(e.t.Context(), events.RebalanceHint{Event: events.Event{Time: e.clock.Now()}, InstanceID: id}); err != nil {
		e.t.Fatalf("Rebalance: %v", err)
	}
}

// spotHint is the hint of an interruption warning EC2 sends now.
func (e *env) spotHint(id, action string) events.SpotHint {
	return events.SpotHint{Event: events.Event{ID: "spot-" + id, Time: e.clock.Now()}, InstanceID: id, Action: action}
}

// TestSpotWarningDrainsAtOnce: an interruption warning for an instance still in service (the group
// has no Capacity Rebalancing, so Auto Scaling terminates it only after the reclaim) sets its
// container instance DRAINING within a second, stops its standalone task at once (whatever the
// grace period), and waits, drained, with nothing to complete. After the reclaim the group holds the
// instance on its hook, and the controller completes that action once: no task killed, no timeout.
func TestSpotWarningDrainsAtOnce(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	id, ciArn := e.spotScene(spotWeb)
	c, _ := e.startWithQueue(hintConfig())
	e.advance(16*time.Second, time.Second)

	e.warnSpot(c, id)
	e.until("DRAINING after the warning", time.Second, 100*time.Millisecond, func() bool { return e.draining("c1", id) })
	e.until("standalone task stopped", 2*time.Second, 100*time.Millisecond, func() bool {
		return value(t, c.m.TasksStopped.WithLabelValues(metrics.PolicySpotInterruption)) == 1
	})
	e.until("every task stopped", time.Minute, 500*time.Millisecond, func() bool { return e.allStopped("c1", ciArn) })
	// No task hint is sent here: the next poll sees the drain done.
	e.until("drained", hintConfig().PollInterval, 500*time.Millisecond, func() bool {
		drains := c.Drains().InProgress
		return len(drains) == 1 && drains[0].Phase == PhaseDrainedEarly
	})

	drains := c.Drains().InProgress
	if len(drains) != 1 || drains[0].Phase != PhaseDrainedEarly || drains[0].Early != string(earlySpot) || drains[0].Hook != "" {
		t.Fatalf("drains in progress %+v, want %s drained early on a Spot interruption, no hook yet", drains, id)
	}
	if st := e.instances("web")[id]; st != "InService" {
		t.Fatalf("instance %s is %s before the reclaim, want InService", id, st)
	}
	if s := c.drainStats(); s.InProgress != 0 {
		t.Errorf("drains in progress (the gauge) = %d, want 0: a drained instance waiting for termination is no drain in progress", s.InProgress)
	}
	if n := e.sim.Stats().CompletionsByInstance[id]; n != 0 {
		t.Fatalf("completions before the instance waits on the hook: %d, want 0", n)
	}

	// EC2 reclaims it two minutes after the warning; the group then terminates it through its hook.
	e.until("instance gone after the reclaim", 3*time.Minute, time.Second, func() bool { return e.gone("web", id) })
	e.checkNoHarm([]string{id})
	if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(metrics.ResultContinue, metrics.ReasonDrained)); got != 1 {
		t.Errorf("lifecycle actions completed as drained = %v, want 1", got)
	}
	for _, a := range []string{metrics.ActionStopTasks, metrics.ActionContinue, metrics.ActionAbandon} {
		if got := value(t, c.m.DrainTimeouts.WithLabelValues(a)); got != 0 {
			t.Errorf("drain timeouts (%s) = %v, want 0: the drain ended before the interruption", a, got)
		}
	}
	if got := e.sim.Stats().SpotInterruptions; got != 1 {
		t.Errorf("Spot reclaims = %d, want 1", got)
	}
}

// TestSpotWarningStopsTasksBeforeTheReclaim: with Capacity Rebalancing the warning puts the
// instance in Terminating:Wait at once. Its service cannot move (100% minimum and maximum), so the
// drain would outlast the two minutes: the tasks are stopped spotStopLead before the reclaim, not
// earlier, whatever --drain-timeout-action says, and the action is completed once they are STOPPED,
// before EC2 takes the instance.
func TestSpotWarningStopsTasksBeforeTheReclaim(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 2, slots: 2, heartbeat: 300, defaultResult: "ABANDON", tasks: 4, minPct: 100, maxPct: 100})
	if _, err := e.as.UpdateAutoScalingGroup(t.Context(), &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("web"), CapacityRebalance: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	cfg := hintConfig()
	cfg.DrainTimeoutAction = DrainTimeoutContinue // not what a Spot drain does
	c, _ := e.startWithQueue(cfg)
	e.advance(16*time.Second, time.Second)

	id := slices.Sorted(func(yield func(string) bool) {
		for id := range e.instances("web") {
			if !yield(id) {
				return
			}
		}
	})[0]
	warned := e.clock.Now()
	e.warnSpot(c, id)
	if err := c.Instance(t.Context(), events.InstanceHint{Kind: events.InstanceTerminating, InstanceID: id}); err != nil {
		t.Fatalf("Instance: %v", err)
	}
	e.until("DRAINING after the warning", time.Second, 100*time.Millisecond, func() bool { return e.draining("c1", id) })

	// Up to the stop lead before the reclaim, nothing is stopped by the controller.
	e.advance(spotNotice-spotStopLead-e.clock.Since(warned)-time.Second, time.Second)
	if got := value(t, c.m.TasksStopped.WithLabelValues(metrics.PolicyDrainTimeout)); got != 0 {
		t.Fatalf("tasks stopped %v before the Spot deadline, want 0", got)
	}
	e.until("instance gone", spotStopLead, 500*time.Millisecond, func() bool { return e.gone("web", id) })
	if got := value(t, c.m.DrainTimeouts.WithLabelValues(metrics.ActionStopTasks)); got != 1 {
		t.Errorf("drain timeouts (stop-tasks) = %v, want 1", got)
	}
	if got := value(t, c.m.TasksStopped.WithLabelValues(metrics.PolicyDrainTimeout)); got != 2 {
		t.Errorf("tasks stopped at the Spot deadline = %v, want 2", got)
	}
	if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(metrics.ResultContinue, metrics.ReasonDrainTimeout)); got != 1 {
		t.Errorf("lifecycle actions completed at the drain timeout = %v, want 1", got)
	}
	if e.clock.Since(warned) >= spotNotice {
		t.Errorf("instance terminated %s after the warning, want before the reclaim at %s", e.clock.Since(warned), spotNotice)
	}
	e.checkNoHarm([]string{id})
}

// TestRebalanceDrainOnlySetsDraining: with --rebalance-action drain a recommendation sets the
// container instance DRAINING at once, and nothing else: its standalone task keeps running, no drain
// timeout applies and nothing is completed while the instance stays in service. With the default
// (ignore) the recommendation changes nothing.
func TestRebalanceDrainOnlySetsDraining(t *testing.T) {
	for _, action := range RebalanceActions {
		t.Run(action, func(t *testing.T) {
			e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
			id, _ := e.spotScene(spotWeb)
			cfg := hintConfig()
			cfg.RebalanceAction = action
			cfg.DrainTimeout = 5 * time.Minute
			c, _ := e.startWithQueue(cfg)
			e.advance(16*time.Second, time.Second)

			e.recommendRebalance(c, id)
			e.advance(10*time.Minute, 5*time.Second)
			if got, want := e.draining("c1", id), action == RebalanceDrain; got != want {
				t.Fatalf("DRAINING = %v, want %v", got, want)
			}
			for _, p := range []string{metrics.PolicyStandaloneGrace, metrics.PolicyDrainTimeout, metrics.PolicySpotInterruption} {
				if got := value(t, c.m.TasksStopped.WithLabelValues(p)); got != 0 {
					t.Errorf("tasks stopped (%s) = %v, want 0", p, got)
				}
			}
			if got := value(t, c.m.DrainTimeouts.WithLabelValues(metrics.ActionStopTasks)); got != 0 {
				t.Errorf("drain timeouts = %v, want 0", got)
			}
			if st := e.instances("web")[id]; st != "InService" {
				t.Errorf("instance is %s, want InService", st)
			}
			drains := c.Drains().InProgress
			if action == RebalanceIgnore {
				if len(drains) != 0 {
					t.Errorf("drains in progress %+v, want none", drains)
				}
				return
			}
			if len(drains) != 1 || drains[0].Early != string(earlyRebalance) || !drains[0].DrainDeadline.IsZero() {
				t.Errorf("drains in progress %+v, want %s drained early on a rebalance recommendation, no deadline", drains, id)
			}
		})
	}
}

// TestSpotWarningsNotActedOn: a warning for hibernation, one older than its notice, and one for an
// instance of a group the controller does not manage start no drain; the last is forgotten after
// hintMemory.
func TestSpotWarningsNotActedOn(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(spotWeb)
	e.group("other", 1, "c1", 4, false)
	c, _ := e.startWithQueue(hintConfig())
	e.advance(16*time.Second, time.Second)

	ids := slices.Collect(func(yield func(string) bool) {
		for id := range e.instances("web") {
			if !yield(id) {
				return
			}
		}
	})
	hibernating, stale := ids[0], ids[1]
	var unmanaged string
	for id := range e.instances("other") {
		unmanaged = id
	}
	old := e.spotHint(stale, "terminate")
	old.Time = e.clock.Now().Add(-spotNotice - time.Second)
	for _, h := range []events.SpotHint{e.spotHint(hibernating, spotHibernate), old, e.spotHint(unmanaged, "terminate")} {
		if err := c.Spot(t.Context(), h); err != nil {
			t.Fatalf("Spot: %v", err)
		}
	}
	e.advance(30*time.Second, time.Second)
	for _, id := range []string{hibernating, stale, unmanaged} {
		if e.draining("c1", id) {
			t.Errorf("%s DRAINING, want ACTIVE", id)
		}
	}
	if n := len(c.Drains().InProgress); n != 0 {
		t.Errorf("drains in progress: %d, want 0", n)
	}
	e.advance(hintMemory, 15*time.Second)
	c.mu.Lock()
	left := len(c.early)
	c.mu.Unlock()
	if left != 0 {
		t.Errorf("early drains remembered after %s: %d, want 0", hintMemory, left)
	}
}

// TestSpotWarningWithAgentDraining: with the ECS agent's own Spot draining on, the container
// instance is DRAINING before the controller sees the warning; the controller adopts that drain
// (no DRAINING call of its own) and still stops the standalone task at once.
func TestSpotWarningWithAgentDraining(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	id, ciArn := e.spotScene(spotWeb)
	c, _ := e.startWithQueue(hintConfig())
	e.advance(16*time.Second, time.Second)

	if err := e.sim.InterruptSpot(id, "terminate"); err != nil {
		t.Fatal(err)
	}
	// What ECS_ENABLE_SPOT_INSTANCE_DRAINING makes the agent do at the notice.
	if _, err := e.ecs.UpdateContainerInstancesState(t.Context(), &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String("c1"), ContainerInstances: []string{ciArn}, Status: ecstypes.ContainerInstanceStatusDraining,
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Spot(t.Context(), e.spotHint(id, "terminate")); err != nil {
		t.Fatalf("Spot: %v", err)
	}
	e.until("standalone task stopped", 2*time.Second, 100*time.Millisecond, func() bool {
		return value(t, c.m.TasksStopped.WithLabelValues(metrics.PolicySpotInterruption)) == 1
	})
	if n := c.calls(t, "ecs", "UpdateContainerInstancesState"); n != 0 {
		t.Errorf("UpdateContainerInstancesState calls = %d, want 0: the agent's drain is adopted", n)
	}
}

// TestEarlyDrainKeptThroughTransientStates: an instance to drain early stays listed in whatever
// state Auto Scaling shows it on its way to Terminating:Wait (the transient Terminating, say, which
// awssim does not show), so its warning is never forgotten; others are listed only when waiting.
func TestEarlyDrainKeptThroughTransientStates(t *testing.T) {
	early := map[string]bool{"i-early-1": true, "i-early-2": true, "i-early-3": true, "i-early-4": true}
	lg := &listedGroup{name: "web"}
	for _, in := range []struct {
		id    string
		state astypes.LifecycleState
	}{
		{"i-early-1", astypes.LifecycleStateInService},
		{"i-early-2", astypes.LifecycleStateTerminating},
		{"i-early-3", astypes.LifecycleStateEnteringStandby},
		{"i-early-4", astypes.LifecycleStateTerminatingWait},
		{"i-other-1", astypes.LifecycleStateInService},
		{"i-other-2", astypes.LifecycleStateTerminatingWait},
	} {
		lg.add(in.id, in.state, early)
	}
	if want := []string{"i-early-4", "i-other-2"}; !slices.Equal(lg.waiting, want) {
		t.Errorf("waiting %v, want %v", lg.waiting, want)
	}
	if want := []string{"i-early-1", "i-early-2", "i-early-3"}; !slices.Equal(lg.early, want) {
		t.Errorf("early %v, want %v", lg.early, want)
	}
}

// TestTimedOutEarlyDrainIsNotDrained: a Spot drain still in service whose tasks did not all stop
// within the stop allowance after its deadline is not "drained early": it stays a drain in
// progress, and once its action comes the drain timeout (long past) still applies, so a task that
// never stops cannot hold the action until the hook's global timeout.
func TestTimedOutEarlyDrainIsNotDrained(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	c, _, _ := e.newController(hintConfig(), nil, nil)
	now := e.clock.Now()
	warned := now.Add(-10 * time.Minute) // deadline + stop allowance both past
	inst := instance{id: "i-0123456789abcdef0", watchState: watchState{asg: "web", firstSeen: warned,
		early: earlyDrain{cause: earlySpot, at: warned, reclaimAt: warned.Add(spotNotice)}}}

	if _, err := c.drainTimeout(t.Context(), &inst, now); err != nil {
		t.Fatal(err)
	}
	if inst.prog.drainedEarly {
		t.Errorf("a drain that timed out with tasks left is marked drainedEarly (drainedAhead=%v: phase %q, left out of drains_in_progress)", inst.drainedAhead(), PhaseDrainedEarly)
	}
	// The action comes.
	inst.takeAction(hookInfo{name: hookName, heartbeatTimeout: 300 * time.Second, globalTimeout: 30000 * time.Second}, now, time.Time{})
	if _, applies := drainDeadline(c.cfg, &inst); !applies {
		t.Errorf("no drain timeout applies under the lifecycle action: a task that never stops holds the action until its global timeout")
	}
}

// TestRebalanceDrainTimeoutCountsFromAction: a rebalance recommendation drains an instance
// early (--rebalance-action drain); it stays in service longer than --drain-timeout; then a
// scale-in picks it. The drain timeout must count from the lifecycle action, not from the
// recommendation: the action must not be completed at once while the standalone task still runs.
func TestRebalanceDrainTimeoutCountsFromAction(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	id, ciArn := e.spotScene(spotWeb)
	cfg := hintConfig()
	cfg.RebalanceAction = RebalanceDrain
	cfg.DrainTimeout = 5 * time.Minute
	cfg.DrainTimeoutAction = DrainTimeoutContinue
	cfg.StandaloneTaskPolicy = StandalonePolicyWait
	c, _ := e.startWithQueue(cfg)
	e.advance(16*time.Second, time.Second)

	e.recommendRebalance(c, id)
	e.advance(10*time.Minute, 5*time.Second)
	if !e.draining("c1", id) {
		t.Fatalf("not DRAINING after the recommendation")
	}
	if e.allStopped("c1", ciArn) {
		t.Fatalf("scene broken: the standalone task should still run")
	}

	// A scale-in picks the instance 10 minutes after the recommendation.
	e.terminate("web", id)
	if err := c.Instance(t.Context(), events.InstanceHint{Kind: events.InstanceTerminating, InstanceID: id}); err != nil {
		t.Fatalf("Instance: %v", err)
	}
	e.advance(30*time.Second, time.Second)
	if got := value(t, c.m.DrainTimeouts.WithLabelValues(metrics.ActionContinue)); got != 0 {
		t.Errorf("drain timeouts (continue) = %v 30 s after the lifecycle action started, want 0 (drain timeout is 5 min)", got)
	}
	if n := e.sim.Stats().CompletionsByInstance[id]; n != 0 {
		t.Errorf("lifecycle action completed %d time(s) within 30 s, with the standalone task still running", n)
	}
}

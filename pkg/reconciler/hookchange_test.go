package reconciler

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// slowFleet is a managed group "web" of n instances in cluster c1 under a terminating hook of
// heartbeat seconds, with a service whose tasks take stopTimeout seconds to stop, so every drain
// outlives a 30 s heartbeat timeout.
func slowFleet(t *testing.T, n int32, heartbeat, stopTimeout int32) *env {
	t.Helper()
	e := newEnv(t, awssim.Options{})
	e.createCluster("c1")
	e.group("web", n, "c1", 4, true)
	e.hook("web", hookName, heartbeat, "ABANDON")
	e.advance(2*time.Second, 500*time.Millisecond)
	e.service("c1", "app", e.taskDef("slow", stopTimeout), n, 0, 200, "")
	e.until("service running", time.Minute, 500*time.Millisecond, func() bool { return e.runningTasks("c1") == int(n) })
	return e
}

// drainSafely terminates one instance of web and waits until it is gone; it checks that its
// action was completed once by the controller, with no expiry and no task killed.
func (e *env) drainSafely(what string) string {
	e.t.Helper()
	id := e.terminate("web", "")
	e.until(what+": instance terminated", 5*time.Minute, time.Second, func() bool { return e.gone("web", id) })
	st := e.sim.Stats()
	if st.LifecycleActionsTimedOut != 0 || st.CompletionsByInstance[id] != 1 || st.TasksStoppedByReason[awssim.StopReasonHostTerminated] != 0 {
		e.t.Errorf("%s: actions timed out %d, completions %d, tasks killed %d; want 0, 1, 0", what,
			st.LifecycleActionsTimedOut, st.CompletionsByInstance[id], st.TasksStoppedByReason[awssim.StopReasonHostTerminated])
	}
	return id
}

func (e *env) putHook(group, name string, heartbeat int32) { e.hook(group, name, heartbeat, "ABANDON") }

func (e *env) deleteHook(group, name string) {
	e.t.Helper()
	if _, err := e.as.DeleteLifecycleHook(e.t.Context(), &autoscaling.DeleteLifecycleHookInput{
		AutoScalingGroupName: aws.String(group), LifecycleHookName: aws.String(name),
	}); err != nil {
		e.t.Fatalf("DeleteLifecycleHook %s/%s: %v", group, name, err)
	}
}

// TestLoweredHookTimeoutIsHeeded: the hook's heartbeat timeout is lowered from 300 s to 30 s (a
// CloudFormation update) after the controller described it. The next instance to wait has its
// hook read afresh at first sight, and gets heartbeats every 15 s through a 90 s drain. Before,
// the cached 300 s was kept and the action expired.
func TestLoweredHookTimeoutIsHeeded(t *testing.T) {
	e := slowFleet(t, 3, 300, 90)
	cfg := testConfig()
	cfg.ResyncPeriod = 15 * time.Second // the longest that sees every hook in time
	c := e.start(cfg)
	e.drainSafely("300 s hook")
	e.putHook("web", hookName, 30)
	e.advance(time.Second, time.Second)
	e.drainSafely("hook lowered to 30 s")
	c.mu.Lock()
	defer c.mu.Unlock()
	if got := c.groups["web"].selection.hook.heartbeatTimeout; got != 30*time.Second {
		t.Errorf("hook heartbeat timeout known as %v, want 30s", got)
	}
}

// TestRenamedHookIsFollowed: the hook is replaced under a new name (drain-v2 created, drain
// deleted, as a CloudFormation rename does) after the controller described it. The next instance
// waits on drain-v2 only; the controller reads the hooks at first sight and acts for drain-v2.
// Before, it acted for the deleted hook, took the refusal for "already ended", and the real action
// expired.
func TestRenamedHookIsFollowed(t *testing.T) {
	e := slowFleet(t, 3, 30, 60)
	cfg := testConfig()
	cfg.ResyncPeriod = 15 * time.Second
	c := e.start(cfg)
	e.drainSafely("before the rename")
	e.putHook("web", "drain-v2", 30)
	e.deleteHook("web", hookName)
	e.advance(time.Second, time.Second)
	e.drainSafely("after the rename")
	e.until("both drains counted", time.Minute, time.Second, func() bool {
		return value(t, c.m.DrainsEnded.WithLabelValues(metrics.EndedCompleted)) == 2
	})
	if got := value(t, c.m.DrainsEnded.WithLabelValues(metrics.EndedOther)) + value(t, c.m.DrainsEnded.WithLabelValues(metrics.EndedExpired)); got != 0 {
		t.Errorf("drains ended otherwise: %v, want 0", got)
	}
}

// TestShortHookBeyondTheFirstProbes: 25 managed groups under a 60 s resync period; only the last
// one (by name) has a 30 s hook. Until every group's hooks are known the controller resyncs every
// 15 s, so an instance of the last group that waits right after the controller starts is seen and
// heartbeated in time. Before, at most 20 groups were probed per resync and the action expired.
func TestShortHookBeyondTheFirstProbes(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	e.createCluster("c1")
	for i := range 24 {
		name := fmt.Sprintf("idle-%02d", i)
		e.group(name, 0, "c1", 4, true)
		e.hook(name, hookName, 3600, "ABANDON")
	}
	e.group("web", 2, "c1", 4, true)
	e.hook("web", hookName, 30, "ABANDON")
	e.advance(2*time.Second, 500*time.Millisecond)
	e.service("c1", "app", e.taskDef("slow", 60), 2, 0, 200, "")
	e.until("service running", time.Minute, 500*time.Millisecond, func() bool { return e.runningTasks("c1") == 2 })

	cfg := testConfig()
	cfg.ResyncPeriod = time.Minute
	c := e.start(cfg)
	e.drainSafely("30 s hook on the 25th group")
	c.mu.Lock()
	defer c.mu.Unlock()
	if next := c.resyncAfter(nil); next != 15*time.Second {
		t.Errorf("resync every %v with a 30 s hook among the groups, want 15s", next)
	}
}

// TestActionCompletedElsewhereWhileAnotherHookHolds: the instance waits on the controller's hook
// and on another team's hook. Someone completes the controller's action (a second replica, a
// person); the instance stays in Terminating:Wait on the other hook. The refusal that follows is
// checked against Auto Scaling: the instance still waits, but on no hook of ours, so the action
// is over, and it is counted as ended by someone else, not expired and not completed by us.
func TestActionCompletedElsewhereWhileAnotherHookHolds(t *testing.T) {
	e := slowFleet(t, 2, 30, 90)
	e.putHook("web", "other-team", 600)
	cfg := testConfig()
	cfg.HookName = hookName
	cfg.ResyncPeriod = 15 * time.Second
	c := e.start(cfg)
	id := e.terminate("web", "")
	e.until("drain started", time.Minute, time.Second, func() bool {
		ci, ok := e.containerInstance("c1", id)
		return ok && aws.ToString(ci.Status) == "DRAINING"
	})
	if _, err := e.as.CompleteLifecycleAction(t.Context(), &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName: aws.String("web"), LifecycleHookName: aws.String(hookName),
		InstanceId: aws.String(id), LifecycleActionResult: aws.String("CONTINUE"),
	}); err != nil {
		t.Fatalf("CompleteLifecycleAction by someone else: %v", err)
	}
	e.until("controller saw the action end", time.Minute, time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		inst := c.instances[id]
		return inst != nil && inst.prog.completed
	})
	c.mu.Lock()
	p := c.instances[id].prog
	c.mu.Unlock()
	if p.completedByUs || p.endedExpired {
		t.Errorf("completedByUs %v, expired %v; want both false", p.completedByUs, p.endedExpired)
	}
	if st := e.sim.Stats(); st.CompletionsByInstance[id] != 1 {
		t.Errorf("completions of %s: %d, want 1 (someone else's)", id, st.CompletionsByInstance[id])
	}
}

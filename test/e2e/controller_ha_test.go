package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// TestControllerKilledMidDrain SIGKILLs the controller once its drains have started (DRAINING
// set, tasks still stopping) and starts a new one. The drains are younger than tagAfter (half the
// 60 s heartbeat timeout), so no drain start was tagged: the new process knows nothing but what
// AWS holds, and must adopt the drains (start counted from its first sight), without setting
// DRAINING again, and complete each action exactly once.
func TestControllerKilledMidDrain(t *testing.T) {
	t.Parallel()
	// Tasks take 10 s to stop, which leaves time to kill the controller mid-drain.
	e := newCtrlEnv(t, "--stop-timeout-scale", "1")
	e.build(demo.Fleet{
		StopTimeout: 10 * time.Second,
		Clusters: []demo.Cluster{{
			Name: "k",
			ASGs: []demo.ASG{{
				Name: "k-asg", Min: 0, Desired: 3, Max: 3, TaskSlots: 4,
				Managed: true, HookName: demo.DefaultHookName, HookHeartbeatTimeout: 60 * time.Second,
			}},
			Services: []demo.Service{{Name: "web", DesiredCount: 3, MinimumHealthyPercent: 50, MaximumPercent: 200}},
		}},
	})
	first := e.startController()
	e.waitReady(first)
	ids := e.scaleIn("k-asg", 1)
	if len(ids) != 2 {
		t.Fatalf("scale-in put %v in Terminating:Wait, want two instances", ids)
	}
	e.eventually("both drains started", func() (bool, string) {
		tls := e.timelines()
		n := 0
		for _, id := range ids {
			if !tls[id].DrainingAt.IsZero() {
				n++
			}
		}
		return n == 2, fmt.Sprintf("%d DRAINING", n)
	})
	first.Kill()
	st := e.stats()
	drainingCalls := ctrlCalls(st, "ecs", "UpdateContainerInstancesState")
	if len(st.CompletionsByInstance) != 0 {
		t.Fatalf("completed %v before the kill: the drain was too quick to kill the controller midway", st.CompletionsByInstance)
	}

	second := e.startController()
	e.waitTerminated(ids)
	e.waitCtrlMetric(second, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"}, 2)
	st = e.stats()
	e.drainedOnce(ids)
	e.noHarm(st)
	e.completions(st, 2, 0)
	if got := ctrlCalls(st, "ecs", "UpdateContainerInstancesState"); got != drainingCalls {
		t.Errorf("%d UpdateContainerInstancesState calls after the restart, want none: DRAINING was set", got-drainingCalls)
	}
	if got := ctrlCalls(st, "ecs", "TagResource"); got != 0 {
		t.Errorf("%d TagResource calls, want 0: every drain ended younger than tagAfter", got)
	}
	if got := ctrlLogLines(second, "Adopting drain started elsewhere"); got != 2 {
		t.Errorf("the restarted controller adopted %d drains, want 2", got)
	}
	if got := e.ctrlMetric(second, "ecs_drainer_lifecycle_actions_completed_total", map[string]string{"result": "continue", "reason": "drained"}); got != 2 {
		t.Errorf("the restarted controller completed %v, want 2", got)
	}
	// Not knowing when the last heartbeat was, the new process records one at first sight.
	for _, id := range ids {
		if tl := e.timelines()[id]; tl.Heartbeats < 1 {
			t.Errorf("%s: %d heartbeats, want the restarted controller's first-sight heartbeat", id, tl.Heartbeats)
		}
	}
}

// TestControllerTwoReplicas runs two controllers at once over the same fleet. Either may set
// DRAINING, tag or complete first; every instance must still be drained fully and completed
// exactly once, and the second completion attempt (if any) must count as done, not as an expiry.
func TestControllerTwoReplicas(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t)
	f := demo.Uniform(demo.Shape{
		Clusters: 2, ASGsPerCluster: 2, InstancesPerASG: 3,
		ServicesPerCluster: 2, TasksPerInstance: 1, Daemon: true, TaskSlots: 6,
	})
	e.build(f)
	a, b := e.startController(), e.startController()
	e.waitReady(a)
	e.waitReady(b)
	var ids []string
	for _, g := range f.ManagedASGs() {
		ids = append(ids, e.scaleIn(g.Name, 1)...)
	}
	if len(ids) != 8 {
		t.Fatalf("scale-in put %d instances in Terminating:Wait, want 8", len(ids))
	}
	e.waitTerminated(ids)
	ended := func(p *harness.Process) float64 { return e.ctrlMetric(p, "ecs_drainer_drains_ended_total", nil) }
	e.eventually("both controllers saw every instance go", func() (bool, string) {
		na, nb := ended(a), ended(b)
		return na == 8 && nb == 8, fmt.Sprintf("%v and %v of 8", na, nb)
	})
	st := e.stats()
	e.drainedOnce(ids)
	e.noHarm(st)
	e.completions(st, 8, 0)
	completed := e.ctrlMetric(a, "ecs_drainer_lifecycle_actions_completed_total", nil) + e.ctrlMetric(b, "ecs_drainer_lifecycle_actions_completed_total", nil)
	if completed != 8 {
		t.Errorf("the two controllers counted %v completions together, want 8", completed)
	}
	for _, p := range []*harness.Process{a, b} {
		if n := e.ctrlMetric(p, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "expired"}); n != 0 {
			t.Errorf("controller pid %d counted %v drains as expired, want 0", p.PID(), n)
		}
	}
	if n := ctrlCalls(st, "ecs", "StopTask"); n != 0 {
		t.Errorf("%d StopTask calls, want none", n)
	}
	t.Logf("requests with two controllers:\n%s", ctrlFormatCounts(ctrlByOp(st.Requests)))
}

// TestControllerFaults drains a fleet while awssim throttles (AWS-like token buckets, some made
// tight) and fails a share of requests with injected 5xx, or answers some with malformed bodies.
// Every invariant must hold all the same; the faults must have happened to the controller.
func TestControllerFaults(t *testing.T) {
	t.Parallel()
	tight := strings.Join([]string{
		"DescribeAutoScalingGroups=2:2", "DescribeLifecycleHooks=1:1", "CompleteLifecycleAction=1:2",
		"ListClusters=1:1", "ListContainerInstances=2:2", "DescribeContainerInstances=2:2",
		"UpdateContainerInstancesState=1:1", "TagResource=1:2", "ListTasks=2:2", "DescribeTasks=2:2",
	}, ",")
	for _, tc := range []struct {
		name   string
		faults awssim.Faults
		codes  []string // error codes that must have reached the controller
		// early turns the faults on before the scale-in, so the hooks are described under them;
		// only for faults the test's own SDK clients retry (throttling and 5xx, not malformed answers).
		early bool
	}{
		// The error rate spreads 5xx at random; FailNext makes sure both services' 5xx reach the
		// controller (a random 15% of some 25 Auto Scaling calls misses them all about 2% of runs).
		{name: "throttle-and-5xx", faults: awssim.Faults{Throttle: true, ErrorRate: 0.15, FailNext: map[string]int{
			"CompleteLifecycleAction": 2, "UpdateContainerInstancesState": 1,
		}}, codes: []string{"Throttling", "ThrottlingException", "InternalFailure", "ServerException"}, early: true},
		// SpoilNext makes sure malformed answers of both services reach the controller, whatever
		// the random 10% draws.
		{name: "hostile", faults: awssim.Faults{Hostile: 0.1, SpoilNext: map[string]int{
			"DescribeAutoScalingGroups": 1, "DescribeContainerInstances": 1,
		}}, codes: []string{"DeserializationError"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newCtrlEnv(t, "--throttle-rates", tight)
			f := demo.Uniform(demo.Shape{
				Clusters: 2, ASGsPerCluster: 2, InstancesPerASG: 3,
				ServicesPerCluster: 2, TasksPerInstance: 1, Daemon: true, TaskSlots: 6,
			})
			e.build(f)
			ctrl := e.startController()
			e.waitReady(ctrl)
			if tc.early {
				e.setFaults(tc.faults)
			}
			var ids []string
			for _, g := range f.ManagedASGs() {
				ids = append(ids, e.scaleIn(g.Name, 1)...)
			}
			if len(ids) != 8 {
				t.Fatalf("scale-in put %d instances in Terminating:Wait, want 8", len(ids))
			}
			// Otherwise on only now: the test's own SDK calls do not retry malformed answers, the
			// controller's must survive them. Its next resync, at most 2 s away, finds the drains.
			e.setFaults(tc.faults)
			e.waitTerminated(ids)
			e.waitCtrlMetric(ctrl, "ecs_drainer_drains_ended_total", nil, 8)
			e.setFaults(awssim.Faults{})
			st := e.stats()
			e.drainedOnce(ids)
			e.noHarm(st)
			e.completions(st, 8, 0)
			if n := e.ctrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "expired"}); n != 0 {
				t.Errorf("%v drains ended expired, want 0", n)
			}
			for _, code := range tc.codes {
				if n := e.ctrlMetric(ctrl, "ecs_drainer_aws_requests_total", map[string]string{"code": code}); n == 0 {
					t.Errorf("no %s reached the controller: the scenario did not exercise it", code)
				}
			}
			t.Logf("requests under %s:\n%s", tc.name, ctrlFormatCounts(st.Requests))

		})
	}
}

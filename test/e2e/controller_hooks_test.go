package e2e

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/pkg/options"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// TestControllerActionAlreadyEnded starts the controller on an instance whose lifecycle action for
// the controller's hook is already over, completed by someone else or expired, while a second hook
// (ECS's managed draining hook, here played by the test) still holds the instance in
// Terminating:Wait. The controller must take "No active Lifecycle Action" as done: no drain, no
// write, no retry loop, and no completion of the other hook.
func TestControllerActionAlreadyEnded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		heartbeat time.Duration
		expired   bool // let the action expire rather than complete it
	}{
		{name: "completed", heartbeat: 60 * time.Second},
		{name: "expired", heartbeat: 30 * time.Second, expired: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newCtrlEnv(t)
			e.build(demo.Fleet{Clusters: []demo.Cluster{{
				Name: "ended",
				ASGs: []demo.ASG{{
					Name: "ended-asg", Min: 0, Desired: 1, Max: 1,
					Managed: true, HookName: demo.DefaultHookName, HookHeartbeatTimeout: tc.heartbeat,
				}},
			}}})
			e.putHook("ended-asg", options.ECSManagedHookName, 600*time.Second)
			ids := e.scaleIn("ended-asg", 0)
			if len(ids) != 1 {
				t.Fatalf("scale-in put %v in Terminating:Wait, want one instance", ids)
			}
			timedOut := 0
			if tc.expired {
				// The controller is not running while the action expires (30 s).
				e.eventually("the action expired", func() (bool, string) {
					n := e.stats().LifecycleActionsTimedOut
					return n == 1, "not yet"
				})
				timedOut = 1
			} else {
				e.completeAction("ended-asg", demo.DefaultHookName, ids[0], "CONTINUE")
			}
			if got := e.inState("ended-asg", astypes.LifecycleStateTerminatingWait); !slices.Equal(got, ids) {
				t.Fatalf("in Terminating:Wait: %v, want %v (held by the second hook)", got, ids)
			}

			before := e.stats()
			ctrl := e.startController()
			e.waitReady(ctrl)
			e.eventually("the controller found the action over", func() (bool, string) {
				return ctrlLogLines(ctrl, "Lifecycle action already ended") == 1, "not yet"
			})
			e.ctrlWaitResyncs(ctrl, 3)
			checkLeftEndedActionAlone(t, e, ctrl, before)
			if got := e.inState("ended-asg", astypes.LifecycleStateTerminatingWait); !slices.Equal(got, ids) {
				t.Fatalf("in Terminating:Wait: %v, want %v: the second hook's action was completed", got, ids)
			}

			// ECS completes its own hook; the instance goes.
			e.completeAction("ended-asg", options.ECSManagedHookName, ids[0], "CONTINUE")
			e.waitTerminated(ids)
			e.waitCtrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "other"}, 1)
			st := e.stats()
			tl := e.timelines()[ids[0]]
			if !tl.DrainingAt.IsZero() || tl.TimedOut != timedOut || tl.TasksKilled != 0 {
				t.Errorf("timeline %+v: want never DRAINING, %d timed out (before the controller started), no task killed", tl, timedOut)
			}
			if st.LifecycleActionsTimedOut != timedOut {
				t.Errorf("%d actions expired, want %d: none while the controller was up", st.LifecycleActionsTimedOut, timedOut)
			}
			if got := e.ctrlMetric(ctrl, "ecs_drainer_lifecycle_actions_completed_total", nil); got != 0 {
				t.Errorf("the controller counted %v completions, want 0", got)
			}
		})
	}
}

// checkLeftEndedActionAlone checks that, since before, the controller wrote nothing for an action
// already over: one heartbeat told it so, and it logged that once.
func checkLeftEndedActionAlone(t *testing.T, e *ctrlEnv, ctrl *harness.Process, before awssim.Stats) {
	t.Helper()
	st := e.stats()
	if got := st.WriteCalls - before.WriteCalls; got != 0 {
		t.Errorf("%d successful writes by the controller, want none:\n%s", got, ctrlFormatCounts(ctrlDelta(before, st)))
	}
	for _, op := range []string{"ecs/UpdateContainerInstancesState", "ecs/TagResource", "autoscaling/CompleteLifecycleAction"} {
		if n := ctrlByOp(ctrlDelta(before, st))[op]; n != 0 {
			t.Errorf("%d %s calls for an action already over, want none", n, op)
		}
	}
	// One attempt (the heartbeat at first sight) told it the action was over; no retries.
	if n := ctrlByOp(ctrlDelta(before, st))["autoscaling/RecordLifecycleActionHeartbeat"]; n != 1 {
		t.Errorf("%d RecordLifecycleActionHeartbeat calls, want 1", n)
	}
	if got := ctrlLogLines(ctrl, "Lifecycle action already ended"); got != 1 {
		t.Errorf("logged the end %d times, want once", got)
	}
}

// TestControllerLeavesOtherHooksAlone scales in four groups at once: one managed as usual, one
// untagged (unmanaged) with a hook of the controller's name, one tagged whose only terminating hook
// is ECS's managed draining hook, and one tagged carrying both the controller's hook and ECS's.
// The controller drains and completes its own hook only: the unmanaged and ECS-only instances are
// never touched, and the instance with both hooks stays in Terminating:Wait until ECS (played by
// the test) completes its own.
func TestControllerLeavesOtherHooksAlone(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t)
	hb := 300 * time.Second
	group := func(name string, managed bool, hook string) demo.ASG {
		return demo.ASG{Name: name, Min: 0, Desired: 2, Max: 2, TaskSlots: 4, Managed: managed, HookName: hook, HookHeartbeatTimeout: hb}
	}
	e.build(demo.Fleet{Clusters: []demo.Cluster{{
		Name: "shared",
		ASGs: []demo.ASG{
			group("mine", true, demo.DefaultHookName),
			group("legacy", false, demo.DefaultHookName),
			group("ecs-only", true, options.ECSManagedHookName),
			group("both", true, demo.DefaultHookName),
		},
		Services: []demo.Service{{Name: "web", DesiredCount: 8, MinimumHealthyPercent: 50, MaximumPercent: 200}},
	}}})
	e.putHook("both", options.ECSManagedHookName, hb)
	ctrl := e.startController()
	e.waitReady(ctrl)

	left := map[string]string{}
	for _, g := range []string{"mine", "legacy", "ecs-only", "both"} {
		ids := e.scaleIn(g, 1)
		if len(ids) != 1 {
			t.Fatalf("scale-in of %s put %v in Terminating:Wait, want one instance", g, ids)
		}
		left[g] = ids[0]
	}
	e.waitTerminated([]string{left["mine"]})
	e.waitCtrlMetric(ctrl, "ecs_drainer_lifecycle_actions_completed_total", map[string]string{"result": "continue", "reason": "drained"}, 2)
	e.ctrlWaitResyncs(ctrl, 3)

	checkOtherHooksLeftAlone(t, e, ctrl, left)

	// ECS finishes its drain and completes its hook: the instance goes, with nothing running.
	e.completeAction("both", options.ECSManagedHookName, left["both"], "CONTINUE")
	e.waitTerminated([]string{left["both"]})
	e.waitCtrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"}, 2)
	st := e.stats()
	e.noHarm(st)
	tls := e.timelines()
	for _, g := range []string{"mine", "both"} {
		if tl := tls[left[g]]; tl.TasksKilled != 0 || tl.TimedOut != 0 || tl.TerminatedAt.IsZero() {
			t.Errorf("%s's instance: %+v, want terminated with no task killed", g, tl)
		}
	}
	if got, want := st.CompletionsByInstance, map[string]int{left["mine"]: 1, left["both"]: 2}; !maps.Equal(got, want) {
		t.Errorf("completions by instance %v, want %v (the controller once each, ECS once)", got, want)
	}
}

// checkOtherHooksLeftAlone checks the controller touched neither the legacy group's instance nor
// the one held only by ECS's hook, drained and completed its own hook on the group with both, and
// warned once about each. left maps each group to its scaled-in instance.
func checkOtherHooksLeftAlone(t *testing.T, e *ctrlEnv, ctrl *harness.Process, left map[string]string) {
	t.Helper()
	tls := e.timelines()
	for _, g := range []string{"legacy", "ecs-only"} {
		if tl := tls[left[g]]; !tl.DrainingAt.IsZero() || tl.Completions != 0 || tl.Heartbeats != 0 || !tl.TerminatedAt.IsZero() {
			t.Errorf("%s's instance was touched: %+v", g, tl)
		}
	}
	if tl := tls[left["both"]]; tl.DrainingAt.IsZero() || tl.Completions != 1 || !tl.TerminatedAt.IsZero() {
		t.Errorf("both's instance: %+v, want drained, completed once (the controller's hook), still there", tl)
	}
	for _, g := range []string{"legacy", "ecs-only", "both"} {
		if got := e.inState(g, astypes.LifecycleStateTerminatingWait); !slices.Equal(got, []string{left[g]}) {
			t.Errorf("%s in Terminating:Wait: %v, want %v", g, got, left[g])
		}
	}
	if got := ctrlLogLines(ctrl, "Skipping group without a hook to act for"); got != 1 {
		t.Errorf("warned %d times about the group with only ECS's hook, want once", got)
	}
	if got := ctrlLogLines(ctrl, "ECS managed draining also on this group"); got != 1 {
		t.Errorf("warned %d times about the group with both hooks, want once", got)
	}
}

// TestControllerDryRun runs the controller with --dry-run over a fleet where it would do
// everything: create a missing hook, set an instance DRAINING, tag it, record heartbeats, and
// complete the action of an instance in no cluster. awssim's own counters must show no write at
// all, and the controller's log must show each planned write once.
func TestControllerDryRun(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t)
	hb := 300 * time.Second
	e.build(demo.Fleet{Clusters: []demo.Cluster{{
		Name: "dry",
		ASGs: []demo.ASG{
			{Name: "dry-a", Min: 0, Desired: 2, Max: 2, TaskSlots: 4, Managed: true, HookName: demo.DefaultHookName, HookHeartbeatTimeout: hb},
			{Name: "dry-nohook", Min: 0, Desired: 0, Max: 1, Managed: true},
		},
		Services: []demo.Service{{Name: "web", DesiredCount: 2, MinimumHealthyPercent: 50, MaximumPercent: 200}},
	}}})
	// A group in no cluster, to plan a not_registered completion.
	_, err := e.as.CreateAutoScalingGroup(t.Context(), &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("dry-ghost"),
		MinSize:              aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1),
		LaunchTemplate:    &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("plain"), Version: aws.String("$Latest")},
		AvailabilityZones: []string{"us-east-1a"},
		Tags: []astypes.Tag{{
			ResourceId: aws.String("dry-ghost"), ResourceType: aws.String("auto-scaling-group"),
			Key: aws.String(demo.ManagedTagKey), Value: aws.String(demo.ManagedTagValue), PropagateAtLaunch: aws.Bool(true),
		}},
	})
	if err != nil {
		t.Fatalf("creating the group: %v", err)
	}
	e.putHook("dry-ghost", demo.DefaultHookName, hb)
	e.eventually("the ghost instance in service", func() (bool, string) {
		return len(e.inState("dry-ghost", astypes.LifecycleStateInService)) == 1, "not yet"
	})
	waiting := append(e.scaleIn("dry-a", 1), e.scaleIn("dry-ghost", 0)...)
	if len(waiting) != 2 {
		t.Fatalf("scale-in put %v in Terminating:Wait, want two instances", waiting)
	}

	before := e.stats()
	// The drain start is tagged only once the drain is min(half the heartbeat timeout, the
	// standalone task grace, ...) old: a 2 s grace brings the planned tag within the test's wait.
	ctrl := e.startController("--dry-run", "--manage-hooks", "--hook-name", demo.DefaultHookName, "--standalone-task-grace", "2s")
	e.waitReady(ctrl)
	plan := map[string]int{
		"Would create lifecycle hook":             1, // on dry-nohook
		"Would set container instances DRAINING":  1, // dry-a's instance
		"Would tag container instance":            1, // once the drain is 2 s old
		"Would complete lifecycle action":         1, // dry-ghost's instance, in no cluster
		"Would record lifecycle action heartbeat": 2, // both, at first sight
	}
	e.eventually("the whole plan logged", func() (bool, string) {
		for msg, n := range plan {
			if ctrlLogLines(ctrl, msg) < n {
				return false, "no " + msg + " yet"
			}
		}
		return true, ""
	})
	e.ctrlWaitResyncs(ctrl, 3)
	for msg, n := range plan {
		if got := ctrlLogLines(ctrl, msg); got != n {
			t.Errorf("%q logged %d times, want %d", msg, got, n)
		}
	}
	checkDryRunChangedNothing(t, e, before, waiting)
}

// checkDryRunChangedNothing checks that, since before, the dry run made no write call, left the
// waiting instances as they were, and created no hook.
func checkDryRunChangedNothing(t *testing.T, e *ctrlEnv, before awssim.Stats, waiting []string) {
	t.Helper()
	st := e.stats()
	if got := st.WriteCalls - before.WriteCalls; got != 0 {
		t.Errorf("%d successful writes in dry run, want none", got)
	}
	for key, n := range ctrlDelta(before, st) {
		if !isRead(key) {
			t.Errorf("dry run made %d %s calls, want no write call of any outcome", n, key)
		}
	}
	for _, id := range waiting {
		if tl := e.timelines()[id]; !tl.DrainingAt.IsZero() || tl.Completions != 0 || tl.Heartbeats != 0 || !tl.TerminatedAt.IsZero() {
			t.Errorf("%s was changed in dry run: %+v", id, tl)
		}
	}
	hooks, err := e.as.DescribeLifecycleHooks(t.Context(), &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String("dry-nohook")})
	if err != nil {
		t.Fatalf("describing dry-nohook's hooks: %v", err)
	}
	if len(hooks.LifecycleHooks) != 0 {
		t.Errorf("dry run created hooks: %v", hooks.LifecycleHooks)
	}
}

// isRead reports whether a "service/operation/code" key is a read: Describe* or List*.
func isRead(key string) bool {
	_, rest, _ := strings.Cut(key, "/")
	op, _, _ := strings.Cut(rest, "/")
	return strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "List")
}

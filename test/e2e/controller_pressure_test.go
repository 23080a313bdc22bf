package e2e

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
)

// The scenarios of issue 12: situations real accounts produce in which lifecycle actions used to
// expire, and instances terminate with tasks still running. Each runs the controller as a real
// process with loops slower than the defaults (a resync and a poll every 15 s, the defaults until
// issue 9: the harder case) against awssim with real stop timeouts (--stop-timeout-scale 1), and
// ends with awssim's ground truth: no action expired, no task killed by a termination, every
// action completed once by the controller.

// pressureFlags are production-like loops, slower than today's defaults: ctrlFlags' quick loops
// would hide what slow loops do under pressure.
var pressureFlags = []string{"--resync-period", "15s", "--poll-interval", "15s"}

// slowGroup is a managed group of n instances, one task each, under a terminating hook of hb,
// whose tasks take stop to stop (so a drain lasts about stop).
func slowGroup(cluster, group string, n int, hb, stop time.Duration) demo.Fleet {
	return demo.Fleet{StopTimeout: stop, Clusters: []demo.Cluster{{
		Name: cluster,
		ASGs: []demo.ASG{{
			Name: group, Min: 0, Desired: n, Max: n, TaskSlots: 1,
			Managed: true, HookName: demo.DefaultHookName, HookHeartbeatTimeout: hb,
		}},
		Services: []demo.Service{{Name: group + "-app", DesiredCount: n, MinimumHealthyPercent: 0, MaximumPercent: 100}},
	}}}
}

// drainedSafely waits for the instances to terminate and checks the invariants.
func (e *ctrlEnv) drainedSafely(ids []string) awssim.Stats {
	e.t.Helper()
	e.waitTerminated(ids)
	st := e.stats()
	e.noHarm(st)
	e.drainedOnce(ids)
	return st
}

// TestControllerOneThrottledOperation: only CompleteLifecycleAction is throttled (0.5 per second,
// as when another tool shares its bucket) while two groups drain under 30 s hooks, one with 5 s
// drains and one with 75 s drains. Completions back off on their own; heartbeats, with a retryer
// of their own and first call on the rate limit, keep every action alive. Before, the
// completions' throttling slowed the whole Auto Scaling client and heartbeats failed with "failed
// to get retry Send token": 14 actions expired.
func TestControllerOneThrottledOperation(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t, "--stop-timeout-scale", "1", "--throttle-rates", "CompleteLifecycleAction=0.5:1")
	e.build(slowGroup("fast", "fast-asg", 8, 30*time.Second, 5*time.Second))
	e.buildWithRunning(slowGroup("slow", "slow-asg", 8, 30*time.Second, 75*time.Second), 16)
	e.setFaults(awssim.Faults{Throttle: true})
	ctrl := e.startController(pressureFlags...)
	e.waitReady(ctrl)
	ids := append(e.scaleIn("fast-asg", 2), e.scaleIn("slow-asg", 2)...)
	if len(ids) != 12 {
		t.Fatalf("scale-in put %d instances in Terminating:Wait, want 12", len(ids))
	}
	st := e.drainedSafely(ids)
	e.completions(st, 12, 0)
	if n := ctrlCalls(st, "autoscaling", "CompleteLifecycleAction", "Throttling"); n == 0 {
		t.Error("no completion was throttled: the scenario did not happen")
	}
	if n := ctrlCalls(st, "autoscaling", "RecordLifecycleActionHeartbeat", "OK"); n == 0 {
		t.Error("no heartbeat was recorded: the 75 s drains needed them")
	}
}

// TestControllerSlowAPI: every request takes 700 ms, nothing fails. 100 instances scale in under
// 30 s hooks with 60 s drains: 100 heartbeats due every 15 s (6.7 per second) within the default
// --aws-qps 10. Heartbeat workers scale with the budget (2 x --aws-qps), so throughput follows
// what is due; the controller warns that heartbeats use more than half the budget. Before, two
// workers managed 2 / 0.7 s and 53 actions expired.
func TestControllerSlowAPI(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t, "--stop-timeout-scale", "1")
	f := slowGroup("slow-api", "slow-api-a", 60, 30*time.Second, 60*time.Second)
	f.Clusters[0].ASGs = append(f.Clusters[0].ASGs, demo.ASG{
		Name: "slow-api-b", Min: 0, Desired: 60, Max: 60, TaskSlots: 1,
		Managed: true, HookName: demo.DefaultHookName, HookHeartbeatTimeout: 30 * time.Second,
	})
	f.Clusters[0].Services[0].DesiredCount = 120
	e.build(f)
	e.setFaults(awssim.Faults{LatencyMS: 700})
	ctrl := e.startController(pressureFlags...)
	e.waitReady(ctrl)
	ids := append(e.scaleIn("slow-api-a", 10), e.scaleIn("slow-api-b", 10)...)
	if len(ids) != 100 {
		t.Fatalf("scale-in put %d instances in Terminating:Wait, want 100", len(ids))
	}
	st := e.drainedSafely(ids)
	e.completions(st, 100, 0)
	if n := ctrlLogLines(ctrl, "Heartbeats use over half the request budget"); n != 1 {
		t.Errorf("the heartbeat budget warning was logged %d times, want once", n)
	}
}

// TestControllerHookChanges: the hook is changed as a CloudFormation update does, after the
// controller described it, and the next instance to wait is drained safely:
//   - lowered: the heartbeat timeout goes from 300 s to 30 s (a 60 s drain needs heartbeats);
//   - renamed: drain-v2 is created and the old hook deleted.
//
// Before, the controller acted on its cached description: it sent no heartbeat in time, or acted
// for the deleted hook and took the refusal for "already ended"; either way the action expired
// and was counted as "other".
func TestControllerHookChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(e *ctrlEnv, group string)
	}{
		{"lowered", func(e *ctrlEnv, group string) { e.putHook(group, demo.DefaultHookName, 30*time.Second) }},
		{"renamed", func(e *ctrlEnv, group string) {
			e.putHook(group, "drain-v2", 30*time.Second)
			e.deleteHook(group, demo.DefaultHookName)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newCtrlEnv(t, "--stop-timeout-scale", "1")
			group := "hooks-" + tc.name
			e.build(slowGroup(group, group, 3, 300*time.Second, 60*time.Second))
			ctrl := e.startController(pressureFlags...)
			e.waitReady(ctrl)
			first := e.scaleIn(group, 2)
			e.drainedSafely(first) // the controller has described the 300 s hook and acted on it
			tc.change(e, group)
			second := e.scaleIn(group, 1)
			st := e.drainedSafely(second)
			e.completions(st, 2, 0)
			e.waitCtrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"}, 2)
			for _, outcome := range []string{"expired", "other"} {
				if n := e.ctrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": outcome}); n != 0 {
					t.Errorf("drains_ended_total{outcome=%q} = %v, want 0", outcome, n)
				}
			}
		})
	}
}

// TestControllerShortHookOnTheLastGroup: 25 managed groups under --resync-period 1m; only the last
// one has a 30 s hook, and one of its instances waits as soon as the controller is up. Until every
// group's hooks are known the controller resyncs every 15 s, as if each unknown group had the
// shortest hook AWS allows. Before, hooks were probed for 20 groups per resync, the resync stayed
// at a minute, and the action expired.
func TestControllerShortHookOnTheLastGroup(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t, "--stop-timeout-scale", "1")
	f := slowGroup("many", "many-z-last", 2, 30*time.Second, 40*time.Second)
	for i := range 24 {
		f.Clusters[0].ASGs = append(f.Clusters[0].ASGs, demo.ASG{
			Name: fmt.Sprintf("many-%02d", i), Min: 0, Desired: 0, Max: 1,
			Managed: true, HookName: demo.DefaultHookName, HookHeartbeatTimeout: time.Hour,
		})
	}
	e.build(f)
	ctrl := e.startController("--resync-period", "1m", "--poll-interval", "15s")
	e.waitReady(ctrl)
	ids := e.scaleIn("many-z-last", 1)
	st := e.drainedSafely(ids)
	e.completions(st, 1, 0)
}

// TestControllerStrictSelection: a group tagged ecs-drainer/enabled=false is never selected, and
// the startup log names the groups selected and why; --asg-tag with an empty value is refused
// with exit status 2 instead of widening to every value of the key.
func TestControllerStrictSelection(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t)
	f := slowGroup("select", "select-on", 2, 30*time.Second, 2*time.Second)
	f.Clusters[0].ASGs = append(f.Clusters[0].ASGs, demo.ASG{
		Name: "select-off", Min: 0, Desired: 1, Max: 1, TaskSlots: 1,
		// A long hook: its instance waits out the test untouched.
		HookName: demo.DefaultHookName, HookHeartbeatTimeout: 10 * time.Minute,
	})
	f.Clusters[0].Services[0].DesiredCount = 3
	e.build(f)
	if _, err := e.as.CreateOrUpdateTags(t.Context(), &autoscaling.CreateOrUpdateTagsInput{Tags: []astypes.Tag{{
		ResourceId: aws.String("select-off"), ResourceType: aws.String("auto-scaling-group"),
		Key: aws.String("ecs-drainer/enabled"), Value: aws.String("false"), PropagateAtLaunch: aws.Bool(false),
	}}}); err != nil {
		t.Fatal(err)
	}

	out, err := exec.CommandContext(t.Context(), e.ctrlBin, "--asg-tag", "ecs-drainer/enabled=").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "the value after '=' is empty") {
		t.Errorf("--asg-tag ecs-drainer/enabled= : err %v, output:\n%s\nwant exit status 2 naming the empty value", err, out)
	}

	for _, tag := range []string{"ecs-drainer/enabled=true", "ecs-drainer/enabled"} {
		ctrl := e.startController("--asg-tag", tag)
		e.waitReady(ctrl)
		logs := ctrl.Output()
		wantOn := `"select-on (tag ` + tag + `)"`
		if !strings.Contains(logs, "Managing Auto Scaling groups") || !strings.Contains(logs, wantOn) {
			t.Errorf("--asg-tag %s: startup log does not name %s:\n%s", tag, wantOn, ctrlTail(logs))
		}
		if selected := strings.Contains(logs, `"select-off (tag`); selected != (tag == "ecs-drainer/enabled") {
			t.Errorf("--asg-tag %s: select-off (tagged false) selected: %v", tag, selected)
		}
		if err := ctrl.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	ctrl := e.startController()
	e.waitReady(ctrl)
	on, off := e.scaleIn("select-on", 1), e.scaleIn("select-off", 0)
	e.drainedSafely(on)
	e.ctrlWaitResyncs(ctrl, 2)
	if tl := e.timelines()[off[0]]; !tl.DrainingAt.IsZero() || tl.Completions != 0 {
		t.Errorf("instance of the group tagged false: %+v; want never DRAINING, never completed", tl)
	}
}

// TestControllerCountsAnExpiryAsExpired: the controller is frozen (SIGSTOP) mid-drain for longer
// than the hook's 30 s heartbeat timeout, so the action expires and the instance terminates with
// its task. Once it runs again, the refused heartbeat is checked against Auto Scaling and the
// drain is counted as expired, which the EcsDrainerLifecycleActionExpired alert fires on. Before,
// such an end could be counted as "other" and the alert stayed quiet.
func TestControllerCountsAnExpiryAsExpired(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t, "--stop-timeout-scale", "1")
	e.build(slowGroup("frozen", "frozen-asg", 2, 30*time.Second, 100*time.Second))
	ctrl := e.startController(pressureFlags...)
	e.waitReady(ctrl)
	ids := e.scaleIn("frozen-asg", 1)
	e.eventually("the drain started", func() (bool, string) {
		return !e.timelines()[ids[0]].DrainingAt.IsZero(), "not DRAINING yet"
	})
	if err := syscall.Kill(ctrl.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	e.eventually("the action expired while the controller was frozen", func() (bool, string) {
		return e.stats().LifecycleActionsTimedOut == 1, "not yet"
	})
	if err := syscall.Kill(ctrl.PID(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	e.waitCtrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "expired"}, 1)
	if n := e.ctrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "other"}); n != 0 {
		t.Errorf("drains_ended_total{outcome=other} = %v, want 0", n)
	}
	if n := e.ctrlMetric(ctrl, "ecs_drainer_lifecycle_actions_completed_total", nil); n != 0 {
		t.Errorf("lifecycle_actions_completed_total = %v, want 0", n)
	}
}

// deleteHook deletes a group's lifecycle hook, as a person or CloudFormation would.
func (e *ctrlEnv) deleteHook(group, hook string) {
	e.t.Helper()
	if _, err := e.as.DeleteLifecycleHook(e.t.Context(), &autoscaling.DeleteLifecycleHookInput{
		AutoScalingGroupName: aws.String(group), LifecycleHookName: aws.String(hook),
	}); err != nil {
		e.t.Fatalf("deleting hook %s of %s: %v", hook, group, err)
	}
}

// TestControllerThrottlingStorm: 50 drains under 30 s hooks while awssim throttles with AWS-like
// buckets, fails 5% of requests, and another tool empties the buckets of the controller's main ECS
// read operations and of CompleteLifecycleAction for the first 40 s. Before, 10-11 actions
// expired in 2 of 3 runs. (A neighbour that empties DescribeAutoScalingGroups for longer than the
// shortest hook blinds any poller, whatever it does; that is what the event path is for.)
func TestControllerThrottlingStorm(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t, "--stop-timeout-scale", "1")
	e.build(slowGroup("storm", "storm-asg", 60, 30*time.Second, 45*time.Second))
	e.setFaults(awssim.Faults{Throttle: true, ErrorRate: soakErrorRate})
	ctrl := e.startController(pressureFlags...)
	e.waitReady(ctrl)
	readers := startSoakNeighbour(t, soakReadOps(e.url, "storm")[1:]) // the ECS reads
	completers := startSoakNeighbour(t, soakCompletionOps(e.url, "storm-asg"))
	ids := e.scaleIn("storm-asg", 10)
	if len(ids) != 50 {
		t.Fatalf("scale-in put %d instances in Terminating:Wait, want 50", len(ids))
	}
	time.Sleep(40 * time.Second) // the storm's length: the neighbours' calls, not a wait for AWS
	readers.stop()
	completers.stop()
	st := e.drainedSafely(ids)
	e.completions(st, 50, 0)
	_, rThrottled := readers.totals()
	_, cThrottled := completers.totals()
	if rThrottled == 0 || cThrottled == 0 {
		t.Errorf("the neighbours were throttled %d and %d times: the buckets were not emptied", rThrottled, cThrottled)
	}
}

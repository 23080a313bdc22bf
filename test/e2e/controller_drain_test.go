package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// TestControllerDrainOutlivesHeartbeatTimeout drains an instance whose task takes 40 s to stop
// under a hook with Auto Scaling's minimum heartbeat timeout of 30 s: the hook would expire midway
// without heartbeats. The controller must record them, so the action never expires, and complete
// it once the task has stopped.
func TestControllerDrainOutlivesHeartbeatTimeout(t *testing.T) {
	t.Parallel()
	const heartbeatTimeout = 30 * time.Second
	e := newCtrlEnv(t, "--stop-timeout-scale", "1")
	e.build(demo.Fleet{
		StopTimeout: 40 * time.Second,
		Clusters: []demo.Cluster{{
			Name: "slow",
			ASGs: []demo.ASG{{
				Name: "slow-asg", Min: 0, Desired: 2, Max: 2, TaskSlots: 4,
				Managed: true, HookName: demo.DefaultHookName, HookHeartbeatTimeout: heartbeatTimeout,
			}},
			Services: []demo.Service{{Name: "web", DesiredCount: 2, MinimumHealthyPercent: 50, MaximumPercent: 200}},
		}},
	})
	ctrl := e.startController()
	e.waitReady(ctrl)

	ids := e.scaleIn("slow-asg", 1)
	if len(ids) != 1 {
		t.Fatalf("scale-in put %v in Terminating:Wait, want one instance", ids)
	}
	e.waitTerminated(ids)
	e.waitCtrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"}, 1)

	st := e.stats()
	e.drainedOnce(ids)
	e.noHarm(st)
	e.completions(st, 1, 0)
	tl := e.timelines()[ids[0]]
	// The scenario's premise, not a speed claim: the instance really waited longer than the hook's
	// heartbeat timeout, so only heartbeats kept its action alive.
	if waited := tl.CompletedAt.Sub(tl.TerminatingWaitAt); waited <= heartbeatTimeout {
		t.Fatalf("the drain took %s, not longer than the %s heartbeat timeout: the scenario did not test heartbeats", waited, heartbeatTimeout)
	}
	if tl.Heartbeats < 2 {
		t.Errorf("%d heartbeats recorded over a drain longer than the heartbeat timeout, want at least 2", tl.Heartbeats)
	}
	if got := e.ctrlMetric(ctrl, "ecs_drainer_heartbeats_total", nil); int(got) != tl.Heartbeats {
		t.Errorf("the controller counted %v heartbeats, awssim recorded %d", got, tl.Heartbeats)
	}
	if got := ctrlCalls(st, "autoscaling", "RecordLifecycleActionHeartbeat", "OK"); got != tl.Heartbeats {
		t.Errorf("%d successful RecordLifecycleActionHeartbeat calls for %d heartbeats", got, tl.Heartbeats)
	}
	// A heartbeat already on its way when the completion lands finds the action over ("No active
	// Lifecycle Action", a ValidationError): that one race is allowed, no other failure is.
	failed := ctrlCalls(st, "autoscaling", "RecordLifecycleActionHeartbeat") - tl.Heartbeats
	if raced := ctrlCalls(st, "autoscaling", "RecordLifecycleActionHeartbeat", "ValidationError"); failed > 1 || failed != raced {
		t.Errorf("%d RecordLifecycleActionHeartbeat calls failed (%d of them after the action ended), want none but one racing the completion", failed, raced)
	}
}

// TestControllerStandaloneTasks drains an instance running standalone tasks (RunTask, no service),
// which DRAINING never stops. Under the stop policy the controller stops them after the grace
// period; under the wait policy it never does, and the drain ends when the tasks end on their own
// (here: stopped by the test, as a finished job would).
func TestControllerStandaloneTasks(t *testing.T) {
	t.Parallel()
	fleet := demo.Fleet{Clusters: []demo.Cluster{{
		Name: "jobs",
		ASGs: []demo.ASG{{
			Name: "jobs-asg", Min: 0, Desired: 1, Max: 1, TaskSlots: 4,
			Managed: true, HookName: demo.DefaultHookName, HookHeartbeatTimeout: 60 * time.Second,
		}},
		StandaloneTasks: 2,
	}}}

	t.Run("stop", func(t *testing.T) {
		t.Parallel()
		e := newCtrlEnv(t)
		e.build(fleet)
		ctrl := e.startController("--standalone-task-policy", "stop", "--standalone-task-grace", "2s")
		e.waitReady(ctrl)
		ids := e.scaleIn("jobs-asg", 0)
		if len(ids) != 1 {
			t.Fatalf("scale-in put %v in Terminating:Wait, want one instance", ids)
		}
		e.waitTerminated(ids)
		e.waitCtrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"}, 1)

		st := e.stats()
		e.drainedOnce(ids)
		e.noHarm(st)
		e.completions(st, 1, 0)
		if got := st.TasksStoppedByReason[awssim.StopReasonUser]; got != 2 {
			t.Errorf("%d tasks stopped by StopTask, want the 2 standalone tasks", got)
		}
		if got := ctrlCalls(st, "ecs", "StopTask"); got != 2 {
			t.Errorf("%d StopTask calls, want 2: one per standalone task", got)
		}
		if got := e.ctrlMetric(ctrl, "ecs_drainer_tasks_stopped_total", map[string]string{"policy": "standalone_grace"}); got != 2 {
			t.Errorf("the controller counted %v standalone tasks stopped, want 2", got)
		}
	})

	t.Run("wait", func(t *testing.T) {
		t.Parallel()
		e := newCtrlEnv(t)
		e.build(fleet)
		ctrl := e.startController("--standalone-task-policy", "wait", "--standalone-task-grace", "0s")
		e.waitReady(ctrl)
		ids := e.scaleIn("jobs-asg", 0)
		if len(ids) != 1 {
			t.Fatalf("scale-in put %v in Terminating:Wait, want one instance", ids)
		}
		e.eventually("the drain started", func() (bool, string) {
			return !e.timelines()[ids[0]].DrainingAt.IsZero(), "not DRAINING yet"
		})
		// Let the controller look at the drain over several resyncs and polls: it must neither stop
		// the tasks nor complete the action.
		e.ctrlWaitResyncs(ctrl, 3)
		st := e.stats()
		if got := ctrlCalls(st, "ecs", "StopTask"); got != 0 {
			t.Fatalf("%d StopTask calls under the wait policy, want none", got)
		}
		if tl := e.timelines()[ids[0]]; tl.Completions != 0 || !tl.TerminatedAt.IsZero() {
			t.Fatalf("the instance left with standalone tasks running: %+v", tl)
		}
		if got := e.inState("jobs-asg", astypes.LifecycleStateTerminatingWait); !slices.Equal(got, ids) {
			t.Fatalf("in Terminating:Wait: %v, want %v", got, ids)
		}

		// The jobs end.
		tasks := e.tasksOn("jobs", ids[0])
		if len(tasks) != 2 {
			t.Fatalf("%d tasks on the draining instance, want the 2 standalone tasks", len(tasks))
		}
		for _, task := range tasks {
			if _, err := e.ec.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("jobs"), Task: task.TaskArn, Reason: aws.String("job done")}); err != nil {
				t.Fatalf("stopping %s: %v", aws.ToString(task.TaskArn), err)
			}
		}
		e.waitTerminated(ids)
		e.waitCtrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"}, 1)
		st = e.stats()
		e.drainedOnce(ids)
		e.noHarm(st)
		e.completions(st, 1, 0)
		if got := ctrlCalls(st, "ecs", "StopTask"); got != 2 {
			t.Errorf("%d StopTask calls, want only the test's 2", got)
		}
		if got := e.ctrlMetric(ctrl, "ecs_drainer_tasks_stopped_total", nil); got != 0 {
			t.Errorf("the controller counted %v tasks stopped under the wait policy, want 0", got)
		}
	})
}

// TestControllerDaemonServices drains instances running daemon tasks: one cluster with nothing
// but a daemon, one with a daemon and a replica service. ECS stops daemon tasks last, once every
// other task of the instance has stopped; the controller must wait for them too, and must neither
// stop them early nor count the drain done before they have stopped.
func TestControllerDaemonServices(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t)
	hb := 60 * time.Second
	e.build(demo.Fleet{Clusters: []demo.Cluster{
		{
			Name:     "daemon-only",
			ASGs:     []demo.ASG{{Name: "daemon-only-asg", Min: 0, Desired: 2, Max: 2, TaskSlots: 2, Managed: true, HookHeartbeatTimeout: hb}},
			Services: []demo.Service{{Name: "agent", Daemon: true}},
		},
		{
			Name: "mixed",
			ASGs: []demo.ASG{{Name: "mixed-asg", Min: 0, Desired: 2, Max: 2, TaskSlots: 4, Managed: true, HookHeartbeatTimeout: hb}},
			Services: []demo.Service{
				{Name: "web", DesiredCount: 2, MinimumHealthyPercent: 50, MaximumPercent: 200},
				{Name: "agent", Daemon: true},
			},
		},
	}})

	// Scale in before the controller starts, so the tasks of the leaving instances can be read
	// before anything drains them.
	type leaving struct{ cluster, id string }
	var out []leaving
	for _, c := range []string{"daemon-only", "mixed"} {
		ids := e.scaleIn(c+"-asg", 1)
		if len(ids) != 1 {
			t.Fatalf("scale-in of %s put %v in Terminating:Wait, want one instance", c, ids)
		}
		out = append(out, leaving{c, ids[0]})
	}
	taskArns := map[string][]string{}
	for _, l := range out {
		for _, task := range e.tasksOn(l.cluster, l.id) {
			taskArns[l.cluster] = append(taskArns[l.cluster], aws.ToString(task.TaskArn))
		}
	}
	if len(taskArns["daemon-only"]) != 1 || len(taskArns["mixed"]) != 2 {
		t.Fatalf("tasks on the leaving instances: %v, want one daemon task and a daemon and a web task", taskArns)
	}

	ctrl := e.startController()
	ids := []string{out[0].id, out[1].id}
	e.waitTerminated(ids)
	e.waitCtrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"}, 2)
	st := e.stats()
	e.drainedOnce(ids)
	e.noHarm(st)
	e.completions(st, 2, 0)
	if got := st.TasksStoppedByReason[awssim.StopReasonDraining]; got != 3 {
		t.Errorf("%d tasks stopped by draining, want 3 (two daemon tasks and one web task)", got)
	}
	if got := ctrlCalls(st, "ecs", "StopTask"); got != 0 {
		t.Errorf("%d StopTask calls, want none: DRAINING stops service and daemon tasks", got)
	}

	// Daemon last: on the mixed instance the daemon task stopped after the web task.
	desc, err := e.ec.DescribeTasks(t.Context(), &ecs.DescribeTasksInput{Cluster: aws.String("mixed"), Tasks: taskArns["mixed"]})
	if err != nil {
		t.Fatalf("describing the drained tasks: %v", err)
	}
	var daemonStop, webStop time.Time
	for _, task := range desc.Tasks {
		if aws.ToString(task.LastStatus) != "STOPPED" {
			t.Errorf("task %s is %s after its instance terminated", aws.ToString(task.TaskArn), aws.ToString(task.LastStatus))
		}
		if strings.HasSuffix(aws.ToString(task.Group), ":agent") {
			daemonStop = aws.ToTime(task.StoppedAt)
		} else {
			webStop = aws.ToTime(task.StoppedAt)
		}
	}
	if daemonStop.Before(webStop) {
		t.Errorf("daemon task stopped at %v, before the web task at %v", daemonStop, webStop)
	}
}

// TestControllerDrainTimeout stalls a drain (a service with minimumHealthyPercent and
// maximumPercent both 100 cannot move a task, and a daemon task waits for it) past --drain-timeout,
// under each --drain-timeout-action. stop-tasks stops what remains and completes with CONTINUE, so
// nothing dies with the host; continue and abandon end the wait at once as configured, and the
// host's termination kills the tasks: the one case the host_terminated count may rise, because
// the operator chose it.
func TestControllerDrainTimeout(t *testing.T) {
	t.Parallel()
	fleet := demo.Fleet{Clusters: []demo.Cluster{{
		Name: "stuck",
		ASGs: []demo.ASG{{
			Name: "stuck-asg", Min: 0, Desired: 2, Max: 2, TaskSlots: 2,
			Managed: true, HookName: demo.DefaultHookName, HookHeartbeatTimeout: 60 * time.Second,
		}},
		Services: []demo.Service{
			{Name: "pinned", DesiredCount: 2, MinimumHealthyPercent: 100, MaximumPercent: 100},
			{Name: "agent", Daemon: true},
		},
	}}}
	for _, tc := range []struct {
		action             string
		result             string
		killed             int // tasks killed by the host's termination
		controllerStopsMin int // tasks the controller stops itself, at least
	}{
		{action: "stop-tasks", result: "CONTINUE", killed: 0, controllerStopsMin: 1},
		{action: "continue", result: "CONTINUE", killed: 2},
		{action: "abandon", result: "ABANDON", killed: 2},
	} {
		t.Run(tc.action, func(t *testing.T) {
			t.Parallel()
			e := newCtrlEnv(t)
			e.build(fleet)
			ctrl := e.startController("--drain-timeout", "3s", "--drain-timeout-action", tc.action)
			e.waitReady(ctrl)
			ids := e.scaleIn("stuck-asg", 1)
			if len(ids) != 1 {
				t.Fatalf("scale-in put %v in Terminating:Wait, want one instance", ids)
			}
			e.waitTerminated(ids)
			e.waitCtrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"}, 1)

			st := e.stats()
			tl := e.timelines()[ids[0]]
			if tl.DrainingAt.IsZero() || tl.Completions != 1 || tl.TimedOut != 0 || tl.TasksKilled != tc.killed {
				t.Errorf("timeline %+v: want DRAINING, completed once, not timed out, %d tasks killed", tl, tc.killed)
			}
			if st.LifecycleActionsTimedOut != 0 {
				t.Errorf("%d lifecycle actions expired, want 0", st.LifecycleActionsTimedOut)
			}
			if got := st.TasksStoppedByReason[awssim.StopReasonHostTerminated]; got != tc.killed {
				t.Errorf("%d tasks killed by host termination, want %d", got, tc.killed)
			}
			cont, abandon := 1, 0
			if tc.result == "ABANDON" {
				cont, abandon = 0, 1
			}
			e.completions(st, cont, abandon)
			checkDrainTimeoutCounts(t, e, ctrl, st, tc.action, tc.result, tc.controllerStopsMin)
		})
	}
}

// checkDrainTimeoutCounts checks the controller counted one completion with result for the drain
// timeout and one timeout of action, stopped at least controllerStopsMin tasks itself (each
// counted once), and that the drain was really stalled until then.
func checkDrainTimeoutCounts(t *testing.T, e *ctrlEnv, ctrl *harness.Process, st awssim.Stats, action, result string, controllerStopsMin int) {
	t.Helper()
	// The metrics' label values are the snake_case forms of the AWS result and the flag's action.
	resultLabel, actionLabel := strings.ToLower(result), strings.ReplaceAll(action, "-", "_")
	if got := e.ctrlMetric(ctrl, "ecs_drainer_lifecycle_actions_completed_total", map[string]string{"result": resultLabel, "reason": "drain_timeout"}); got != 1 {
		t.Errorf("the controller counted %v %s completions for drain_timeout, want 1", got, result)
	}
	if got := e.ctrlMetric(ctrl, "ecs_drainer_drain_timeouts_total", map[string]string{"action": actionLabel}); got != 1 {
		t.Errorf("drain_timeouts_total{action=%s} = %v, want 1", actionLabel, got)
	}
	userStops := st.TasksStoppedByReason[awssim.StopReasonUser]
	ctrlStops := e.ctrlMetric(ctrl, "ecs_drainer_tasks_stopped_total", map[string]string{"policy": "drain_timeout"})
	if userStops < controllerStopsMin || int(ctrlStops) != userStops || userStops != ctrlCalls(st, "ecs", "StopTask") {
		t.Errorf("tasks stopped: %d by StopTask, %v counted by the controller, %d StopTask calls; want equal and at least %d",
			userStops, ctrlStops, ctrlCalls(st, "ecs", "StopTask"), controllerStopsMin)
	}
	// The stall was real: nothing moved off the instance by draining before the timeout,
	// except the daemon task once the controller had stopped the pinned one.
	if action != "stop-tasks" && st.TasksStoppedByReason[awssim.StopReasonDraining] != 0 {
		t.Errorf("%d tasks moved by draining: the drain was not stalled", st.TasksStoppedByReason[awssim.StopReasonDraining])
	}
	if action == "stop-tasks" {
		if got := userStops + st.TasksStoppedByReason[awssim.StopReasonDraining]; got != 2 {
			t.Errorf("%d tasks stopped by the controller or by draining, want both tasks of the instance", got)
		}
	}
}

// TestControllerInstanceNeverRegistered scales in a managed group whose instances never joined an
// ECS cluster (no ECS agent): the controller must find them in no cluster and complete their
// actions at once, changing nothing in ECS.
func TestControllerInstanceNeverRegistered(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t)
	// An ordinary cluster, so the controller has somewhere to look.
	e.build(demo.Fleet{Clusters: []demo.Cluster{{
		Name:     "main",
		ASGs:     []demo.ASG{{Name: "main-asg", Min: 1, Desired: 1, Max: 1, Managed: true, HookHeartbeatTimeout: 60 * time.Second}},
		Services: []demo.Service{{Name: "web", DesiredCount: 1}},
	}}})
	// A managed group without the simulator's cluster tag: its instances run no ECS agent.
	ctx := t.Context()
	_, err := e.as.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("no-ecs"),
		MinSize:              aws.Int32(0), MaxSize: aws.Int32(2), DesiredCapacity: aws.Int32(2),
		LaunchTemplate:    &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("plain"), Version: aws.String("$Latest")},
		AvailabilityZones: []string{"us-east-1a"},
		Tags: []astypes.Tag{{
			ResourceId: aws.String("no-ecs"), ResourceType: aws.String("auto-scaling-group"),
			Key: aws.String(demo.ManagedTagKey), Value: aws.String(demo.ManagedTagValue), PropagateAtLaunch: aws.Bool(true),
		}},
	})
	if err != nil {
		t.Fatalf("creating the group: %v", err)
	}
	e.putHook("no-ecs", demo.DefaultHookName, 60*time.Second)
	e.eventually("2 instances in service", func() (bool, string) {
		n := len(e.inState("no-ecs", astypes.LifecycleStateInService))
		return n == 2, fmt.Sprintf("%d in service", n)
	})

	ctrl := e.startController()
	e.waitReady(ctrl)
	before := e.stats()
	ids := e.scaleIn("no-ecs", 0)
	if len(ids) != 2 {
		t.Fatalf("scale-in put %v in Terminating:Wait, want two instances", ids)
	}
	e.waitTerminated(ids)
	e.waitCtrlMetric(ctrl, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"}, 2)
	st := e.stats()
	e.noHarm(st)
	e.completions(st, 2, 0)
	tls := e.timelines()
	for _, id := range ids {
		if tl := tls[id]; tl.Completions != 1 || !tl.DrainingAt.IsZero() || tl.TimedOut != 0 {
			t.Errorf("%s: %+v, want completed once without DRAINING", id, tl)
		}
	}
	if got := e.ctrlMetric(ctrl, "ecs_drainer_lifecycle_actions_completed_total", map[string]string{"result": "continue", "reason": "not_registered"}); got != 2 {
		t.Errorf("the controller counted %v not_registered completions, want 2", got)
	}
	d := ctrlByOp(ctrlDelta(before, st))
	for _, op := range []string{"ecs/UpdateContainerInstancesState", "ecs/TagResource", "ecs/StopTask", "ecs/ListTasks", "autoscaling/RecordLifecycleActionHeartbeat"} {
		if d[op] != 0 {
			t.Errorf("%d %s calls for instances in no cluster, want none", d[op], op)
		}
	}
	if got, want := st.WriteCalls-before.WriteCalls, 1+2; got != want {
		t.Errorf("%d successful writes, want %d: the scale-in and two completions", got, want)
	}
}

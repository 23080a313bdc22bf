package reconciler

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// terminate puts an instance of a group into termination (its hooks fire): id, or if "" the first
// InService one by ID. It returns the instance.
func (e *env) terminate(group, id string) string {
	e.t.Helper()
	if id == "" {
		ids := e.inState(group, "InService")
		if len(ids) == 0 {
			e.t.Fatalf("no InService instance in %s", group)
		}
		slices.Sort(ids)
		id = ids[0]
	}
	if _, err := e.as.TerminateInstanceInAutoScalingGroup(e.t.Context(), &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(true),
	}); err != nil {
		e.t.Fatalf("TerminateInstanceInAutoScalingGroup: %v", err)
	}
	return id
}

// ec2ID returns the EC2 instance of a container instance.
func (e *env) ec2ID(cluster, ciArn string) string {
	e.t.Helper()
	out, err := e.ecs.DescribeContainerInstances(e.t.Context(), &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: []string{ciArn}})
	if err != nil || len(out.ContainerInstances) != 1 {
		e.t.Fatalf("DescribeContainerInstances %s: %v", ciArn, err)
	}
	return aws.ToString(out.ContainerInstances[0].Ec2InstanceId)
}

// gone reports whether an instance has left its group.
func (e *env) gone(group, id string) bool {
	_, ok := e.instances(group)[id]
	return !ok
}

// TestHeartbeatsKeepLongDrainAlive drains an instance whose tasks take two minutes to stop under a
// hook with a 30 s heartbeat timeout: heartbeats every 15 s keep the action alive and the hook is
// completed when the tasks are STOPPED.
func TestHeartbeatsKeepLongDrainAlive(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	e.build(webFleet{instances: 2, slots: 4, heartbeat: 30, defaultResult: "ABANDON", family: "slow", tasks: 2, stopTimeout: 120, minPct: 0, maxPct: 200})

	c := e.start(testConfig())
	id := e.terminate("web", "")
	e.until("instance terminated", 5*time.Minute, time.Second, func() bool { return e.gone("web", id) })

	st := e.sim.Stats()
	if st.LifecycleActionsTimedOut != 0 || st.CompletionsByInstance[id] != 1 || st.TasksStoppedByReason[awssim.StopReasonHostTerminated] != 0 {
		t.Errorf("timed out %d, completions %v, tasks killed %d; want 0, one for %s, 0",
			st.LifecycleActionsTimedOut, st.CompletionsByInstance, st.TasksStoppedByReason[awssim.StopReasonHostTerminated], id)
	}
	hb := int(value(t, c.m.Heartbeats))
	if calls := c.calls(t, "autoscaling", "RecordLifecycleActionHeartbeat"); calls != hb {
		t.Errorf("heartbeats_total %d, RecordLifecycleActionHeartbeat calls %d; want equal", hb, calls)
	}
	// The tasks stop 120 s after DRAINING; one heartbeat per 15 s since the action started.
	if hb < 7 || hb > 9 {
		t.Errorf("%d heartbeats over a ~2 minute drain under a 30 s heartbeat timeout, want 7 to 9", hb)
	}
}

// TestStandaloneTaskPolicy: with "stop", a standalone task still running after the grace period
// is stopped and the drain completes; with "wait" it is left alone and the drain ends by timeout.
func TestStandaloneTaskPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy      string
		wantStopped float64
		wantReason  string
	}{
		{StandalonePolicyStop, 1, metrics.ReasonDrained},
		{StandalonePolicyWait, 0, metrics.ReasonDrainTimeout},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
			e.createCluster("c1")
			e.group("web", 2, "c1", 4, true)
			e.hook("web", hookName, 300, "ABANDON")
			e.advance(2*time.Second, 500*time.Millisecond)
			td := e.taskDef("app", 0)
			e.service("c1", "app", td, 2, 50, 200, "")
			e.until("service running", time.Minute, 500*time.Millisecond, func() bool { return e.runningTasks("c1") == 2 })
			job, ciArn := e.runTask("c1", td)
			id := e.ec2ID("c1", ciArn)
			e.advance(time.Second, 500*time.Millisecond)

			cfg := testConfig()
			cfg.StandaloneTaskPolicy = tc.policy
			cfg.StandaloneTaskGrace = 30 * time.Second
			cfg.DrainTimeout = 2 * time.Minute
			cfg.DrainTimeoutAction = DrainTimeoutContinue
			c := e.start(cfg)
			e.terminate("web", id)
			e.until("instance terminated", 4*time.Minute, time.Second, func() bool { return e.gone("web", id) })

			if got := value(t, c.m.TasksStopped.WithLabelValues(metrics.PolicyStandaloneGrace)); got != tc.wantStopped {
				t.Errorf("tasks_stopped_total{standalone_grace} = %v, want %v", got, tc.wantStopped)
			}
			if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(metrics.ResultContinue, tc.wantReason)); got != 1 {
				t.Errorf("lifecycle_actions_completed_total{CONTINUE,%s} = %v, want 1", tc.wantReason, got)
			}
			out, err := e.ecs.DescribeTasks(t.Context(), &ecs.DescribeTasksInput{Cluster: aws.String("c1"), Tasks: []string{job}})
			if err != nil || len(out.Tasks) != 1 {
				t.Fatalf("DescribeTasks: %v", err)
			}
			stoppedByUser := out.Tasks[0].StopCode == ecstypes.TaskStopCodeUserInitiated
			if stoppedByUser != (tc.policy == StandalonePolicyStop) {
				t.Errorf("standalone task stop code %q, policy %s", out.Tasks[0].StopCode, tc.policy)
			}
		})
	}
}

// TestDrainTimeoutOutcomes drains an instance whose service cannot move (minimum 100%, maximum
// 100%) and checks each configured way of ending the drain.
func TestDrainTimeoutOutcomes(t *testing.T) {
	for _, tc := range []struct {
		action          string
		result, outcome string
		wantKilled      bool
	}{
		{DrainTimeoutStopTasks, metrics.ResultContinue, metrics.OutcomeTimeoutStopTasks, false},
		{DrainTimeoutContinue, metrics.ResultContinue, metrics.OutcomeTimeoutContinue, true},
		{DrainTimeoutAbandon, metrics.ResultAbandon, metrics.OutcomeTimeoutAbandon, true},
	} {
		t.Run(tc.action, func(t *testing.T) {
			e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
			e.createCluster("c1")
			e.group("web", 2, "c1", 2, true)
			e.hook("web", hookName, 300, "CONTINUE")
			e.advance(2*time.Second, 500*time.Millisecond)
			e.service("c1", "stuck", e.taskDef("app", 0), 4, 100, 100, "")
			e.service("c1", "agent", e.taskDef("agent", 0), 0, 0, 100, ecstypes.SchedulingStrategyDaemon)
			e.until("services running", time.Minute, 500*time.Millisecond, func() bool { return e.runningTasks("c1") == 6 })

			cfg := testConfig()
			cfg.DrainTimeout = time.Minute
			cfg.DrainTimeoutAction = tc.action
			c := e.start(cfg)
			id := e.terminate("web", "")
			ci, _ := e.containerInstance("c1", id)
			e.until("instance terminated", 3*time.Minute, time.Second, func() bool { return e.gone("web", id) })

			if got := value(t, c.m.DrainTimeouts.WithLabelValues(timeoutActionLabel(tc.action))); got != 1 {
				t.Errorf("drain_timeouts_total{%s} = %v, want 1", tc.action, got)
			}
			if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(tc.result, metrics.ReasonDrainTimeout)); got != 1 {
				t.Errorf("lifecycle_actions_completed_total{%s,drain_timeout} = %v, want 1", tc.result, got)
			}
			if got := testutilHistogramCount(t, c, metrics.OutcomeTimeoutStopTasks) + testutilHistogramCount(t, c, metrics.OutcomeTimeoutContinue) + testutilHistogramCount(t, c, metrics.OutcomeTimeoutAbandon); got != 1 {
				t.Errorf("%d drain durations observed, want 1", got)
			}
			if got := testutilHistogramCount(t, c, tc.outcome); got != 1 {
				t.Errorf("drain_duration_seconds{outcome=%s} count %d, want 1", tc.outcome, got)
			}
			killed := e.sim.Stats().TasksStoppedByReason[awssim.StopReasonHostTerminated]
			if (killed > 0) != tc.wantKilled {
				t.Errorf("%d tasks killed by the termination; want some: %v", killed, tc.wantKilled)
			}
			if tc.action != DrainTimeoutStopTasks {
				return
			}
			// The controller stops the two service tasks; the daemon task is stopped last, by ECS
			// once the others are STOPPED or else by the controller.
			if got := value(t, c.m.TasksStopped.WithLabelValues(metrics.PolicyDrainTimeout)); got != 2 && got != 3 {
				t.Errorf("tasks_stopped_total{drain_timeout} = %v, want 2 or 3", got)
			}
			var lastService, daemonStopping time.Time
			for _, task := range e.tasksOn("c1", aws.ToString(ci.ContainerInstanceArn)) {
				if aws.ToString(task.Group) == "service:agent" {
					daemonStopping = aws.ToTime(task.StoppingAt)
				} else if s := aws.ToTime(task.StoppedAt); s.After(lastService) {
					lastService = s
				}
			}
			if daemonStopping.IsZero() || daemonStopping.Before(lastService) {
				t.Errorf("daemon task told to stop at %v, before the last service task stopped at %v", daemonStopping, lastService)
			}
		})
	}
}

// tasksOn describes every task that ran on a container instance.
func (e *env) tasksOn(cluster, ciArn string) []ecstypes.Task {
	e.t.Helper()
	var arns []string
	for _, st := range []ecstypes.DesiredStatus{ecstypes.DesiredStatusRunning, ecstypes.DesiredStatusStopped} {
		out, err := e.ecs.ListTasks(e.t.Context(), &ecs.ListTasksInput{Cluster: aws.String(cluster), ContainerInstance: aws.String(ciArn), DesiredStatus: st})
		if err != nil {
			e.t.Fatalf("ListTasks: %v", err)
		}
		arns = append(arns, out.TaskArns...)
	}
	if len(arns) == 0 {
		return nil
	}
	out, err := e.ecs.DescribeTasks(e.t.Context(), &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: arns})
	if err != nil {
		e.t.Fatalf("DescribeTasks: %v", err)
	}
	return out.Tasks
}

// testutilHistogramCount is the sample count of drain_duration_seconds{outcome}.
func testutilHistogramCount(t *testing.T, c *testController, outcome string) int {
	t.Helper()
	mfs, err := c.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "ecs_drainer_drain_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return int(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return 0
}

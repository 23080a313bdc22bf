package reconciler

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler/ecsview"
)

// drainTag returns the drain-started-at tag of an EC2 instance's container instance.
func (e *env) drainTag(cluster, ec2ID string) string {
	e.t.Helper()
	ci, ok := e.containerInstance(cluster, ec2ID)
	if !ok {
		return ""
	}
	for _, tag := range ci.Tags {
		if aws.ToString(tag.Key) == ecsview.DrainStartedTagKey {
			return aws.ToString(tag.Value)
		}
	}
	return ""
}

// draining reports whether an EC2 instance's container instance is DRAINING.
func (e *env) draining(cluster, ec2ID string) bool {
	e.t.Helper()
	ci, ok := e.containerInstance(cluster, ec2ID)
	return ok && aws.ToString(ci.Status) == "DRAINING"
}

// TestDrainStartTaggedOnlyWhenLong: the drain-started-at tag is written only once a drain is
// tagAfter old (here half the 60 s heartbeat timeout): a drain of seconds costs no TagResource
// call, a long one is tagged exactly once, with the time DRAINING was set.
func TestDrainStartTaggedOnlyWhenLong(t *testing.T) {
	for _, tc := range []struct {
		name           string
		minPct, maxPct int32 // the service's deployment limits: 100/100 cannot move, so never drains
		wantTags       int
	}{
		{name: "short drain", minPct: 50, maxPct: 200, wantTags: 0},
		{name: "long drain", minPct: 100, maxPct: 100, wantTags: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
			e.createCluster("c1")
			e.group("web", 2, "c1", 2, true)
			e.hook("web", hookName, 60, "ABANDON")
			e.advance(2*time.Second, 500*time.Millisecond)
			e.service("c1", "app", e.taskDef("app", 0), 4, tc.minPct, tc.maxPct, "")
			e.until("service running", time.Minute, 500*time.Millisecond, func() bool { return e.runningTasks("c1") == 4 })

			c := e.start(testConfig())
			id := e.terminate("web", "")
			e.until("drain started", 10*time.Second, 500*time.Millisecond, func() bool { return e.draining("c1", id) })
			drainingSeen := e.clock.Now()
			e.advance(3*time.Minute, time.Second)

			if got := c.calls(t, "ecs", "TagResource"); got != tc.wantTags {
				t.Errorf("%d TagResource calls, want %d", got, tc.wantTags)
			}
			if tc.wantTags == 0 {
				if !e.gone("web", id) {
					t.Errorf("instance %s not terminated: the short drain did not complete", id)
				}
				return
			}
			tag := e.drainTag("c1", id)
			started, err := time.Parse(time.RFC3339, tag)
			if err != nil {
				t.Fatalf("drain tag %q: %v", tag, err)
			}
			if d := drainingSeen.Sub(started); d < 0 || d > time.Second {
				t.Errorf("drain tag %v, want the time DRAINING was set (seen at %v)", started, drainingSeen)
			}
		})
	}
}

// TestRestartResumesDrain stops the controller in the middle of a drain that cannot finish and
// starts another: the new one resumes from the tag, heartbeats at once (the last heartbeat is
// unknown to it), and ends the drain at the drain timeout counted from the original start.
func TestRestartResumesDrain(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 2, slots: 2, heartbeat: 60, defaultResult: "ABANDON", service: "stuck", family: "app", tasks: 4, minPct: 100, maxPct: 100})

	cfg := testConfig()
	cfg.DrainTimeout = 90 * time.Second
	cfg.DrainTimeoutAction = DrainTimeoutContinue
	first := e.start(cfg)
	id := e.terminate("web", "")
	// The tag is written once the drain is tagAfter old (half the 60 s heartbeat timeout), and
	// holds the drain's start, not the time it was written.
	e.until("drain tagged", time.Minute, 500*time.Millisecond, func() bool { return e.drainTag("c1", id) != "" })
	tag := e.drainTag("c1", id)
	started, err := time.Parse(time.RFC3339, tag)
	if err != nil {
		t.Fatalf("drain tag %q: %v", tag, err)
	}
	if age := e.clock.Now().Sub(started); age < 30*time.Second || age > 33*time.Second {
		t.Errorf("drain tagged %v after the start it holds, want 30 s (tagAfter) give or take a poll", age)
	}
	e.advance(10*time.Second, time.Second)
	first.stop()
	e.advance(20*time.Second, time.Second) // nobody heartbeats: 60 s after the last one it would expire

	second := e.start(cfg)
	e.advance(time.Second, 100*time.Millisecond) // the lookup batch, then the first look
	if got := value(t, second.m.Heartbeats); got != 1 {
		t.Errorf("heartbeats at first sight after the restart = %v, want 1", got)
	}
	e.until("instance terminated", 2*time.Minute, time.Second, func() bool { return e.gone("web", id) })

	st := e.sim.Stats()
	if st.LifecycleActionsTimedOut != 0 || st.CompletionsByInstance[id] != 1 {
		t.Errorf("timed out %d, completions %v; want 0 and one for %s", st.LifecycleActionsTimedOut, st.CompletionsByInstance, id)
	}
	if got := second.calls(t, "ecs", "TagResource") + second.calls(t, "ecs", "UpdateContainerInstancesState"); got != 0 {
		t.Errorf("second controller re-tagged or re-drained (%d calls), want it to resume", got)
	}
	if got := value(t, second.m.DrainTimeouts.WithLabelValues(DrainTimeoutContinue)); got != 1 {
		t.Errorf("second controller's drain_timeouts_total = %v, want 1", got)
	}
	// The completion came at the drain timeout from the original start, within a poll or two.
	mfs, _ := second.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "ecs_drainer_drain_duration_seconds" {
			for _, m := range mf.GetMetric() {
				if m.GetHistogram().GetSampleCount() == 1 {
					if d := m.GetHistogram().GetSampleSum(); d < 90 || d > 93 {
						t.Errorf("drain lasted %vs from its start %s, want 90 to 93", d, started)
					}
				}
			}
		}
	}
}

// TestTwoReplicas runs two controllers at once: every instance is still drained and completed
// exactly once, no task is killed, and neither replica reports errors.
func TestTwoReplicas(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.createCluster("c1")
	e.group("a", 4, "c1", 4, true)
	e.group("b", 4, "c1", 4, true)
	e.hook("a", hookName, 300, "ABANDON")
	e.hook("b", hookName, 300, "ABANDON")
	e.advance(2*time.Second, 500*time.Millisecond)
	td := e.taskDef("app", 0)
	e.service("c1", "app", td, 12, 50, 200, "")
	e.until("service running", time.Minute, 500*time.Millisecond, func() bool { return e.runningTasks("c1") == 12 })
	for range 2 {
		e.runTask("c1", td) // standalone: stopped after the grace period
	}
	cfg := testConfig()
	cfg.StandaloneTaskGrace = 10 * time.Second
	r1 := e.start(cfg)
	r2 := e.start(cfg)
	e.setDesired("a", 2)
	e.setDesired("b", 2)
	e.until("scale-in done", 3*time.Minute, 500*time.Millisecond, func() bool {
		return len(e.instances("a")) == 2 && len(e.instances("b")) == 2
	})
	e.advance(5*time.Second, time.Second)

	st := e.sim.Stats()
	if len(st.CompletionsByInstance) != 4 {
		t.Errorf("completed %d instances, want 4: %v", len(st.CompletionsByInstance), st.CompletionsByInstance)
	}
	for id, n := range st.CompletionsByInstance {
		if n != 1 {
			t.Errorf("instance %s completed %d times, want 1", id, n)
		}
	}
	if killed := st.TasksStoppedByReason[awssim.StopReasonHostTerminated]; killed != 0 || st.LifecycleActionsTimedOut != 0 {
		t.Errorf("tasks killed %d, actions timed out %d; want 0, 0", killed, st.LifecycleActionsTimedOut)
	}
	for i, r := range []*testController{r1, r2} {
		if got := value(t, r.m.ReconcileTotal.WithLabelValues(metrics.ReconcileError)); got != 0 {
			t.Errorf("replica %d had %v reconcile errors, want 0", i, got)
		}
	}
	completed := value(t, r1.m.DrainsEnded.WithLabelValues(metrics.EndedCompleted)) + value(t, r2.m.DrainsEnded.WithLabelValues(metrics.EndedCompleted))
	if completed != 4 {
		t.Errorf("drains ended completed by the replicas together = %v, want 4", completed)
	}
	// Both replicas may stop the same standalone task (each read it RUNNING before the other's
	// stop); only the one whose stop took effect counts it. (Where the standalone tasks were placed
	// decides whether any is on a drained instance.)
	var counted float64
	for _, r := range []*testController{r1, r2} {
		for _, p := range []string{metrics.PolicyStandaloneGrace, metrics.PolicyDrainTimeout} {
			counted += value(t, r.m.TasksStopped.WithLabelValues(p))
		}
	}
	if users := st.TasksStoppedByReason[awssim.StopReasonUser]; int(counted) != users {
		t.Errorf("tasks_stopped_total of both replicas = %v, tasks stopped by StopTask %d; want equal", counted, users)
	}
	t.Logf("StopTask calls %d+%d, user stops %d", r1.calls(t, "ecs", "StopTask"), r2.calls(t, "ecs", "StopTask"), st.TasksStoppedByReason[awssim.StopReasonUser])
}

// TestScaleAPIBudget drains 60 instances of 4 groups in 2 clusters at once and checks the API
// budget per drained instance: at most 3 ECS calls and 6 writes, all polls included.
func TestScaleAPIBudget(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	const groups, size, keep = 4, 20, 5
	e.createCluster("c1")
	e.createCluster("c2")
	for g := range groups {
		e.group(fmt.Sprintf("g%d", g), size, fmt.Sprintf("c%d", 1+g%2), 4, true)
		e.hook(fmt.Sprintf("g%d", g), hookName, 300, "ABANDON")
	}
	e.advance(2*time.Second, 500*time.Millisecond)
	for _, cl := range []string{"c1", "c2"} {
		e.service(cl, "app", e.taskDef("app-"+cl, 0), 40, 50, 200, "")
	}
	e.until("services running", time.Minute, 500*time.Millisecond, func() bool {
		return e.runningTasks("c1") == 40 && e.runningTasks("c2") == 40
	})

	c := e.start(testConfig())
	for g := range groups {
		e.setDesired(fmt.Sprintf("g%d", g), keep)
	}
	drained := groups * (size - keep)
	e.until("scale-in done", 3*time.Minute, 500*time.Millisecond, func() bool {
		return len(e.sim.Stats().CompletionsByInstance) == drained
	})
	e.advance(5*time.Second, time.Second)

	st := e.sim.Stats()
	if killed := st.TasksStoppedByReason[awssim.StopReasonHostTerminated]; killed != 0 {
		t.Errorf("%d tasks killed by terminations, want 0", killed)
	}
	for id, n := range st.CompletionsByInstance {
		if n != 1 {
			t.Errorf("instance %s completed %d times, want 1", id, n)
		}
	}
	ecsCalls, writes := c.calls(t, "ecs", ""), c.writes(t)
	t.Logf("%d drains: %d ECS calls (%.2f each), %d writes (%.2f each), %d Auto Scaling calls",
		drained, ecsCalls, float64(ecsCalls)/float64(drained), writes, float64(writes)/float64(drained), c.calls(t, "autoscaling", ""))
	for _, op := range []string{"ListClusters", "ListContainerInstances", "DescribeContainerInstances", "UpdateContainerInstancesState", "TagResource", "ListTasks", "DescribeTasks", "StopTask"} {
		t.Logf("  %s: %d", op, c.calls(t, "ecs", op))
	}
	if ecsCalls > 2*drained {
		t.Errorf("%d ECS calls for %d drains, want at most 2 each", ecsCalls, drained)
	}
	if writes > 6*drained {
		t.Errorf("%d write calls for %d drains, want at most 6 each", writes, drained)
	}
}

// TestManageHooksCreatesMissingHook: with --manage-hooks a managed group without a terminating
// hook gets one (CONTINUE, the configured heartbeat timeout), once.
func TestManageHooksCreatesMissingHook(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	e.group("nohook", 1, "", 0, true)
	e.group("hooked", 1, "", 0, true)
	e.hook("hooked", "mine", 600, "ABANDON")
	e.advance(time.Second, time.Second)

	cfg := testConfig()
	cfg.ManageHooks = true
	cfg.HookHeartbeatTimeout = 120 * time.Second
	c := e.start(cfg)
	e.advance(10*time.Second, time.Second)

	for group, want := range map[string]string{"nohook": DefaultHookName + "/120/CONTINUE", "hooked": "mine/600/ABANDON"} {
		out, err := e.as.DescribeLifecycleHooks(t.Context(), &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(group)})
		if err != nil {
			t.Fatalf("DescribeLifecycleHooks: %v", err)
		}
		var got []string
		for _, h := range out.LifecycleHooks {
			got = append(got, fmt.Sprintf("%s/%d/%s", aws.ToString(h.LifecycleHookName), aws.ToInt32(h.HeartbeatTimeout), aws.ToString(h.DefaultResult)))
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("hooks of %s = %v, want [%s]", group, got, want)
		}
	}
	if got := c.calls(t, "autoscaling", "PutLifecycleHook"); got != 1 {
		t.Errorf("PutLifecycleHook calls = %d, want 1", got)
	}
	if got := c.calls(t, "autoscaling", "DescribeLifecycleHooks"); got != 2 {
		t.Errorf("DescribeLifecycleHooks calls = %d, want 2 (once per new group)", got)
	}
}

// TestDrainTimeoutCappedByGlobalTimeout: a drain timeout longer than the hook's global timeout
// allows is cut, so a stuck drain still ends the configured way before AWS would end it.
func TestDrainTimeoutCappedByGlobalTimeout(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.createCluster("c1")
	e.group("web", 2, "c1", 2, true)
	e.hook("web", hookName, 30, "ABANDON") // global timeout 3000 s
	e.advance(2*time.Second, 500*time.Millisecond)
	e.service("c1", "stuck", e.taskDef("app", 0), 4, 100, 100, "")
	e.until("service running", time.Minute, 500*time.Millisecond, func() bool { return e.runningTasks("c1") == 4 })

	cfg := testConfig()
	cfg.PollInterval = 10 * time.Second // steps of a poll stay well inside half the heartbeat timeout
	cfg.DrainTimeout = 2 * time.Hour
	cfg.DrainTimeoutAction = DrainTimeoutStopTasks
	c := e.start(cfg)
	id := e.terminate("web", "")
	e.until("drain tagged", time.Minute, 500*time.Millisecond, func() bool { return e.drainTag("c1", id) != "" })
	e.until("instance terminated", time.Hour, 10*time.Second, func() bool { return e.gone("web", id) })

	st := e.sim.Stats()
	if st.LifecycleActionsTimedOut != 0 || st.CompletionsByInstance[id] != 1 || st.TasksStoppedByReason[awssim.StopReasonHostTerminated] != 0 {
		t.Errorf("timed out %d, completions %v, tasks killed %d; want 0, one, 0",
			st.LifecycleActionsTimedOut, st.CompletionsByInstance, st.TasksStoppedByReason[awssim.StopReasonHostTerminated])
	}
	if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(metrics.ResultContinue, metrics.ReasonDrainTimeout)); got != 1 {
		t.Errorf("lifecycle_actions_completed_total{CONTINUE,drain_timeout} = %v, want 1", got)
	}
	// 3000 s global timeout less the margin (resync 2 s + 2 polls of 10 s + 300 s).
	if got, _ := drainTimeoutUnder(c.cfg, hookInfo{heartbeatTimeout: 30 * time.Second, globalTimeout: 3000 * time.Second}); got != 2678*time.Second {
		t.Errorf("effective drain timeout %v, want 2678s", got)
	}
	if d := testutilHistogramCount(t, c, metrics.OutcomeTimeoutStopTasks); d != 1 {
		t.Errorf("drain_duration_seconds{timeout_stop_tasks} count %d, want 1", d)
	}
}

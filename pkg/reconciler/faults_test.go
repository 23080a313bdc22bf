package reconciler

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler/ecsview"
)

// TestDrainTimeoutBeforeDraining: an instance whose container instance cannot be set DRAINING
// (IAM denies it) or cannot even be looked up still ends the configured way at the drain timeout,
// counted from first sight, and shows in the drain gauges meanwhile. With stop-tasks, which cannot
// finish on an instance that stays ACTIVE, the stop allowance ends it with CONTINUE.
func TestDrainTimeoutBeforeDraining(t *testing.T) {
	for _, tc := range []struct {
		name    string
		faults  faultSet
		action  string
		outcome string
		within  time.Duration // after the drain timeout
	}{
		{"draining denied/continue", faultSet{denyUpdate: true}, DrainTimeoutContinue, metrics.OutcomeTimeoutContinue, 10 * time.Second},
		{"draining denied/abandon", faultSet{denyUpdate: true}, DrainTimeoutAbandon, metrics.OutcomeTimeoutAbandon, 10 * time.Second},
		{"draining denied/stop-tasks", faultSet{denyUpdate: true}, DrainTimeoutStopTasks, metrics.OutcomeTimeoutStopTasks, timeoutStopAllowance + 10*time.Second},
		{"lookup denied/continue", faultSet{denyListCI: map[string]bool{"c1": true}}, DrainTimeoutContinue, metrics.OutcomeTimeoutContinue, 10 * time.Second},
		{"lookup denied/stop-tasks", faultSet{denyListCI: map[string]bool{"c1": true}}, DrainTimeoutStopTasks, metrics.OutcomeTimeoutStopTasks, timeoutStopAllowance + 10*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
			e.build(webFleet{instances: 2, slots: 4, heartbeat: 60, defaultResult: "ABANDON", tasks: 4, minPct: 50, maxPct: 200})

			cfg := testConfig()
			cfg.DrainTimeout = time.Minute
			cfg.DrainTimeoutAction = tc.action
			f := newFaults()
			f.Set(func(fs *faultSet) { *fs = tc.faults })
			c := e.startWith(cfg, f, nil)
			id := e.terminate("web", "")
			e.advance(30*time.Second, 5*time.Second)

			// First seen by the resync that falls in the first 5 s step after the termination.
			if got := value(t, c.m.DrainsInProgress); got != 1 {
				t.Errorf("drains_in_progress = %v while stuck, want 1", got)
			}
			if got := value(t, c.m.OldestDrainAgeSeconds); got < 25 || got > 30 {
				t.Errorf("oldest_drain_age_seconds = %v 30 s after the termination, want 25 to 30", got)
			}
			if got := value(t, c.m.DrainTimeouts.WithLabelValues(timeoutActionLabel(tc.action))); got != 0 {
				t.Errorf("drain_timeouts_total{%s} = %v before the timeout, want 0", tc.action, got)
			}
			e.advance(30*time.Second+tc.within, 5*time.Second)

			if !e.gone("web", id) {
				t.Fatalf("instance still in its group %v after the drain timeout", tc.within)
			}
			st := e.sim.Stats()
			if st.LifecycleActionsTimedOut != 0 || st.CompletionsByInstance[id] != 1 {
				t.Errorf("timed out %d, completions %v; want 0 and one for %s", st.LifecycleActionsTimedOut, st.CompletionsByInstance, id)
			}
			if got := value(t, c.m.DrainTimeouts.WithLabelValues(timeoutActionLabel(tc.action))); got != 1 {
				t.Errorf("drain_timeouts_total{%s} = %v, want 1", tc.action, got)
			}
			if got := testutilHistogramCount(t, c, tc.outcome); got != 1 {
				t.Errorf("drain_duration_seconds{outcome=%s} count %d, want 1", tc.outcome, got)
			}
			if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(metrics.ResultContinue, metrics.ReasonNotRegistered)); got != 0 {
				t.Errorf("lifecycle_actions_completed_total{CONTINUE,not_registered} = %v, want 0", got)
			}
			if got := value(t, c.m.DrainsInProgress); got != 0 {
				t.Errorf("drains_in_progress = %v after the end, want 0", got)
			}
		})
	}
}

// TestDeniedClusterIsNotUnregistered: an instance whose cluster the controller may not search is
// not completed as "not registered" with its tasks running; it waits (heartbeats continue) and is
// drained normally once the lookup is allowed.
func TestDeniedClusterIsNotUnregistered(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 2, slots: 4, heartbeat: 60, defaultResult: "ABANDON", tasks: 4, minPct: 50, maxPct: 200})

	f := newFaults()
	f.Set(func(fs *faultSet) { fs.denyListCI = map[string]bool{"c1": true} })
	c := e.startWith(testConfig(), f, nil)
	id := e.terminate("web", "")
	e.advance(90*time.Second, 5*time.Second)

	if e.gone("web", id) {
		t.Fatal("instance completed while its cluster could not be searched")
	}
	if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(metrics.ResultContinue, metrics.ReasonNotRegistered)); got != 0 {
		t.Errorf("lifecycle_actions_completed_total{CONTINUE,not_registered} = %v, want 0", got)
	}
	if got := value(t, c.m.Heartbeats); got < 2 {
		t.Errorf("heartbeats_total = %v after 90 s under a 60 s heartbeat timeout, want at least 2", got)
	}
	if got := value(t, c.m.DrainsInProgress); got != 1 {
		t.Errorf("drains_in_progress = %v, want 1", got)
	}

	f.Set(func(fs *faultSet) { fs.denyListCI = nil })
	e.until("instance terminated", time.Minute, time.Second, func() bool { return e.gone("web", id) })
	st := e.sim.Stats()
	if n := st.TasksStoppedByReason[awssim.StopReasonHostTerminated]; n != 0 || st.LifecycleActionsTimedOut != 0 {
		t.Errorf("%d tasks killed by the termination, %d actions timed out; want 0, 0", n, st.LifecycleActionsTimedOut)
	}
	if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(metrics.ResultContinue, metrics.ReasonDrained)); got != 1 {
		t.Errorf("lifecycle_actions_completed_total{CONTINUE,drained} = %v, want 1", got)
	}
}

// TestDaemonStopsAfterTasksECSIsStopping: at a stop-tasks drain timeout, service tasks ECS's own
// drain told to stop (desired STOPPED, still stopping) hold the daemon task back as much as tasks
// the controller stopped itself: the daemon is told to stop only after they are STOPPED.
func TestDaemonStopsAfterTasksECSIsStopping(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	e.createCluster("c1")
	e.group("web", 2, "c1", 2, true)
	e.hook("web", hookName, 300, "CONTINUE")
	e.advance(2*time.Second, 500*time.Millisecond)
	e.service("c1", "slow", e.taskDef("slow", 120), 2, 50, 200, "")
	e.service("c1", "agent", e.taskDef("agent", 0), 0, 0, 100, ecstypes.SchedulingStrategyDaemon)
	e.until("services running", time.Minute, 500*time.Millisecond, func() bool { return e.runningTasks("c1") == 4 })

	cfg := testConfig()
	cfg.DrainTimeout = 30 * time.Second
	c := e.start(cfg)
	id := e.terminate("web", "")
	ci, _ := e.containerInstance("c1", id)
	e.until("instance terminated", 5*time.Minute, time.Second, func() bool { return e.gone("web", id) })

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
	st := e.sim.Stats()
	if n := st.TasksStoppedByReason[awssim.StopReasonHostTerminated]; n != 0 || st.TerminatedWithTasks != 0 {
		t.Errorf("%d tasks killed, %d instances terminated with tasks; want 0, 0", n, st.TerminatedWithTasks)
	}
	if got := value(t, c.m.TasksStopped.WithLabelValues(metrics.PolicyDrainTimeout)); int(got) != st.TasksStoppedByReason[awssim.StopReasonUser] {
		t.Errorf("tasks_stopped_total{drain_timeout} = %v, tasks stopped by StopTask %d; want equal", got, st.TasksStoppedByReason[awssim.StopReasonUser])
	}
}

// TestShortHeartbeatHookShortensResync: a user's hook with the minimum heartbeat timeout (30 s)
// under the default 60 s resync period, and an instance terminated right after the controller
// starts. The controller learns the hook at its first resync (with a resync period this long it
// describes every group's hooks, before any instance waits), warns, and resyncs every half
// heartbeat timeout, so the action never expires.
func TestShortHeartbeatHookShortensResync(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.createCluster("c1")
	e.group("web", 3, "c1", 4, true)
	e.hook("web", hookName, 30, "ABANDON")
	e.group("other", 1, "c1", 4, true)
	e.hook("other", hookName, 3600, "ABANDON")
	e.advance(2*time.Second, 500*time.Millisecond)
	e.service("c1", "app", e.taskDef("app", 0), 4, 50, 200, "")
	e.until("service running", time.Minute, 500*time.Millisecond, func() bool { return e.runningTasks("c1") == 4 })

	cfg := testConfig()
	cfg.ResyncPeriod = 60 * time.Second // slower than the default
	cfg.PollInterval = 15 * time.Second // the default
	c := e.start(cfg)
	e.advance(time.Second, time.Second)
	for i := range 2 {
		id := e.terminate("web", "")
		e.until("instance terminated", 3*time.Minute, time.Second, func() bool { return e.gone("web", id) })
		st := e.sim.Stats()
		if st.LifecycleActionsTimedOut != 0 || st.CompletionsByInstance[id] != 1 || st.TasksStoppedByReason[awssim.StopReasonHostTerminated] != 0 {
			t.Errorf("instance %d: actions timed out %d, completions %d, tasks killed %d; want 0, 1, 0",
				i, st.LifecycleActionsTimedOut, st.CompletionsByInstance[id], st.TasksStoppedByReason[awssim.StopReasonHostTerminated])
		}
	}
	c.mu.Lock()
	warned, next := c.warned["resync-vs-heartbeat/web/"+hookName], c.resyncAfter(nil)
	c.mu.Unlock()
	if !warned {
		t.Error("no warning that the resync period is too long for the hook")
	}
	if next != 15*time.Second {
		t.Errorf("resync every %v with a 30 s hook known, want 15s", next)
	}
	// Each group's hooks are described once up front; web's are confirmed again by every resync
	// that lists an instance waiting on it (at least once per scale-in), never more.
	hooks, listings := c.calls(t, "autoscaling", "DescribeLifecycleHooks"), c.calls(t, "autoscaling", "DescribeAutoScalingGroups")
	if hooks < 2+2 || hooks > 2+listings {
		t.Errorf("DescribeLifecycleHooks calls = %d, want from 4 to 2 + %d listings", hooks, listings)
	}
}

// TestErrorRetryKeepsHeartbeats: while every read of the container instance fails, the instance's
// reconcile fails and backs off, but comes back in time for each heartbeat, so the action does not
// expire; once ECS answers again the drain completes.
func TestErrorRetryKeepsHeartbeats(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 2, slots: 4, heartbeat: 60, defaultResult: "ABANDON", tasks: 4, minPct: 50, maxPct: 200})

	f := newFaults()
	cfg := testConfig()
	cfg.ResyncPeriod = time.Minute // a resync enqueues every watched instance: not before it's due
	c := e.startWith(cfg, f, nil)
	id := e.terminate("web", "")
	e.until("drain started", 2*time.Minute, 500*time.Millisecond, func() bool { return e.draining("c1", id) })
	f.Set(func(fs *faultSet) { fs.failDescribeCI = true })
	before := value(t, c.m.Heartbeats)
	e.advance(5*time.Minute, 5*time.Second)

	if e.sim.Stats().LifecycleActionsTimedOut != 0 || e.gone("web", id) {
		t.Fatalf("action expired (or instance gone) while ECS failed: timed out %d", e.sim.Stats().LifecycleActionsTimedOut)
	}
	// One heartbeat per half heartbeat timeout: 10 in 5 minutes, give or take one.
	if got := value(t, c.m.Heartbeats) - before; got < 9 {
		t.Errorf("%v heartbeats in 5 minutes of failing reads under a 60 s heartbeat timeout, want at least 9", got)
	}
	f.Set(func(fs *faultSet) { fs.failDescribeCI = false })
	e.until("instance terminated", 2*time.Minute, time.Second, func() bool { return e.gone("web", id) })
	if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(metrics.ResultContinue, metrics.ReasonDrained)); got != 1 {
		t.Errorf("lifecycle_actions_completed_total{CONTINUE,drained} = %v, want 1", got)
	}
}

// TestLeftOutOfAnswerIsNotGone: a describe answer that leaves a container instance or a task out
// without a MISSING failure is an error to retry, not "deregistered" or "STOPPED": the instance is
// not completed while its tasks are still stopping.
func TestLeftOutOfAnswerIsNotGone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults faultSet
	}{
		{"container instances", faultSet{omitCIs: true}},
		{"tasks", faultSet{omitTasks: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, awssim.Options{})
			e.build(webFleet{instances: 2, slots: 4, heartbeat: 300, defaultResult: "ABANDON", service: "slow", tasks: 2, stopTimeout: 120, minPct: 0, maxPct: 200})

			f := newFaults()
			f.Set(func(fs *faultSet) { *fs = tc.faults })
			c := e.startWith(testConfig(), f, nil)
			id := e.terminate("web", "")
			e.advance(60*time.Second, 5*time.Second)
			if e.gone("web", id) {
				t.Fatal("instance completed while the answers left things out")
			}
			f.Set(func(fs *faultSet) { *fs = faultSet{} })
			e.until("instance terminated", 5*time.Minute, time.Second, func() bool { return e.gone("web", id) })

			st := e.sim.Stats()
			if n := st.TasksStoppedByReason[awssim.StopReasonHostTerminated]; n != 0 || st.TerminatedWithTasks != 0 {
				t.Errorf("%d tasks killed, %d instances terminated with tasks; want 0, 0", n, st.TerminatedWithTasks)
			}
			if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(metrics.ResultContinue, metrics.ReasonDrained)); got != 1 {
				t.Errorf("lifecycle_actions_completed_total{CONTINUE,drained} = %v, want 1", got)
			}
		})
	}
}

// TestTaskCheckAsksAgain: when the answer to the describe of the stopping tasks is lost (the call
// failed, or the answer was pruned before the instance came back), the check asks again a poll
// later instead of waiting for it forever; a listing is asked for as soon as it is neither pending
// nor answered since the first request, and not while it is pending however long that takes.
func TestTaskCheckAsksAgain(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	c, _, _ := e.newController(testConfig(), nil, nil)
	now := e.clock.Now()
	c.batchWindow = 0 // a batch filed is queued at once, where the test sees it
	inst := &instance{id: "i-1", drainRecord: drainRecord{reg: ecsview.Registration{State: ecsview.Found, Cluster: "c1", ARN: "ci-1"}}}
	describe := ecsview.Batch{Kind: ecsview.BatchTasks, Cluster: "c1"}
	list := ecsview.Batch{Kind: ecsview.BatchList, Cluster: "c1", ContainerInstance: "ci-1"}
	for _, tc := range []struct {
		name  string
		check taskCheck
		want  ecsview.Batch // the batch asked again; zero: none
	}{
		{"describe due within the batch window", taskCheck{listed: true, pending: []string{"task-1"}, requestedAt: now.Add(-c.cfg.PollInterval / 2)}, ecsview.Batch{}},
		{"describe lost", taskCheck{listed: true, pending: []string{"task-1"}, requestedAt: now.Add(-c.cfg.PollInterval)}, describe},
		{"listing pending", taskCheck{listRequestedAt: now.Add(-10 * c.cfg.PollInterval)}, ecsview.Batch{}},
		{"listing lost", taskCheck{listRequestedAt: now.Add(-c.cfg.PollInterval)}, list},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst.prog.check = tc.check
			if tc.name == "listing pending" {
				// Filed long ago, still queued or in flight (a failing call retried with backoff).
				c.view.RequestTaskList("c1", "ci-1", inst.id)
				it, _ := c.lists.Get()
				defer func() { c.lists.Done(it); c.view.Release(inst.id, inst.reg, nil) }()
			}
			drained, _, err := c.checkDrained(t.Context(), inst, ecsview.ContainerInstance{FetchedAt: now}, now)
			if err != nil || drained {
				t.Fatalf("checkDrained = %v, %v; want not drained, no error", drained, err)
			}
			var asked []ecsview.Batch
			for _, q := range []*itemQueue{c.batches, c.lists} {
				for q.Len() > 0 {
					it, _ := q.Get()
					asked = append(asked, it.batch)
					q.Done(it)
				}
			}
			again := tc.want != ecsview.Batch{}
			if again != (len(asked) == 1) || (again && asked[0] != tc.want) {
				t.Errorf("asked %v, want %v", asked, tc.want)
			}
			if tc.check.listed && inst.prog.check.requestedAt.Equal(now) != again {
				t.Errorf("describe requested at %v, want now %v", inst.prog.check.requestedAt, again)
			}
			if !tc.check.listed && !inst.prog.check.listRequestedAt.Equal(tc.check.listRequestedAt) {
				// A listing filed again keeps the first request as the bound its answer must meet.
				t.Errorf("listing first requested at %v, want %v kept", inst.prog.check.listRequestedAt, tc.check.listRequestedAt)
			}
		})
	}
}

// TestDrainGaugesDuringAutoScalingOutage: the age of a stuck drain keeps growing on the metrics
// while the Auto Scaling API is down (no resync succeeds).
func TestDrainGaugesDuringAutoScalingOutage(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 2, slots: 2, heartbeat: 300, defaultResult: "ABANDON", service: "stuck", family: "app", tasks: 4, minPct: 100, maxPct: 100})

	f := newFaults()
	c := e.startWith(testConfig(), f, nil)
	id := e.terminate("web", "")
	e.until("drain started", 10*time.Second, 500*time.Millisecond, func() bool { return e.draining("c1", id) })
	f.Set(func(fs *faultSet) { fs.failListGroups = true })
	e.advance(5*time.Second, time.Second)
	before := value(t, c.m.OldestDrainAgeSeconds)
	e.advance(time.Minute, 5*time.Second)
	if got := value(t, c.m.OldestDrainAgeSeconds) - before; got != 60 {
		t.Errorf("oldest_drain_age_seconds grew by %v over a minute of Auto Scaling outage, want 60", got)
	}
	if got := value(t, c.m.DrainsInProgress); got != 1 {
		t.Errorf("drains_in_progress = %v, want 1", got)
	}
}

// TestManageHooksUnfixableHookCached: with --manage-hooks, a group whose hook problem creating a
// hook cannot fix (the named hook is a launching hook) is described once per hook cache period,
// not at every resync.
func TestManageHooksUnfixableHookCached(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	e.group("odd", 1, "", 0, true)
	if _, err := e.as.PutLifecycleHook(t.Context(), launchingHook("odd", hookName)); err != nil {
		t.Fatalf("PutLifecycleHook: %v", err)
	}
	e.advance(time.Second, time.Second)

	cfg := testConfig()
	cfg.ManageHooks = true
	cfg.HookName = hookName
	c := e.start(cfg)
	e.advance(20*time.Second, time.Second) // ten resyncs
	if got := c.calls(t, "autoscaling", "DescribeLifecycleHooks"); got != 1 {
		t.Errorf("DescribeLifecycleHooks calls = %d over ten resyncs, want 1", got)
	}
	if got := c.calls(t, "autoscaling", "PutLifecycleHook"); got != 0 {
		t.Errorf("PutLifecycleHook calls = %d, want 0 (a launching hook of that name exists)", got)
	}
	e.advance(hookCacheTTL, 30*time.Second)
	if got := c.calls(t, "autoscaling", "DescribeLifecycleHooks"); got != 2 {
		t.Errorf("DescribeLifecycleHooks calls = %d after the cache period, want 2", got)
	}
}

// launchingHook is a launching lifecycle hook on a group.
func launchingHook(group, name string) *autoscaling.PutLifecycleHookInput {
	return &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String(group),
		LifecycleHookName:    aws.String(name),
		LifecycleTransition:  aws.String("autoscaling:EC2_INSTANCE_LAUNCHING"),
		HeartbeatTimeout:     aws.Int32(300),
	}
}

// losingTransport passes requests on and, for the first lose requests of an Auto Scaling action,
// drops the response after the server has acted on it, as a connection reset would.
type losingTransport struct {
	next   http.RoundTripper
	action string
	mu     sync.Mutex
	lose   int
}

func (l *losingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := l.next.RoundTrip(req)
	if err != nil || !strings.Contains(string(body), "Action="+l.action+"&") {
		return resp, err
	}
	l.mu.Lock()
	lose := l.lose > 0
	if lose {
		l.lose--
	}
	l.mu.Unlock()
	if !lose {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return nil, errors.New("read: connection reset by peer")
}

// TestLostCompletionResponse: CompleteLifecycleAction goes through but its response is lost; the
// SDK's retry gets "No active Lifecycle Action". That is this controller's completion, counted
// as such, not an action that ended some other way.
func TestLostCompletionResponse(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 2, slots: 4, heartbeat: 300, defaultResult: "ABANDON", tasks: 4, minPct: 50, maxPct: 200})

	lt := &losingTransport{next: http.DefaultTransport, action: "CompleteLifecycleAction", lose: 1}
	c := e.startWith(testConfig(), nil, &http.Client{Transport: lt})
	id := e.terminate("web", "")
	e.until("instance terminated", 2*time.Minute, 500*time.Millisecond, func() bool { return e.gone("web", id) })
	e.advance(5*time.Second, time.Second)

	if got := c.calls(t, "autoscaling", "CompleteLifecycleAction"); got != 2 {
		t.Errorf("CompleteLifecycleAction attempts = %d, want 2 (the lost one and the retry)", got)
	}
	if st := e.sim.Stats(); st.CompletionsByInstance[id] != 1 {
		t.Errorf("completions %v, want one for %s", st.CompletionsByInstance, id)
	}
	if got := value(t, c.m.LifecycleActionsCompleted.WithLabelValues(metrics.ResultContinue, metrics.ReasonDrained)); got != 1 {
		t.Errorf("lifecycle_actions_completed_total{CONTINUE,drained} = %v, want 1", got)
	}
	if got := value(t, c.m.DrainsEnded.WithLabelValues(metrics.EndedCompleted)); got != 1 {
		t.Errorf("drains_ended_total{completed} = %v, want 1", got)
	}
}

// TestShutdownCutsReconcileAfterGrace: a reconcile in hand when shutdown starts may finish, but
// its AWS calls are cancelled shutdownGrace later, so the process exits within ECS's stopTimeout.
// The call held is an Auto Scaling one: every ECS call has its own shorter bound (ecsCallTimeout).
func TestShutdownCutsReconcileAfterGrace(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	e.createCluster("c1")
	e.group("web", 2, "c1", 2, true)
	e.hook("web", hookName, 300, "ABANDON")
	e.advance(2*time.Second, 500*time.Millisecond)

	f := newFaults()
	c := e.startWith(testConfig(), f, nil)
	f.Set(func(fs *faultSet) { fs.hangListGroups = true })
	// The next resync hangs in DescribeAutoScalingGroups.
	deadline := time.Now().Add(10 * time.Second)
	for f.get().listGroupsHung == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no resync called DescribeAutoScalingGroups")
		}
		e.clock.Step(100 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}

	c.cancel()
	var stepped time.Duration
	for done := false; !done; {
		select {
		case <-c.done:
			done = true
		case <-time.After(5 * time.Millisecond):
			if stepped > 2*shutdownGrace {
				t.Fatalf("Run still running %v of fake time after shutdown began", stepped)
			}
			e.clock.Step(time.Second)
			stepped += time.Second
		}
	}
	if stepped < shutdownGrace {
		t.Errorf("the reconcile in hand was cut %v after shutdown began, want no earlier than %v", stepped, shutdownGrace)
	}
}

// TestHeartbeatSchedule: the heartbeat worker looks at an instance again when its next heartbeat
// falls due, whatever its reconcile is doing (here failing, which the error backoff handles), and
// not at all once the global timeout would come first.
func TestHeartbeatSchedule(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	f := newFaults()
	f.Set(func(fs *faultSet) { fs.failDescribeCI = true })
	c, _, _ := e.newController(testConfig(), f, nil)
	now := e.clock.Now()
	for _, tc := range []struct {
		name          string
		heartbeat     time.Duration // hook heartbeat timeout
		lastHeartbeat time.Duration // ago
		firstSeen     time.Duration // ago
		want          time.Duration
	}{
		{"heartbeat due in 20 s", time.Minute, 10 * time.Second, 10 * time.Second, 20 * time.Second},
		{"heartbeat due in 1 s", time.Minute, 29 * time.Second, 29 * time.Second, time.Second},
		{"long hook", time.Hour, time.Minute, time.Minute, 29 * time.Minute},
		{"global timeout first", time.Minute, 10 * time.Second, 100*time.Minute - 15*time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hook := hookInfo{name: hookName, heartbeatTimeout: tc.heartbeat, globalTimeout: globalTimeout(tc.heartbeat, 0)}
			c.mu.Lock()
			c.instances["i-1"] = &instance{id: "i-1", hb: heartbeatState{last: now.Add(-tc.lastHeartbeat)}, watchState: watchState{asg: "web", hook: hook, firstSeen: now.Add(-tc.firstSeen)}, drainRecord: drainRecord{reg: ecsview.Registration{State: ecsview.Found, Cluster: "c1", ARN: "ci-1"}}}
			c.mu.Unlock()
			if _, err := c.reconcileInstance(t.Context(), "i-1"); err == nil && tc.want > 0 {
				t.Fatal("reconcile succeeded while DescribeContainerInstances fails")
			}
			if got := c.heartbeatStep(t.Context(), "i-1"); got != tc.want {
				t.Errorf("next heartbeat looked at after %v, want %v", got, tc.want)
			}
		})
	}
}

// TestStopTaskCountedOnce: two replicas stop the same task (both read it RUNNING first); both
// calls are harmless, but only the stop that took effect is counted.
func TestStopTaskCountedOnce(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	e.createCluster("c1")
	e.group("web", 1, "c1", 2, true)
	e.advance(2*time.Second, 500*time.Millisecond)
	taskArn, ciArn := e.runTask("c1", e.taskDef("job", 0))
	e.advance(time.Second, 500*time.Millisecond)

	inst := &instance{id: "i-1", drainRecord: drainRecord{reg: ecsview.Registration{State: ecsview.Found, Cluster: "c1", ARN: ciArn}}}
	task := ecsview.Task{ARN: taskArn, LastStatus: "RUNNING", DesiredStatus: ecstypes.DesiredStatusRunning}
	var counted []float64
	for range 2 {
		c, _, m := e.newController(testConfig(), nil, nil)
		if err := c.stopTask(t.Context(), inst, task, metrics.PolicyDrainTimeout, "drain timeout"); err != nil {
			t.Fatalf("stopTask: %v", err)
		}
		counted = append(counted, value(t, m.TasksStopped.WithLabelValues(metrics.PolicyDrainTimeout)))
	}
	if counted[0] != 1 || counted[1] != 0 {
		t.Errorf("tasks_stopped_total of the two replicas = %v, want [1 0]", counted)
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	dto "github.com/prometheus/client_model/go"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// Limits of the polls in these tests. They bound how long a test waits for an outcome before it
// fails; they are generous because two cores run many scenarios at once, and no test asserts how
// long anything took.
const (
	ctrlWaitLimit = 3 * time.Minute
	ctrlPollEvery = 100 * time.Millisecond
	// ctrlBuildLimit bounds building a fleet through the SDK.
	ctrlBuildLimit = 60 * time.Second
	// ctrlOutputTail is how much of each process's output a failing test prints.
	ctrlOutputTail = 48 << 10
)

// ctrlSimFlags make the simulated work take fractions of a second: a demo task's 5 s stopTimeout
// becomes 1 s, so a drain takes a few seconds.
var ctrlSimFlags = []string{
	"--stop-timeout-scale", "0.2",
	"--launch-delay", "50ms",
	"--register-delay", "100ms",
	"--task-start-delay", "100ms",
	"--terminate-delay", "100ms",
	"--seed", "7",
}

// ctrlFlags are the controller's quick loops for tests: a resync every 2 s and a look at
// each drain every second.
var ctrlFlags = []string{"--resync-period", "2s", "--poll-interval", "1s", "--log-format", "json"}

// env is one scenario's world: an awssim process, SDK clients for it, and the controllers started
// against it. Every scenario has its own, so scenarios run in parallel without sharing counters.
type ctrlEnv struct {
	t       *testing.T
	sim     *harness.Process
	url     string
	as      *autoscaling.Client
	ec      *ecs.Client
	ctrlBin string

	mu    sync.Mutex
	ctrls []*harness.Process // every controller process started, killed ones included
}

// newCtrlEnv starts awssim with flags (after ctrlSimFlags, so they win) and registers the clean-up:
// processes are stopped, and if the test failed their output is printed.
func newCtrlEnv(t *testing.T, simFlags ...string) *ctrlEnv {
	t.Helper()
	simBin, ctrlBin, err := harness.Binaries()
	if err != nil {
		t.Fatalf("building the binaries: %v", err)
	}
	sim, err := harness.StartSim(simBin, append(slices.Clone(ctrlSimFlags), simFlags...)...)
	if err != nil {
		t.Fatalf("starting awssim: %v", err)
	}
	e := &ctrlEnv{t: t, sim: sim, url: "http://" + sim.Addr, ctrlBin: ctrlBin}
	e.as, e.ec = harness.Clients(e.url)
	t.Cleanup(func() {
		e.mu.Lock()
		ctrls := slices.Clone(e.ctrls)
		e.mu.Unlock()
		for _, p := range ctrls {
			if !p.Exited() {
				if err := p.Stop(10 * time.Second); err != nil {
					t.Errorf("stopping %s (pid %d): %v", p.Name, p.PID(), err)
				}
			}
		}
		if t.Failed() {
			for i, p := range ctrls {
				t.Logf("--- output of controller #%d (pid %d) ---\n%s", i, p.PID(), ctrlTail(p.Output()))
			}
			t.Logf("--- output of awssim ---\n%s", ctrlTail(sim.Output()))
		}
		sim.Kill()
	})
	return e
}

func ctrlTail(s string) string {
	if len(s) <= ctrlOutputTail {
		return s
	}
	return "[...]\n" + s[len(s)-ctrlOutputTail:]
}

// startController runs ecs-drainer against the simulator with ctrlFlags and extra flags.
func (e *ctrlEnv) startController(flags ...string) *harness.Process {
	e.t.Helper()
	p, err := harness.StartController(e.ctrlBin, e.url, append(slices.Clone(ctrlFlags), flags...)...)
	if err != nil {
		e.t.Fatalf("starting ecs-drainer: %v", err)
	}
	e.mu.Lock()
	e.ctrls = append(e.ctrls, p)
	e.mu.Unlock()
	return p
}

// waitReady waits until the controller's first resync has succeeded (/readyz answers 200).
func (e *ctrlEnv) waitReady(p *harness.Process) {
	e.t.Helper()
	e.eventually("controller ready", func() (bool, string) {
		resp, err := http.Get("http://" + p.Addr + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, "/readyz " + resp.Status
	})
}

// eventually fails the test if cond does not hold within ctrlWaitLimit.
func (e *ctrlEnv) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	if err := harness.Eventually(ctrlWaitLimit, ctrlPollEvery, cond); err != nil {
		e.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// build creates the fleet through the SDK and waits until it has settled: every instance
// registered, every task the fleet describes RUNNING, none pending.
func (e *ctrlEnv) build(f demo.Fleet) {
	e.t.Helper()
	e.buildWithRunning(f, ctrlFleetTasks(f))
}

// buildWithRunning is build for a fleet added to one already built: want is every task that
// should then be RUNNING in the simulator, the earlier fleets' included.
func (e *ctrlEnv) buildWithRunning(f demo.Fleet, want int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), ctrlBuildLimit)
	defer cancel()
	if err := demo.Build(ctx, e.as, e.ec, f); err != nil {
		e.t.Fatalf("building the fleet: %v", err)
	}
	if err := demo.WaitRegistered(ctx, e.ec, f); err != nil {
		e.t.Fatalf("waiting for the fleet to register: %v", err)
	}
	e.eventually(fmt.Sprintf("%d tasks RUNNING", want), func() (bool, string) {
		mfs := e.simMetrics()
		running := harness.Sum(mfs, "awssim_tasks", map[string]string{"last_status": "RUNNING"})
		pending := harness.Sum(mfs, "awssim_tasks", map[string]string{"last_status": "PENDING"})
		return int(running) == want && pending == 0, fmt.Sprintf("%v running, %v pending", running, pending)
	})
}

// ctrlFleetTasks is how many tasks run on a settled fleet: replica services' desired counts, one task
// per instance and daemon service, and the standalone tasks.
func ctrlFleetTasks(f demo.Fleet) int {
	n := 0
	for _, c := range f.Clusters {
		instances := 0
		for _, g := range c.ASGs {
			instances += g.Desired
		}
		for _, s := range c.Services {
			if s.Daemon {
				n += instances
			} else {
				n += s.DesiredCount
			}
		}
		n += c.StandaloneTasks
	}
	return n
}

// simMetrics scrapes awssim's /metrics.
func (e *ctrlEnv) simMetrics() map[string]*dto.MetricFamily {
	e.t.Helper()
	mfs, err := harness.Metrics(e.sim.Addr)
	if err != nil {
		e.t.Fatalf("scraping awssim: %v", err)
	}
	return mfs
}

// ctrlMetric reads one sum from a controller's /metrics.
func (e *ctrlEnv) ctrlMetric(p *harness.Process, name string, labels map[string]string) float64 {
	e.t.Helper()
	mfs, err := harness.Metrics(p.Addr)
	if err != nil {
		e.t.Fatalf("scraping the controller: %v", err)
	}
	return harness.Sum(mfs, name, labels)
}

// ctrlGetJSON decodes GET url into v.
func ctrlGetJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return fmt.Errorf("getting %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("getting %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decoding %s: %w", url, err)
	}
	return nil
}

// stats is awssim's own ground truth (GET /debug/stats).
func (e *ctrlEnv) stats() awssim.Stats {
	e.t.Helper()
	var st awssim.Stats
	if err := ctrlGetJSON(e.url+"/debug/stats", &st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// timelines returns awssim's per-instance timelines by instance ID (GET /debug/timeline).
func (e *ctrlEnv) timelines() map[string]awssim.Timeline {
	e.t.Helper()
	var tls []awssim.Timeline
	if err := ctrlGetJSON(e.url+"/debug/timeline", &tls); err != nil {
		e.t.Fatal(err)
	}
	out := make(map[string]awssim.Timeline, len(tls))
	for _, tl := range tls {
		out[tl.InstanceID] = tl
	}
	return out
}

// setFaults changes awssim's faults while it runs (PUT /debug/faults).
func (e *ctrlEnv) setFaults(f awssim.Faults) {
	e.t.Helper()
	if err := chaosSetFaults(e.url, f); err != nil {
		e.t.Fatal(err)
	}
}

// scaleIn sets a group's desired capacity and returns the instances the group then holds in
// Terminating:Wait (the simulator takes instances out of service synchronously).
func (e *ctrlEnv) scaleIn(group string, desired int) []string {
	e.t.Helper()
	_, err := e.as.SetDesiredCapacity(e.t.Context(), &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(group),
		DesiredCapacity:      aws.Int32(int32(desired)),
		HonorCooldown:        aws.Bool(false),
	})
	if err != nil {
		e.t.Fatalf("scaling %s in to %d: %v", group, desired, err)
	}
	return e.inState(group, astypes.LifecycleStateTerminatingWait)
}

// inState lists a group's instances in a lifecycle state, sorted.
func (e *ctrlEnv) inState(group string, state astypes.LifecycleState) []string {
	e.t.Helper()
	out, err := e.as.DescribeAutoScalingGroups(e.t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil {
		e.t.Fatalf("describing %s: %v", group, err)
	}
	var ids []string
	for _, g := range out.AutoScalingGroups {
		for _, in := range g.Instances {
			if in.LifecycleState == state {
				ids = append(ids, aws.ToString(in.InstanceId))
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// waitTerminated waits until every instance has terminated.
func (e *ctrlEnv) waitTerminated(ids []string) {
	e.t.Helper()
	e.eventually(fmt.Sprintf("%d instances terminated", len(ids)), func() (bool, string) {
		tls := e.timelines()
		var left []string
		for _, id := range ids {
			if tls[id].TerminatedAt.IsZero() {
				left = append(left, id)
			}
		}
		return len(left) == 0, fmt.Sprintf("not terminated yet: %v", left)
	})
}

// waitCtrlMetric waits until a controller metric sum reaches want exactly.
func (e *ctrlEnv) waitCtrlMetric(p *harness.Process, name string, labels map[string]string, want float64) {
	e.t.Helper()
	e.eventually(fmt.Sprintf("%s%v = %v", name, labels, want), func() (bool, string) {
		mfs, err := harness.Metrics(p.Addr)
		if err != nil {
			return false, err.Error()
		}
		got := harness.Sum(mfs, name, labels)
		return got == want, fmt.Sprintf("%v", got)
	})
}

// ctrlWaitResyncs waits until the controller has finished n more resyncs, counted by its
// last-success timestamp (resyncs are 2 s apart and the gauge has 1 s resolution, so each changes it).
func (e *ctrlEnv) ctrlWaitResyncs(p *harness.Process, n int) {
	e.t.Helper()
	ts := e.ctrlMetric(p, "ecs_drainer_last_resync_success_timestamp_seconds", nil)
	for range n {
		e.eventually("the next resync", func() (bool, string) {
			now := e.ctrlMetric(p, "ecs_drainer_last_resync_success_timestamp_seconds", nil)
			if now == ts {
				return false, "no resync yet"
			}
			ts = now
			return true, ""
		})
	}
}

// drainedOnce asserts the invariants of instances the controller drained and completed: each was
// completed exactly once, no action of it expired, it was set DRAINING before completion, every
// task on it had stopped before its action was completed, and it terminated with none running.
func (e *ctrlEnv) drainedOnce(ids []string) {
	e.t.Helper()
	tls := e.timelines()
	for _, id := range ids {
		tl, ok := tls[id]
		if !ok {
			e.t.Errorf("%s: no timeline", id)
			continue
		}
		if tl.Completions != 1 || tl.TimedOut != 0 || tl.TasksKilled != 0 || tl.TerminatedAt.IsZero() {
			e.t.Errorf("%s: completions %d, timed out %d, tasks killed %d, terminated %v; want 1, 0, 0, terminated",
				id, tl.Completions, tl.TimedOut, tl.TasksKilled, !tl.TerminatedAt.IsZero())
		}
		if tl.DrainingAt.IsZero() || tl.CompletedAt.Before(tl.DrainingAt) {
			e.t.Errorf("%s: set DRAINING at %v, completed at %v: want DRAINING first", id, tl.DrainingAt, tl.CompletedAt)
		}
		if tl.CompletedAt.Before(tl.LastTaskStoppedAt) {
			e.t.Errorf("%s: completed at %v before its last task stopped at %v", id, tl.CompletedAt, tl.LastTaskStoppedAt)
		}
	}
}

// noHarm asserts the account-wide invariants of a scenario without a timeout policy that kills:
// no task was killed by a host termination, no instance terminated with a task running, and no
// lifecycle action expired. It reads both /debug/stats and the /metrics operators would alert on.
func (e *ctrlEnv) noHarm(st awssim.Stats) {
	e.t.Helper()
	if n := st.TasksStoppedByReason[awssim.StopReasonHostTerminated]; n != 0 {
		e.t.Errorf("%d tasks killed by host termination, want 0", n)
	}
	if st.TerminatedWithTasks != 0 {
		e.t.Errorf("%d instances terminated with tasks running, want 0", st.TerminatedWithTasks)
	}
	if st.LifecycleActionsTimedOut != 0 {
		e.t.Errorf("%d lifecycle actions expired, want 0", st.LifecycleActionsTimedOut)
	}
	mfs := e.simMetrics()
	if n := harness.Sum(mfs, "awssim_tasks_stopped_total", map[string]string{"reason": awssim.StopReasonHostTerminated}); n != 0 {
		e.t.Errorf("awssim_tasks_stopped_total{reason=host_terminated} = %v, want 0", n)
	}
	if n := harness.Sum(mfs, "awssim_lifecycle_actions_timed_out_total", nil); n != 0 {
		e.t.Errorf("awssim_lifecycle_actions_timed_out_total = %v, want 0", n)
	}
}

// completions asserts how many lifecycle actions awssim saw completed, by result, and that the
// per-instance counts add up to them with no instance completed twice.
func (e *ctrlEnv) completions(st awssim.Stats, cont, abandon int) {
	e.t.Helper()
	if got := st.LifecycleActionsCompleted["CONTINUE"]; got != cont {
		e.t.Errorf("lifecycle actions completed CONTINUE = %d, want %d", got, cont)
	}
	if got := st.LifecycleActionsCompleted["ABANDON"]; got != abandon {
		e.t.Errorf("lifecycle actions completed ABANDON = %d, want %d", got, abandon)
	}
	total := 0
	for id, n := range st.CompletionsByInstance {
		total += n
		if n != 1 {
			e.t.Errorf("%s completed %d times, want once", id, n)
		}
	}
	if total != cont+abandon {
		e.t.Errorf("completions by instance add up to %d, want %d", total, cont+abandon)
	}
	// A completion applied but answered with a spoiled response counts under OK when the body was
	// cut or garbled, and under SimulatedWeirdFault when it was rewritten into an unknown error; error
	// answers are never spoiled, so the two codes together are every completion awssim applied.
	if got := ctrlCalls(st, "autoscaling", "CompleteLifecycleAction", "OK", "SimulatedWeirdFault"); got != cont+abandon {
		e.t.Errorf("successful CompleteLifecycleAction calls = %d, want %d", got, cont+abandon)
	}
}

// calls sums the requests awssim counted for service/operation, every code, or only code when given.
func ctrlCalls(st awssim.Stats, service, op string, code ...string) int {
	n := 0
	for k, v := range st.Requests {
		s, rest, _ := strings.Cut(k, "/")
		o, c, _ := strings.Cut(rest, "/")
		if s == service && o == op && (len(code) == 0 || slices.Contains(code, c)) {
			n += v
		}
	}
	return n
}

// delta is the requests counted between two snapshots, by "service/operation/code", zero entries left out.
func ctrlDelta(before, after awssim.Stats) map[string]int {
	out := map[string]int{}
	for k, v := range after.Requests {
		if d := v - before.Requests[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// byOp folds a delta's codes together: "service/operation" -> count.
func ctrlByOp(d map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range d {
		i := strings.LastIndexByte(k, '/')
		out[k[:i]] += v
	}
	return out
}

func ctrlSortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// ctrlFormatCounts prints a count map one entry a line, for logs and failure messages.
func ctrlFormatCounts(m map[string]int) string {
	var b strings.Builder
	for _, k := range ctrlSortedKeys(m) {
		fmt.Fprintf(&b, "  %-60s %d\n", k, m[k])
	}
	return b.String()
}

// ctrlLogLines counts the controller's JSON log lines whose message is msg.
func ctrlLogLines(p *harness.Process, msg string) int {
	n := 0
	for _, line := range strings.Split(p.Output(), "\n") {
		var entry struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == msg {
			n++
		}
	}
	return n
}

// tasksOn lists the tasks of a cluster, desired status RUNNING, on the container instance of an EC2
// instance, described.
func (e *ctrlEnv) tasksOn(cluster, instanceID string) []ecstypes.Task {
	e.t.Helper()
	ctx := e.t.Context()
	cis, err := e.ec.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{
		Cluster: aws.String(cluster),
		Filter:  aws.String("ec2InstanceId == '" + instanceID + "'"),
	})
	if err != nil {
		e.t.Fatalf("finding the container instance of %s: %v", instanceID, err)
	}
	if len(cis.ContainerInstanceArns) != 1 {
		e.t.Fatalf("finding the container instance of %s in %s: got %v", instanceID, cluster, cis.ContainerInstanceArns)
	}
	var arns []string
	p := ecs.NewListTasksPaginator(e.ec, &ecs.ListTasksInput{Cluster: aws.String(cluster), ContainerInstance: aws.String(cis.ContainerInstanceArns[0])})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			e.t.Fatalf("listing tasks on %s: %v", instanceID, err)
		}
		arns = append(arns, page.TaskArns...)
	}
	if len(arns) == 0 {
		return nil
	}
	out, err := e.ec.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: arns})
	if err != nil {
		e.t.Fatalf("describing tasks on %s: %v", instanceID, err)
	}
	return out.Tasks
}

// completeAction completes a lifecycle action as a person or another tool would.
func (e *ctrlEnv) completeAction(group, hook, instanceID, result string) {
	e.t.Helper()
	_, err := e.as.CompleteLifecycleAction(e.t.Context(), &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName:  aws.String(group),
		LifecycleHookName:     aws.String(hook),
		InstanceId:            aws.String(instanceID),
		LifecycleActionResult: aws.String(result),
	})
	if err != nil {
		e.t.Fatalf("completing %s's action on hook %s: %v", instanceID, hook, err)
	}
}

// putHook adds a terminating lifecycle hook to a group.
func (e *ctrlEnv) putHook(group, hook string, heartbeat time.Duration) {
	e.t.Helper()
	_, err := e.as.PutLifecycleHook(e.t.Context(), &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String(group),
		LifecycleHookName:    aws.String(hook),
		LifecycleTransition:  aws.String("autoscaling:EC2_INSTANCE_TERMINATING"),
		HeartbeatTimeout:     aws.Int32(int32(heartbeat / time.Second)),
		DefaultResult:        aws.String("CONTINUE"),
	})
	if err != nil {
		e.t.Fatalf("putting hook %s on %s: %v", hook, group, err)
	}
}

package awssample

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	cluster    = "web"
	group      = "web-asg"
	strayGroup = "stray-asg"
	hook       = "drain"
)

// env is one simulator and one sample runtime on one fake clock: time moves only when the test
// advances it, so the sample's 5 s sleeps, the tasks' stop timeouts and the hook's timeout are
// exact. AWS calls go over HTTP to the simulator through the SDK.
type env struct {
	t   *testing.T
	clk *clocktesting.FakeClock
	sim *awssim.Sim
	as  *autoscaling.Client
	ec  *ecs.Client
	rt  *Runtime
}

// fleet is what newEnv builds: a cluster of instances in one group with a terminating hook, a
// replica service, optionally a daemon, and standalone tasks.
type fleet struct {
	instances, replicas, standalone int
	daemon                          bool
	stopTimeout                     time.Duration
	strayGroup                      bool // a second group whose instances register nowhere
}

func newEnv(t *testing.T, opts awssim.Options, f fleet, cfg Config) *env {
	t.Helper()
	clk := clocktesting.NewFakeClock(epoch)
	opts.Clock, opts.Seed = clk, 1
	sim := awssim.New(opts)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	as, ec := demo.NewClients(srv.URL, "us-east-1")
	e := &env{t: t, clk: clk, sim: sim, as: as, ec: ec}

	c := demo.Cluster{
		Name:     cluster,
		ASGs:     []demo.ASG{{Name: group, Min: 0, Desired: f.instances, Max: f.instances, TaskSlots: 4, HookName: hook, HookHeartbeatTimeout: 300 * time.Second}},
		Services: []demo.Service{{Name: "app", DesiredCount: f.replicas, MinimumHealthyPercent: 50, MaximumPercent: 200}},
	}
	if f.daemon {
		c.Services = append(c.Services, demo.Service{Name: "agent", Daemon: true})
	}
	if err := demo.Build(t.Context(), as, ec, demo.Fleet{Clusters: []demo.Cluster{c}, StopTimeout: f.stopTimeout}); err != nil {
		t.Fatalf("building the fleet: %v", err)
	}
	if f.strayGroup {
		// A group whose instances never register: its awssim:ecs-cluster tag names no cluster.
		if _, err := as.CreateAutoScalingGroup(t.Context(), &autoscaling.CreateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(strayGroup), MinSize: aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1),
			LaunchConfigurationName: aws.String("ecs"), AvailabilityZones: []string{"us-east-1a"},
			Tags: []astypes.Tag{{ResourceId: aws.String(strayGroup), ResourceType: aws.String("auto-scaling-group"), Key: aws.String(demo.ClusterTagKey), Value: aws.String("nowhere")}},
		}); err != nil {
			t.Fatalf("creating %s: %v", strayGroup, err)
		}
		if _, err := as.PutLifecycleHook(t.Context(), &autoscaling.PutLifecycleHookInput{
			AutoScalingGroupName: aws.String(strayGroup), LifecycleHookName: aws.String(hook),
			LifecycleTransition: aws.String(TransitionTerminating), HeartbeatTimeout: aws.Int32(300),
		}); err != nil {
			t.Fatalf("putting the hook on %s: %v", strayGroup, err)
		}
	}
	e.advance(3 * time.Second) // launch, register, place
	for range f.standalone {
		if _, err := ec.RunTask(t.Context(), &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: aws.String(cluster + "-app")}); err != nil {
			t.Fatalf("RunTask: %v", err)
		}
	}
	e.advance(time.Second)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := &Handler{ECS: ec, AutoScaling: as, Clock: clk, Log: log, Delay: RepublishDelay}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.rt = NewRuntime(ctx, clk, cfg, h.Handle, log)
	h.SNS = e.rt
	return e
}

// advance moves the clock by d in 100 ms steps, stepping the simulator after each.
func (e *env) advance(d time.Duration) {
	const step = 100 * time.Millisecond
	for ; d > 0; d -= step {
		e.clk.Step(min(step, d))
		e.sim.Step()
	}
}

// waitFor waits (in real time, bounded) until cond holds: the invocations run in goroutines and
// make HTTP calls, which take real time whatever the fake clock says.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting until %s; runtime stats %+v", what, e.rt.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// settle waits until the one chain of invocations is either asleep before republishing (its
// timeout timer and its sleep are the clock's only waiters) or over. It reports whether it sleeps.
func (e *env) settle() bool {
	e.t.Helper()
	var sleeping bool
	e.waitFor("the invocation sleeps or ends", func() bool {
		s := e.rt.Stats()
		sleeping = s.InFlight == 1 && e.clk.Waiters() == 2
		return sleeping || (s.InFlight == 0 && s.Scheduled == 0)
	})
	return sleeping
}

// drive runs the chain to its end, advancing the clock through each 5 s sleep, and returns how
// many sleeps there were.
func (e *env) drive() int {
	e.t.Helper()
	n := 0
	for e.settle() {
		n++
		if n > 100 {
			e.t.Fatal("the chain did not end in 100 rounds")
		}
		e.advance(RepublishDelay)
	}
	return n
}

// scaleIn terminates instance id of group g and notifies the sample's topic as Auto Scaling would.
func (e *env) scaleIn(id, g string) {
	e.t.Helper()
	if _, err := e.as.TerminateInstanceInAutoScalingGroup(e.t.Context(), &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(true),
	}); err != nil {
		e.t.Fatalf("terminating %s: %v", id, err)
	}
	e.advance(100 * time.Millisecond)
	e.notify(Notification{
		Service: "AWS Auto Scaling", Time: e.clk.Now().Format(time.RFC3339Nano), AccountID: "123456789012",
		AutoScalingGroupName: g, LifecycleHookName: hook, EC2InstanceID: id, LifecycleTransition: TransitionTerminating,
	})
}

func (e *env) notify(n Notification) {
	e.t.Helper()
	body, err := json.Marshal(n)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.rt.Notify(cluster, "", string(body)); err != nil {
		e.t.Fatalf("Notify: %v", err)
	}
}

// instance is the EC2 instance ID of the n-th container instance registered in the cluster, or
// of the stray group's instance when n is 0.
func (e *env) instance(n int) string {
	e.t.Helper()
	if n == 0 {
		out, err := e.as.DescribeAutoScalingGroups(e.t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{strayGroup}})
		if err != nil || len(out.AutoScalingGroups) != 1 || len(out.AutoScalingGroups[0].Instances) != 1 {
			e.t.Fatalf("describing %s: %v %+v", strayGroup, err, out)
		}
		return aws.ToString(out.AutoScalingGroups[0].Instances[0].InstanceId)
	}
	var arns []string
	for p := ecs.NewListContainerInstancesPaginator(e.ec, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)}); p.HasMorePages(); {
		page, err := p.NextPage(e.t.Context())
		if err != nil {
			e.t.Fatal(err)
		}
		arns = append(arns, page.ContainerInstanceArns...)
	}
	out, err := e.ec.DescribeContainerInstances(e.t.Context(), &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: arns[n-1 : n]})
	if err != nil || len(out.ContainerInstances) != 1 {
		e.t.Fatalf("describing container instance %d: %v", n, err)
	}
	return aws.ToString(out.ContainerInstances[0].Ec2InstanceId)
}

// calls are the simulator's successful requests by operation, less those in before.
func (e *env) calls(before awssim.Stats) map[string]int {
	out := map[string]int{}
	for k, n := range e.sim.Stats().Requests {
		if d := n - before.Requests[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func (e *env) timeline(id string) awssim.Timeline {
	e.t.Helper()
	i := slices.IndexFunc(e.sim.Timelines(), func(t awssim.Timeline) bool { return t.InstanceID == id })
	if i < 0 {
		e.t.Fatalf("no timeline for %s", id)
	}
	return e.sim.Timelines()[i]
}

// TestDrainThroughEveryPage follows one drain on a cluster whose listing takes three pages: each
// invocation pages through ListContainerInstances and describes every page until the instance,
// which is on the last; the first sets it DRAINING and, with tasks running, sleeps 5 s and
// publishes the message again; the second sees runningTasksCount 0 and completes the action.
func TestDrainThroughEveryPage(t *testing.T) {
	e := newEnv(t, awssim.Options{PageSizeOverride: 2}, fleet{instances: 5, replicas: 5, stopTimeout: 2 * time.Second}, DefaultConfig())
	id := e.instance(5)
	before := e.sim.Stats()
	e.scaleIn(id, group)

	if !e.settle() {
		t.Fatal("the first invocation ended without sleeping: the instance had tasks running")
	}
	want := map[string]int{
		"autoscaling/TerminateInstanceInAutoScalingGroup/OK": 1,
		"ecs/ListContainerInstances/OK":                      3, // pages of 2, 2 and 1
		"ecs/DescribeContainerInstances/OK":                  3,
		"ecs/UpdateContainerInstancesState/OK":               1,
	}
	if diff := cmp.Diff(want, e.calls(before)); diff != "" {
		t.Errorf("calls of the first invocation (-want +got):\n%s", diff)
	}
	if tl := e.timeline(id); tl.DrainingAt.IsZero() {
		t.Errorf("the instance was not set DRAINING: %+v", tl)
	}

	if rounds := 1 + e.drive(); rounds != 2 {
		t.Errorf("%d sleeps, want 2 invocations and 1 sleep", rounds)
	}
	e.advance(time.Second)
	want["ecs/ListContainerInstances/OK"], want["ecs/DescribeContainerInstances/OK"] = 6, 6
	want["autoscaling/CompleteLifecycleAction/OK"] = 1
	if diff := cmp.Diff(want, e.calls(before)); diff != "" {
		t.Errorf("calls of the drain (-want +got):\n%s", diff)
	}
	s := e.rt.Stats()
	if s.Notifications != 1 || s.Invocations != 2 || s.Publishes != 1 || s.Errors != 0 || s.LongestChain != 2 {
		t.Errorf("runtime stats = %+v, want 1 notification, 2 invocations, 1 publish", s)
	}
	tl := e.timeline(id)
	if tl.Completions != 1 || tl.TerminatedAt.IsZero() || tl.TasksKilled != 0 || tl.TimedOut != 0 {
		t.Errorf("timeline = %+v, want completed once and terminated with nothing running", tl)
	}
}

// TestRunningTasksCountMissesStoppingTasks shows the sample's test of "drained": runningTasksCount
// counts tasks whose desired status is RUNNING, so once the daemon (stopped last) is told to stop,
// the count is 0 while it is still stopping, and the sample completes the action: the instance
// terminates with the daemon task still running.
func TestRunningTasksCountMissesStoppingTasks(t *testing.T) {
	e := newEnv(t, awssim.Options{}, fleet{instances: 2, replicas: 2, daemon: true, stopTimeout: 10 * time.Second}, DefaultConfig())
	id := e.instance(1)
	e.scaleIn(id, group)
	e.drive()
	e.advance(time.Second)
	tl := e.timeline(id)
	if tl.Completions != 1 || tl.TerminatedAt.IsZero() {
		t.Fatalf("timeline = %+v, want completed and terminated", tl)
	}
	if tl.TasksKilled != 1 {
		t.Errorf("tasks killed by the termination = %d, want 1 (the daemon task, still stopping)", tl.TasksKilled)
	}
}

// TestLoopDetectionEndsTheChain drains an instance holding a standalone task, which DRAINING never
// stops: runningTasksCount stays 1, so the sample republishes until Lambda's recursive loop
// detection drops the 17th invocation. Nothing completes the action, which then expires, and the
// instance terminates with the task.
func TestLoopDetectionEndsTheChain(t *testing.T) {
	e := newEnv(t, awssim.Options{}, fleet{instances: 1, standalone: 1, stopTimeout: 2 * time.Second}, DefaultConfig())
	id := e.instance(1)
	e.scaleIn(id, group)
	if rounds := e.drive(); rounds != 16 {
		t.Errorf("%d sleeps before the chain ended, want 16 (every invocation of the chain)", rounds)
	}
	s := e.rt.Stats()
	if s.Invocations != 16 || s.Publishes != 16 || s.LoopStopped != 1 || s.LongestChain != 16 || s.Errors != 0 {
		t.Errorf("runtime stats = %+v, want 16 invocations, 16 publishes, the 17th invocation stopped", s)
	}
	e.advance(300 * time.Second) // the hook's heartbeat timeout, counted from Terminating:Wait
	tl := e.timeline(id)
	if tl.Completions != 0 || tl.TimedOut != 1 || tl.TasksKilled != 1 {
		t.Errorf("timeline = %+v, want no completion, the action expired, the standalone task killed", tl)
	}
}

// TestNotInClusterCompletesAtOnce notifies an instance that never registered in the cluster: the
// sample scans the cluster, finds nothing, and completes the action without waiting.
func TestNotInClusterCompletesAtOnce(t *testing.T) {
	e := newEnv(t, awssim.Options{}, fleet{instances: 3, replicas: 3, stopTimeout: 2 * time.Second, strayGroup: true}, DefaultConfig())
	id := e.instance(0)
	before := e.sim.Stats()
	e.scaleIn(id, strayGroup)
	if e.drive() != 0 {
		t.Error("the sample slept for an instance it could not find")
	}
	want := map[string]int{
		"autoscaling/TerminateInstanceInAutoScalingGroup/OK": 1,
		"ecs/ListContainerInstances/OK":                      1,
		"ecs/DescribeContainerInstances/OK":                  1,
		"autoscaling/CompleteLifecycleAction/OK":             1,
	}
	if diff := cmp.Diff(want, e.calls(before)); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if tl := e.timeline(id); tl.Completions != 1 || !tl.DrainingAt.IsZero() {
		t.Errorf("timeline = %+v, want completed without DRAINING", tl)
	}
}

// TestTestNotificationIgnored: the message Auto Scaling sends when a hook is added has no
// LifecycleTransition, and the sample returns without a call.
func TestTestNotificationIgnored(t *testing.T) {
	e := newEnv(t, awssim.Options{}, fleet{instances: 1, replicas: 1, stopTimeout: 2 * time.Second}, DefaultConfig())
	before := e.sim.Stats()
	e.notify(Notification{Service: "AWS Auto Scaling", AutoScalingGroupName: group, Event: "autoscaling:TEST_NOTIFICATION"})
	e.drive()
	if got := e.calls(before); len(got) != 0 {
		t.Errorf("calls = %v, want none", got)
	}
	if s := e.rt.Stats(); s.Invocations != 1 || s.Errors != 0 {
		t.Errorf("runtime stats = %+v, want one invocation without error", s)
	}
}

// TestTimeoutIsRetriedThenDropped: an invocation that outlives the function's timeout is stopped
// and counts as a function error; Lambda retries the event one and then two minutes later, and
// drops it after the second retry fails too.
func TestTimeoutIsRetriedThenDropped(t *testing.T) {
	clk := clocktesting.NewFakeClock(epoch)
	hang := func(ctx context.Context, _ Event) error {
		<-ctx.Done()
		return context.Cause(ctx)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rt := NewRuntime(ctx, clk, DefaultConfig(), hang, slog.New(slog.NewTextHandler(io.Discard, nil)))
	e := &env{t: t, clk: clk, rt: rt}
	if _, err := rt.Notify(cluster, "", "{}"); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the invocation runs", func() bool { return clk.Waiters() == 1 })
	for _, wait := range []time.Duration{time.Minute, 2 * time.Minute} {
		clk.Step(time.Minute) // the timeout
		e.waitFor("the retry is scheduled", func() bool { s := rt.Stats(); return s.InFlight == 0 && s.Scheduled == 1 })
		clk.Step(wait)
		e.waitFor("the retry runs", func() bool { s := rt.Stats(); return s.InFlight == 1 && clk.Waiters() == 1 })
	}
	clk.Step(time.Minute)
	e.waitFor("the event is dropped", func() bool { return rt.Stats().Dropped == 1 })
	s := rt.Stats()
	s.ErrorSamples = nil
	want := Stats{Notifications: 1, Invocations: 3, Retries: 2, Errors: 3, TimedOut: 3, Dropped: 1, MaxInFlight: 1, LongestChain: 1}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

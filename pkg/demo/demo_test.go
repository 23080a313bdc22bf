package demo

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// startSim serves a simulator on loopback with the real clock and returns SDK clients for it.
func startSim(t *testing.T) (*awssim.Sim, *autoscaling.Client, *ecs.Client) {
	t.Helper()
	sim := awssim.New(awssim.Options{Seed: 7, LaunchDelay: 20 * time.Millisecond, RegisterDelay: 20 * time.Millisecond, TaskStartDelay: 20 * time.Millisecond})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sim.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	as, ec := NewClients(srv.URL, "us-east-1")
	return sim, as, ec
}

func TestSmall(t *testing.T) {
	f := Small()
	if err := f.Validate(); err != nil {
		t.Fatalf("Small().Validate: %v", err)
	}
	if got := f.Instances(); got != 8 {
		t.Errorf("Instances() = %d, want 8", got)
	}
	var managed []string
	for _, g := range f.ManagedASGs() {
		managed = append(managed, g.Name)
	}
	if want := []string{"web-asg", "batch-asg"}; !slices.Equal(managed, want) {
		t.Errorf("ManagedASGs = %v, want %v", managed, want)
	}
	// Every scale-in the loop can make must leave room for the tasks of the drained instances,
	// or the demo would show drains stuck for want of capacity.
	for _, c := range f.Clusters {
		slots, replicas, daemons := 0, c.StandaloneTasks, 0
		for _, g := range c.ASGs {
			size := g.Desired
			if g.Managed {
				size = g.Min
			}
			slots += size * g.TaskSlots
			daemons += size
		}
		for _, s := range c.Services {
			if s.Daemon {
				replicas += daemons
			} else {
				replicas += s.DesiredCount
			}
		}
		if replicas > slots {
			t.Errorf("cluster %s at minimum size holds %d task slots for %d tasks", c.Name, slots, replicas)
		}
	}
}

func TestUniform(t *testing.T) {
	f := Uniform(Shape{Clusters: 3, ASGsPerCluster: 2, InstancesPerASG: 5, ServicesPerCluster: 3, TasksPerInstance: 2, Daemon: true, StandalonePerASG: 1})
	if err := f.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got := f.Instances(); got != 30 {
		t.Errorf("Instances() = %d, want 30", got)
	}
	if got := len(f.ManagedASGs()); got != 6 {
		t.Errorf("managed groups = %d, want 6", got)
	}
	for _, c := range f.Clusters {
		replicas := 0
		for _, s := range c.Services {
			replicas += s.DesiredCount
		}
		if replicas != 20 || len(c.Services) != 4 || c.StandaloneTasks != 2 {
			t.Errorf("cluster %s: %d replicas in %d services, %d standalone; want 20 in 4, 2", c.Name, replicas, len(c.Services), c.StandaloneTasks)
		}
		if c.ASGs[0].TaskSlots != 6 || c.ASGs[0].HookHeartbeatTimeout != 60*time.Second {
			t.Errorf("group %+v: want 6 slots and a 60s hook", c.ASGs[0])
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		f    Fleet
		want string
	}{
		{"repeated cluster", Fleet{Clusters: []Cluster{{Name: "a"}, {Name: "a"}}}, `cluster name "a"`},
		{"sizes", Fleet{Clusters: []Cluster{{Name: "a", ASGs: []ASG{{Name: "g", Min: 2, Desired: 1, Max: 3}}}}}, "sizes must satisfy"},
		{"short hook", Fleet{Clusters: []Cluster{{Name: "a", ASGs: []ASG{{Name: "g", Desired: 1, Max: 1, HookHeartbeatTimeout: time.Second}}}}}, "below Auto Scaling's minimum"},
		{"repeated group", Fleet{Clusters: []Cluster{{Name: "a", ASGs: []ASG{{Name: "g"}}}, {Name: "b", ASGs: []ASG{{Name: "g"}}}}}, `group name "g"`},
		{"service", Fleet{Clusters: []Cluster{{Name: "a", Services: []Service{{Name: "s", DesiredCount: -1}}}}}, "negative desired count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestBuildSmall builds the live demo's fleet in the simulator through the SDK and checks what
// stands: groups with their tags and hooks, registered instances, services and standalone tasks.
func TestBuildSmall(t *testing.T) {
	_, as, ec := startSim(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	f := Small()
	f.PollInterval = 20 * time.Millisecond
	if err := Build(ctx, as, ec, f); err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := WaitRegistered(ctx, ec, f); err != nil {
		t.Fatalf("WaitRegistered: %v", err)
	}

	checkDemoGroups(ctx, t, as)

	for _, c := range []struct {
		name       string
		instances  int
		standalone int
		services   map[string]int32
	}{
		{"web", 4, 1, map[string]int32{"frontend": 4, "api": 3, "log-router": 4}},
		{"batch", 4, 2, map[string]int32{"worker": 4, "log-router": 4}},
	} {
		n, err := countActive(ctx, ec, c.name)
		if err != nil {
			t.Fatal(err)
		}
		if n != c.instances {
			t.Errorf("cluster %s has %d ACTIVE container instances, want %d", c.name, n, c.instances)
		}
		jobs, err := ec.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(c.name), StartedBy: aws.String("demo")})
		if err != nil {
			t.Fatalf("ListTasks: %v", err)
		}
		if len(jobs.TaskArns) != c.standalone {
			t.Errorf("cluster %s has %d standalone tasks, want %d", c.name, len(jobs.TaskArns), c.standalone)
		}
		waitServiceCounts(ctx, t, ec, c.name, c.services)
	}
}

// checkDemoGroups checks the demo's groups carry their tags and hooks.
func checkDemoGroups(ctx context.Context, t *testing.T, as *autoscaling.Client) {
	t.Helper()
	groups, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		t.Fatalf("DescribeAutoScalingGroups: %v", err)
	}
	tagged := map[string]map[string]string{}
	for _, g := range groups.AutoScalingGroups {
		tags := map[string]string{}
		for _, tg := range g.Tags {
			tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		tagged[aws.ToString(g.AutoScalingGroupName)] = tags
	}
	if tagged["web-asg"][ManagedTagKey] != "true" || tagged["web-asg"][ClusterTagKey] != "web" || tagged["web-asg"][TaskSlotsTagKey] != "6" {
		t.Errorf("web-asg tags = %v", tagged["web-asg"])
	}
	if _, ok := tagged["batch-legacy-asg"][ManagedTagKey]; ok || tagged["batch-legacy-asg"][ClusterTagKey] != "batch" {
		t.Errorf("batch-legacy-asg tags = %v", tagged["batch-legacy-asg"])
	}
	checkDemoHooks(ctx, t, as)
}

// checkDemoHooks checks each managed group has the drain hook and the legacy group none.
func checkDemoHooks(ctx context.Context, t *testing.T, as *autoscaling.Client) {
	t.Helper()
	for _, name := range []string{"web-asg", "batch-asg", "batch-legacy-asg"} {
		hooks, err := as.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeLifecycleHooks %s: %v", name, err)
		}
		want := 1
		if name == "batch-legacy-asg" {
			want = 0
		}
		if len(hooks.LifecycleHooks) != want {
			t.Errorf("%s has %d hooks, want %d", name, len(hooks.LifecycleHooks), want)
			continue
		}
		if want == 1 {
			h := hooks.LifecycleHooks[0]
			if aws.ToString(h.LifecycleHookName) != DefaultHookName || aws.ToInt32(h.HeartbeatTimeout) != 60 || aws.ToString(h.LifecycleTransition) != "autoscaling:EC2_INSTANCE_TERMINATING" {
				t.Errorf("%s hook = %+v", name, h)
			}
		}
	}
}

// waitServiceCounts waits until cluster's services run the counts in want: they reach their
// desired counts once placement has run on registered instances.
func waitServiceCounts(ctx context.Context, t *testing.T, ec *ecs.Client, cluster string, want map[string]int32) {
	t.Helper()
	var names []string
	for s := range want {
		names = append(names, s)
	}
	// The services reach their desired counts once placement has run on registered instances.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := ec.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: names})
		if err != nil {
			t.Fatalf("DescribeServices: %v", err)
		}
		got := map[string]int32{}
		for _, s := range out.Services {
			got[aws.ToString(s.ServiceName)] = s.RunningCount
			if s.SchedulingStrategy == ecstypes.SchedulingStrategyDaemon && aws.ToString(s.ServiceName) != "log-router" {
				t.Errorf("service %s is a daemon", aws.ToString(s.ServiceName))
			}
		}
		if equalCounts(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("cluster %s running counts = %v, want %v", cluster, got, want)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func equalCounts(a, b map[string]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

func desired(t *testing.T, as *autoscaling.Client, name string) int32 {
	t.Helper()
	out, err := as.DescribeAutoScalingGroups(t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Fatalf("describing %s: %v", name, err)
	}
	return aws.ToInt32(out.AutoScalingGroups[0].DesiredCapacity)
}

// TestScaleLoopStep checks the loop's decisions: groups in turn, scale in from the described size
// (by at most ScaleInMax, never below Min), then back out.
func TestScaleLoopStep(t *testing.T) {
	_, as, ec := startSim(t)
	f := Fleet{Clusters: []Cluster{{
		Name: "c",
		ASGs: []ASG{
			{Name: "a", Min: 1, Desired: 3, Max: 4, Managed: true, HookHeartbeatTimeout: time.Minute, ScaleInMax: 1},
			{Name: "b", Min: 2, Desired: 2, Max: 4, Managed: true, HookHeartbeatTimeout: time.Minute},
		},
	}}}
	if err := Build(t.Context(), as, ec, f); err != nil {
		t.Fatalf("Build: %v", err)
	}
	loop := &ScaleLoop{AutoScaling: as, Groups: f.ManagedASGs(), Log: logr.Discard()}
	want := []struct {
		group string
		size  int32
	}{
		{"a", 2}, // in by exactly 1 (ScaleInMax 1)
		{"b", 2}, // already at Min: unchanged
		{"a", 3}, // back out
		{"b", 2},
		{"a", 2},
	}
	for i, w := range want {
		if err := loop.Step(t.Context()); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := desired(t, as, w.group); got != w.size {
			t.Errorf("after step %d, %s desired = %d, want %d", i, w.group, got, w.size)
		}
	}
	if err := (&ScaleLoop{AutoScaling: as, Log: logr.Discard()}).Step(t.Context()); err == nil {
		t.Error("Step with no groups succeeded")
	}
}

// TestScaleLoopInterrupts: with Interrupt set, every InterruptEvery-th step interrupts one
// in-service instance of its group instead of scaling it; the other steps scale as before.
func TestScaleLoopInterrupts(t *testing.T) {
	_, as, ec := startSim(t)
	f := Fleet{Clusters: []Cluster{{Name: "c", ASGs: []ASG{{Name: "a", Min: 0, Desired: 3, Max: 3, Managed: true, HookHeartbeatTimeout: time.Minute, ScaleInMax: 1}}}}}
	if err := Build(t.Context(), as, ec, f); err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := WaitRegistered(t.Context(), ec, f); err != nil {
		t.Fatalf("WaitRegistered: %v", err)
	}
	var interrupted []string
	loop := &ScaleLoop{AutoScaling: as, Groups: f.ManagedASGs(), Log: logr.Discard(), InterruptEvery: 2,
		Interrupt: func(id string) error { interrupted = append(interrupted, id); return nil }}
	for i := range 4 {
		if err := loop.Step(t.Context()); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if len(interrupted) != 2 {
		t.Errorf("interruptions %v, want 2 (steps 2 and 4)", interrupted)
	}
	if got := desired(t, as, "a"); got != 3 {
		t.Errorf("desired after a scale-in, an interruption, a scale-out and an interruption = %d, want 3", got)
	}
}

// TestScaleLoopRun checks that Run steps on its clock's ticks and stops with its context.
func TestScaleLoopRun(t *testing.T) {
	_, as, ec := startSim(t)
	f := Fleet{Clusters: []Cluster{{Name: "c", ASGs: []ASG{{Name: "a", Min: 0, Desired: 2, Max: 2, Managed: true, HookHeartbeatTimeout: time.Minute, ScaleInMax: 1}}}}}
	if err := Build(t.Context(), as, ec, f); err != nil {
		t.Fatalf("Build: %v", err)
	}
	clk := clocktesting.NewFakeClock(time.Now())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	loop := &ScaleLoop{AutoScaling: as, Groups: f.ManagedASGs(), Clock: clk, Log: logr.Discard(), Interval: time.Minute}
	go func() { loop.Run(ctx); close(done) }()

	deadline := time.Now().Add(10 * time.Second)
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("the loop made no ticker")
		}
		time.Sleep(time.Millisecond)
	}
	clk.Step(time.Minute)
	deadline = time.Now().Add(10 * time.Second)
	for desired(t, as, "a") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the loop did not scale in after one tick")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

// TestBuildUniform builds a benchmark-shaped fleet and checks every instance registered.
func TestBuildUniform(t *testing.T) {
	_, as, ec := startSim(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	f := Uniform(Shape{Clusters: 2, ASGsPerCluster: 2, InstancesPerASG: 3, ServicesPerCluster: 2, TasksPerInstance: 2, Daemon: true, StandalonePerASG: 1})
	f.PollInterval = 20 * time.Millisecond
	if err := Build(ctx, as, ec, f); err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := WaitRegistered(ctx, ec, f); err != nil {
		t.Fatalf("WaitRegistered: %v", err)
	}
	for _, c := range f.Clusters {
		n, err := countActive(ctx, ec, c.Name)
		if err != nil {
			t.Fatal(err)
		}
		if n != 6 {
			t.Errorf("cluster %s has %d ACTIVE container instances, want 6", c.Name, n)
		}
	}
}

// TestScaleLoopFirstStepAfter shows the first scale-in comes FirstStepAfter from the start, not a
// whole Interval later: the live demo shows a drain within seconds.
func TestScaleLoopFirstStepAfter(t *testing.T) {
	_, as, ec := startSim(t)
	f := Fleet{Clusters: []Cluster{{Name: "c", ASGs: []ASG{{Name: "a", Min: 0, Desired: 2, Max: 2, Managed: true, HookHeartbeatTimeout: time.Minute, ScaleInMax: 1}}}}}
	if err := Build(t.Context(), as, ec, f); err != nil {
		t.Fatalf("Build: %v", err)
	}
	clk := clocktesting.NewFakeClock(time.Now())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	loop := &ScaleLoop{AutoScaling: as, Groups: f.ManagedASGs(), Clock: clk, Log: logr.Discard(), Interval: time.Hour, FirstStepAfter: 5 * time.Second}
	go func() { loop.Run(ctx); close(done) }()

	deadline := time.Now().Add(10 * time.Second)
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("the loop is not waiting for its first step")
		}
		time.Sleep(time.Millisecond)
	}
	clk.Step(5 * time.Second)
	deadline = time.Now().Add(10 * time.Second)
	for desired(t, as, "a") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the loop did not scale in FirstStepAfter from the start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

package ecsview

import (
	"context"
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
	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler/internal/simtest"
)

// fleet is a simulator with one cluster and one group of registered instances, reached through
// the real SDK clients, and a View over it whose callbacks are recorded.
type fleet struct {
	t     *testing.T
	clock *clocktesting.FakeClock
	sim   *awssim.Sim
	ecs   *ecs.Client
	ids   []string
	view  *View

	mu        sync.Mutex
	woken     []string
	scheduled []Batch
	writes    []string
}

func newFleet(t *testing.T, instances int32, dryRun bool) *fleet {
	t.Helper()
	sim := simtest.Start(t, awssim.Options{})
	clk := sim.Clock
	as, ecsClient := autoscaling.NewFromConfig(sim.Config), ecs.NewFromConfig(sim.Config)
	ctx := t.Context()
	if _, err := ecsClient.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := as.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("web"), MinSize: aws.Int32(0), MaxSize: aws.Int32(100), DesiredCapacity: aws.Int32(instances),
		LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("lt"), Version: aws.String("$Latest")},
		Tags:           []astypes.Tag{{Key: aws.String("awssim:ecs-cluster"), Value: aws.String("c1"), ResourceId: aws.String("web"), ResourceType: aws.String("auto-scaling-group")}},
	}); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		clk.Step(500 * time.Millisecond)
		sim.Step()
	}
	out, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{t: t, clock: clk, sim: sim.Sim, ecs: ecsClient}
	for _, in := range out.AutoScalingGroups[0].Instances {
		f.ids = append(f.ids, aws.ToString(in.InstanceId))
	}
	slices.Sort(f.ids)
	f.view = New(Deps{
		ECS:   ecsClient,
		Clock: clk,
		Write: func(ctx context.Context, action string, _ []any, call func(context.Context) error) error {
			f.mu.Lock()
			f.writes = append(f.writes, action)
			f.mu.Unlock()
			if dryRun {
				return nil
			}
			return call(ctx)
		},
		DryRun:       dryRun,
		Wake:         func(id string) { f.mu.Lock(); f.woken = append(f.woken, id); f.mu.Unlock() },
		Schedule:     func(b Batch, _ bool) { f.mu.Lock(); f.scheduled = append(f.scheduled, b); f.mu.Unlock() },
		Warn:         func(logr.Logger, string, string, ...any) {},
		ClearWarning: func(string) {},
		PollInterval: time.Second,
	})
	return f
}

// calls are the ECS calls the simulator answered, by operation.
func (f *fleet) calls() map[string]int {
	out := map[string]int{}
	for key, n := range f.sim.Stats().Requests {
		if rest, ok := strings.CutPrefix(key, "ecs/"); ok {
			op, _, _ := strings.Cut(rest, "/")
			out[op] += n
		}
	}
	return out
}

// callsSince are the ECS calls made since before.
func (f *fleet) callsSince(before map[string]int) map[string]int {
	out := map[string]int{}
	for op, n := range f.calls() {
		if d := n - before[op]; d > 0 {
			out[op] = d
		}
	}
	return out
}

// flushScheduled runs every batch scheduled so far, once each, as the controller's queue would.
func (f *fleet) flushScheduled() {
	f.t.Helper()
	f.mu.Lock()
	batches := slices.Compact(f.scheduled)
	f.scheduled = nil
	f.mu.Unlock()
	for _, b := range batches {
		if err := f.view.Flush(f.t.Context(), b); err != nil {
			f.t.Fatalf("Flush(%s): %v", b, err)
		}
	}
}

func sameCalls(got, want map[string]int) bool {
	if len(got) != len(want) {
		return false
	}
	for op, n := range want {
		if got[op] != n {
			return false
		}
	}
	return true
}

// TestLookupDrainAndDescribe follows three instances through the View: one lookup batch finds them
// all (ListClusters; a probe for one instance of the group, then its other instances in the
// cluster it was found in: two ListContainerInstances and two DescribeContainerInstances), its answers
// serve the first reads, one UpdateContainerInstancesState sets them all DRAINING, and one
// DescribeContainerInstances refreshes them all a poll later.
func TestLookupDrainAndDescribe(t *testing.T) {
	f := newFleet(t, 3, false)
	regs := f.lookUpAll(t)
	f.drainAll(t, regs)
	f.clock.Step(time.Second)
	before := f.calls()
	for _, id := range f.ids {
		ci, err := f.view.ContainerInstance(t.Context(), regs[id].Cluster, regs[id].ARN, time.Second)
		if err != nil || ci.Status != ecstypes.ContainerInstanceStatusDraining {
			t.Fatalf("ContainerInstance(%s) a poll later = %+v, %v; want DRAINING", id, ci, err)
		}
	}
	if got, want := f.callsSince(before), map[string]int{"DescribeContainerInstances": 1}; !sameCalls(got, want) {
		t.Errorf("refresh calls %v, want %v", got, want)
	}
}

// lookUpAll files every instance for a lookup, runs the batch and takes the answers.
func (f *fleet) lookUpAll(t *testing.T) map[string]Registration {
	t.Helper()
	for _, id := range f.ids {
		f.view.RequestRegistration(id, "web")
	}
	before := f.calls()
	f.flushScheduled()
	if got, want := f.callsSince(before), map[string]int{"ListClusters": 1, "ListContainerInstances": 2, "DescribeContainerInstances": 2}; !sameCalls(got, want) {
		t.Errorf("lookup calls %v, want %v", got, want)
	}
	if slices.Sort(f.woken); !slices.Equal(f.woken, f.ids) {
		t.Errorf("woken %v, want %v", f.woken, f.ids)
	}
	regs := map[string]Registration{}
	for _, id := range f.ids {
		reg, ok := f.view.TakeRegistration(id)
		if !ok || reg.State != Found || reg.ARN == "" {
			t.Fatalf("TakeRegistration(%s) = %+v, %v; want found", id, reg, ok)
		}
		regs[id] = reg
		if _, again := f.view.TakeRegistration(id); again {
			t.Errorf("TakeRegistration(%s) answered twice", id)
		}
	}
	return regs
}

// drainAll reads every container instance (served by the lookup's answers) and sets them DRAINING
// in one batch.
func (f *fleet) drainAll(t *testing.T, regs map[string]Registration) {
	t.Helper()
	before := f.calls()
	for _, id := range f.ids {
		ci, err := f.view.ContainerInstance(t.Context(), regs[id].Cluster, regs[id].ARN, time.Second)
		if err != nil || ci.Status != ecstypes.ContainerInstanceStatusActive || ci.EC2ID != id {
			t.Fatalf("ContainerInstance(%s) = %+v, %v", id, ci, err)
		}
		f.view.RequestDraining(regs[id].Cluster, regs[id].ARN, id)
	}
	f.flushScheduled()
	if got, want := f.callsSince(before), map[string]int{"UpdateContainerInstancesState": 1}; !sameCalls(got, want) {
		t.Errorf("first reads and DRAINING calls %v, want %v", got, want)
	}
	for _, id := range f.ids {
		if a, ok := f.view.TakeDrainAnswer(regs[id].ARN); !ok || a.Failure != "" {
			t.Errorf("TakeDrainAnswer(%s) = %+v, %v; want success", id, a, ok)
		}
		if f.view.DrainingPending(regs[id].Cluster, regs[id].ARN) {
			t.Errorf("DRAINING of %s still pending after its answer", id)
		}
	}
}

// TestNotRegisteredAnswered: an instance in no cluster is answered
// NotFound once every cluster answered.
func TestNotRegisteredAnswered(t *testing.T) {
	f := newFleet(t, 1, false)
	f.view.RequestRegistration("i-00000000000000000", "web")
	before := f.calls()
	f.flushScheduled()
	if reg, ok := f.view.TakeRegistration("i-00000000000000000"); !ok || reg.State != NotFound {
		t.Errorf("TakeRegistration = %+v, %v; want NotFound", reg, ok)
	}
	// The list is brand new, so it is not read again within the poll interval.
	if got, want := f.callsSince(before), map[string]int{"ListClusters": 1, "ListContainerInstances": 1}; !sameCalls(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
}

// TestDryRunDrainWritesNothing: in dry run the DRAINING batch goes through the write door, which
// calls nothing, and the answer still comes back.
func TestDryRunDrainWritesNothing(t *testing.T) {
	f := newFleet(t, 1, true)
	f.view.RequestRegistration(f.ids[0], "web")
	f.flushScheduled()
	reg, _ := f.view.TakeRegistration(f.ids[0])
	before := f.calls()
	f.view.RequestDraining(reg.Cluster, reg.ARN, f.ids[0])
	f.flushScheduled()
	if err := f.view.TagDrainStart(t.Context(), reg.Cluster, reg.ARN, "2026-03-01T12:00:00Z"); err != nil {
		t.Fatal(err)
	}
	if got := f.callsSince(before); len(got) != 0 {
		t.Errorf("dry run called %v, want nothing", got)
	}
	if want := []string{"set container instances DRAINING", "tag container instance"}; !slices.Equal(f.writes, want) {
		t.Errorf("writes %v, want %v", f.writes, want)
	}
	if _, ok := f.view.TakeDrainAnswer(reg.ARN); !ok {
		t.Error("no DRAINING answer in dry run")
	}
}

func TestInstanceFilter(t *testing.T) {
	got := InstanceFilter([]string{"i-1", "i-2"})
	if want := "ec2InstanceId in ['i-1', 'i-2']"; got != want {
		t.Errorf("InstanceFilter = %q, want %q", got, want)
	}
}

func TestTaskService(t *testing.T) {
	for _, tc := range []struct {
		task        Task
		wantName    string
		wantService bool
	}{
		{Task{Group: "service:web", StartedBy: "ecs-svc/1234567890123456789"}, "web", true},
		{Task{Group: "family:job"}, "", false},
		{Task{Group: "family:job", StartedBy: "cron"}, "", false},
		{Task{StartedBy: "ecs-svc/1"}, "", true},
	} {
		name, ok := tc.task.Service()
		if name != tc.wantName || ok != tc.wantService {
			t.Errorf("%+v.Service() = %q, %v; want %q, %v", tc.task, name, ok, tc.wantName, tc.wantService)
		}
	}
}

func TestBatchString(t *testing.T) {
	for b, want := range map[Batch]string{
		{Kind: BatchResolve}:                                            "resolve",
		{Kind: BatchDrain, Cluster: "c1"}:                               "drain/c1",
		{Kind: BatchTasks, Cluster: "c1"}:                               "tasks/c1",
		{Kind: BatchList, Cluster: "c1", ContainerInstance: "arn:ci/1"}: "list/arn:ci/1",
		{Kind: BatchKind(9), Cluster: "c1"}:                             "unknown/c1",
	} {
		if got := b.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", b, got, want)
		}
	}
}

// TestTaskDescribesShared: the tasks several instances wait for are described in one DescribeTasks
// call, each instance is woken, and a task ECS reports MISSING counts as STOPPED.
func TestTaskDescribesShared(t *testing.T) {
	f := newFleet(t, 2, false)
	regs := f.lookUpAll(t)
	ctx := t.Context()
	td, err := f.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("job"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(128)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("c1"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn, Count: aws.Int32(4)}); err != nil {
		t.Fatal(err)
	}
	f.clock.Step(time.Second)
	f.sim.Step()
	f.woken = nil
	var asked []string
	for _, id := range f.ids {
		arns, err := f.view.ListTasks(ctx, regs[id].Cluster, regs[id].ARN, ecstypes.DesiredStatusRunning)
		if err != nil {
			t.Fatal(err)
		}
		asked = append(asked, arns...)
		f.view.RequestTaskDescribe(regs[id].Cluster, arns, id)
	}
	gone := strings.Replace(asked[0], asked[0][len(asked[0])-8:], "00000000", 1)
	f.view.RequestTaskDescribe(regs[f.ids[0]].Cluster, []string{gone}, f.ids[0])
	asked = append(asked, gone)
	before := f.calls()
	f.flushScheduled()
	if got, want := f.callsSince(before), map[string]int{"DescribeTasks": 1}; !sameCalls(got, want) {
		t.Errorf("describe calls %v, want %v", got, want)
	}
	if slices.Sort(f.woken); !slices.Equal(slices.Compact(f.woken), f.ids) {
		t.Errorf("woken %v, want %v", f.woken, f.ids)
	}
	tasks, ok := f.view.TaskDescriptions(asked, f.clock.Now())
	if !ok || len(tasks) != 5 {
		t.Fatalf("TaskDescriptions = %d tasks, %v; want 5", len(tasks), ok)
	}
	for _, task := range tasks {
		if task.Stopped() != (task.ARN == gone) {
			t.Errorf("task %s stopped %v (last status %q)", task.ARN, task.Stopped(), task.LastStatus)
		}
	}
}

// TestTaskListRunsApart: a listing of the tasks told to stop is a batch of its own; one ListTasks
// answers every request filed before it and wakes each requester; an answer older than a request
// does not serve it; an answer is kept until its instance is released, however late it is taken;
// a released instance's listing makes no call.
func TestTaskListRunsApart(t *testing.T) {
	f := newFleet(t, 2, false)
	regs := f.lookUpAll(t)
	a, b := f.ids[0], f.ids[1]
	f.woken = nil
	requested := f.clock.Now()
	f.view.RequestTaskList(regs[a].Cluster, regs[a].ARN, a)
	f.view.RequestTaskList(regs[a].Cluster, regs[a].ARN, "other")
	want := Batch{Kind: BatchList, Cluster: regs[a].Cluster, ContainerInstance: regs[a].ARN}
	if got := slices.Compact(slices.Clone(f.scheduled)); !slices.Equal(got, []Batch{want}) {
		t.Fatalf("scheduled %v, want only %v", got, want)
	}
	if _, ok := f.view.TaskList(regs[a].ARN, requested); ok {
		t.Fatal("TaskList answered before the listing ran")
	}
	before := f.calls()
	f.flushScheduled()
	if got, want := f.callsSince(before), map[string]int{"ListTasks": 1}; !sameCalls(got, want) {
		t.Errorf("listing calls %v, want %v", got, want)
	}
	if slices.Sort(f.woken); !slices.Equal(f.woken, []string{a, "other"}) {
		t.Errorf("woken %v, want %v", f.woken, []string{a, "other"})
	}
	if l, ok := f.view.TaskList(regs[a].ARN, requested); !ok || l.ARNs != nil || l.At.Before(requested) {
		t.Errorf("TaskList = %+v, %v; want no task, listed at or after the request", l, ok)
	}
	f.clock.Step(time.Second)
	if _, ok := f.view.TaskList(regs[a].ARN, f.clock.Now()); ok {
		t.Error("a listing older than the request answered it")
	}

	// Taken late (the instance's reconciles held up for many polls, other listings made
	// meanwhile), the answer is still there: the instance would otherwise list again, and again.
	f.clock.Step(100 * f.view.d.PollInterval)
	f.view.RequestTaskList(regs[b].Cluster, regs[b].ARN, b)
	f.flushScheduled()
	if _, ok := f.view.TaskList(regs[a].ARN, requested); !ok {
		t.Error("a listing not yet taken was dropped after a while")
	}
	f.view.Release(b, regs[b], nil)

	// Released before its listing ran: no call, no answer, nobody woken.
	f.woken = nil
	f.view.RequestTaskList(regs[b].Cluster, regs[b].ARN, b)
	f.view.Release(b, regs[b], nil)
	before = f.calls()
	f.flushScheduled()
	if got := f.callsSince(before); len(got) != 0 {
		t.Errorf("listing of a released instance made calls %v", got)
	}
	if len(f.woken) != 0 {
		t.Errorf("woken %v, want nobody", f.woken)
	}
}

// TestDrainTag: a filed tag is written by its batch (once, then reported written); one cancelled
// (the start found tagged by another replica) or released (the drain ended) before its batch runs is
// never sent, and a written tag is forgotten with its instance.
func TestDrainTag(t *testing.T) {
	f := newFleet(t, 3, false)
	regs := f.lookUpAll(t)
	const value = "2026-03-01T12:00:00Z"
	written, cancelled, released := regs[f.ids[0]], regs[f.ids[1]], regs[f.ids[2]]
	for _, r := range []Registration{written, cancelled, released} {
		f.view.RequestDrainTag(r.Cluster, r.ARN, value)
		if w, pending := f.view.DrainTagStatus(r.ARN); w || !pending {
			t.Fatalf("%s: just filed, want pending and not written", r.ARN)
		}
	}
	f.view.CancelDrainTag(cancelled.ARN)
	f.view.Release(f.ids[2], released, nil)
	before := f.calls()
	f.flushScheduled()
	if got := f.callsSince(before); !sameCalls(got, map[string]int{"TagResource": 1}) {
		t.Errorf("calls %v, want one TagResource: the cancelled and the released tag are not sent", got)
	}
	if w, pending := f.view.DrainTagStatus(written.ARN); !w || pending {
		t.Errorf("%s: after its batch, want written and not pending", written.ARN)
	}
	for _, r := range []Registration{cancelled, released} {
		if w, pending := f.view.DrainTagStatus(r.ARN); w || pending {
			t.Errorf("%s: want neither pending nor written", r.ARN)
		}
	}
	ci, err := f.view.ContainerInstance(t.Context(), written.Cluster, written.ARN, 0)
	if err != nil || ci.DrainTag != value {
		t.Errorf("container instance read back: tag %q, %v; want %q", ci.DrainTag, err, value)
	}
	f.view.Release(f.ids[0], written, nil)
	if w, _ := f.view.DrainTagStatus(written.ARN); w {
		t.Error("a released instance's tag is still reported written")
	}
}

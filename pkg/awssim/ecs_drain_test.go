package awssim

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"
)

// checkStopsCounted asserts that every STOPPED task in the model was counted exactly once.
func checkStopsCounted(t *testing.T, e *ecsEnv) {
	t.Helper()
	e.sim.mu.Lock()
	stopped := 0
	for _, tk := range e.sim.ecs.tasks {
		if !tk.live() {
			stopped++
		}
	}
	e.sim.mu.Unlock()
	counted := 0
	for _, n := range e.sim.Stats().TasksStoppedByReason {
		counted += n
	}
	if stopped != counted {
		t.Errorf("%d tasks are STOPPED but %d stops were counted", stopped, counted)
	}
}

// TestECSDrainWithReplacement drains an instance holding two service tasks: replacements start
// elsewhere first, then the drained tasks stop, taking their stop timeout. While they stop they
// are in neither of the instance's counts, yet not STOPPED.
func TestECSDrainWithReplacement(t *testing.T) {
	e := newECSEnv(t, Options{TaskStartDelay: time.Second})
	ctx := t.Context()
	e.createCluster("prod")
	td := e.taskDef("web", 10)
	a := e.register("prod", "i-a", 4)
	e.service("prod", "web", td, 2, 100, 200)
	e.settle(time.Second, 2)
	b := e.register("prod", "i-b", 4)

	e.drain("prod", a)
	if got := aws.ToString(e.describeInstance("prod", a).Status); got != "DRAINING" {
		t.Fatalf("status = %s, want DRAINING", got)
	}
	e.advance(time.Second) // replacements placed on b
	if st := byLastStatus(e.tasksOn("prod", b)); st["PENDING"] != 2 {
		t.Errorf("on b: %v, want 2 PENDING replacements", st)
	}
	if st := byLastStatus(e.tasksOn("prod", a)); st["RUNNING"] != 2 {
		t.Errorf("on a: %v, want 2 RUNNING until the replacements run (minimumHealthyPercent 100)", st)
	}
	checkDrainStopping(t, e, a)

	e.advance(9 * time.Second)
	if st := byLastStatus(e.tasksOn("prod", a)); st["STOPPED"] != 0 {
		t.Errorf("on a after 9s: %v, want none STOPPED before the 10s stop timeout", st)
	}
	e.advance(time.Second)
	if st := byLastStatus(e.tasksOn("prod", a)); st["STOPPED"] != 2 || len(st) != 1 {
		t.Errorf("on a after 10s: %v, want 2 STOPPED", st)
	}
	svc, err := e.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
	must(t, err)
	if got := svc.Services[0].RunningCount; got != 2 {
		t.Errorf("service runningCount = %d, want 2", got)
	}
	if diff := cmp.Diff(map[string]int{StopReasonDraining: 2}, e.sim.Stats().TasksStoppedByReason); diff != "" {
		t.Errorf("TasksStoppedByReason (-want +got):\n%s", diff)
	}
	// The instance stays DRAINING until someone changes it.
	if got := aws.ToString(e.describeInstance("prod", a).Status); got != "DRAINING" {
		t.Errorf("status after the drain = %s, want DRAINING", got)
	}
	checkStopsCounted(t, e)
}

// checkDrainStopping advances to when the replacements run and checks the drained instance's
// tasks are stopping: its counts are zero and ListTasks lists none, though the drain is not done.
func checkDrainStopping(t *testing.T, e *ecsEnv, a string) {
	t.Helper()
	ctx := t.Context()
	e.advance(time.Second) // replacements run, drained tasks start stopping
	ci := e.describeInstance("prod", a)
	if ci.RunningTasksCount != 0 || ci.PendingTasksCount != 0 {
		t.Errorf("a running/pending = %d/%d, want 0/0", ci.RunningTasksCount, ci.PendingTasksCount)
	}
	onA := e.tasksOn("prod", a)
	if st := byLastStatus(onA); st["STOPPING"] != 2 {
		t.Errorf("on a: %v, want 2 STOPPING: counts are zero but the drain is not done", st)
	}
	running, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod"), ContainerInstance: aws.String(a)})
	must(t, err)
	if len(running.TaskArns) != 0 {
		t.Errorf("ListTasks RUNNING on a = %v, want none (stopping tasks are listed under STOPPED)", running.TaskArns)
	}
	for _, tk := range onA {
		if aws.ToString(tk.DesiredStatus) != "STOPPED" || tk.StopCode != types.TaskStopCodeServiceSchedulerInitiated || !strings.Contains(aws.ToString(tk.StoppedReason), "draining") {
			t.Errorf("drained task desired %s code %s reason %q", aws.ToString(tk.DesiredStatus), tk.StopCode, aws.ToString(tk.StoppedReason))
		}
	}
}

// TestECSDrainPacing drains an instance under several deployment configurations and capacities,
// checking the service never drops under minimumHealthyPercent and where the drain ends.
func TestECSDrainPacing(t *testing.T) {
	tests := []struct {
		name           string
		desired        int32
		minPct, maxPct int32
		otherSlots     int // slots on the second instance; 0 means no second instance
		wantMoved      int // tasks that end on the other instance
		wantEvent      string
	}{
		{name: "replace first at 100/200", desired: 4, minPct: 100, maxPct: 200, otherSlots: 4, wantMoved: 4},
		{name: "stop half first at 50/100", desired: 4, minPct: 50, maxPct: 100, otherSlots: 4, wantMoved: 4},
		{name: "stalls at 100/100", desired: 2, minPct: 100, maxPct: 100, otherSlots: 4, wantMoved: 0},
		{name: "stalls without capacity", desired: 2, minPct: 100, maxPct: 200, otherSlots: 0, wantMoved: 0, wantEvent: "unable to place a task"},
		{name: "partial capacity", desired: 4, minPct: 100, maxPct: 200, otherSlots: 2, wantMoved: 2, wantEvent: "unable to place a task"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newECSEnv(t, Options{StopTimeoutScale: 0.1})
			ctx := t.Context()
			e.createCluster("prod")
			td := e.taskDef("web", 0) // 30s, scaled to 3s
			a := e.register("prod", "i-a", int(tt.desired))
			e.service("prod", "web", td, tt.desired, tt.minPct, tt.maxPct)
			e.settle(time.Second, 2)
			b := ""
			if tt.otherSlots > 0 {
				b = e.register("prod", "i-b", tt.otherSlots)
			}
			e.drain("prod", a)
			minHealthy := (int(tt.desired)*int(tt.minPct) + 99) / 100
			for step := range 60 {
				e.advance(time.Second)
				svc, err := e.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
				must(t, err)
				if got := int(svc.Services[0].RunningCount); got < minHealthy {
					t.Fatalf("step %d: runningCount %d under minimumHealthyPercent (%d)", step, got, minHealthy)
				}
				if got, limit := int(svc.Services[0].RunningCount+svc.Services[0].PendingCount), int(tt.desired*tt.maxPct/100); got > limit {
					t.Fatalf("step %d: %d tasks running or pending, over maximumPercent (%d)", step, got, limit)
				}
			}
			moved := 0
			if b != "" {
				moved = byLastStatus(e.tasksOn("prod", b))["RUNNING"]
			}
			stillOnA := byLastStatus(e.tasksOn("prod", a))["RUNNING"]
			if moved != tt.wantMoved || stillOnA != int(tt.desired)-tt.wantMoved {
				t.Errorf("running on b = %d, on a = %d; want %d and %d", moved, stillOnA, tt.wantMoved, int(tt.desired)-tt.wantMoved)
			}
			if got := e.sim.Stats().TasksStoppedByReason[StopReasonDraining]; got != tt.wantMoved {
				t.Errorf("draining stops = %d, want %d", got, tt.wantMoved)
			}
			if tt.wantEvent != "" {
				svc, err := e.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
				must(t, err)
				found := false
				for _, ev := range svc.Services[0].Events {
					found = found || strings.Contains(aws.ToString(ev.Message), tt.wantEvent)
				}
				if !found {
					t.Errorf("no service event containing %q", tt.wantEvent)
				}
			}
			checkStopsCounted(t, e)
		})
	}
}

// TestECSDrainLeavesStandaloneTasks: DRAINING never stops a task no service owns.
func TestECSDrainLeavesStandaloneTasks(t *testing.T) {
	e := newECSEnv(t, Options{StopTimeoutScale: 0.1})
	ctx := t.Context()
	e.createCluster("prod")
	td := e.taskDef("web", 0)
	a := e.register("prod", "i-a", 4)
	e.service("prod", "web", td, 1, 100, 200)
	_, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), StartedBy: aws.String("cron")})
	must(t, err)
	e.settle(time.Second, 2)
	e.register("prod", "i-b", 4)
	e.drain("prod", a)
	e.settle(time.Minute, 60)

	tasks := e.tasksOn("prod", a)
	if st := byLastStatus(tasks); st["RUNNING"] != 1 || st["STOPPED"] != 1 {
		t.Errorf("on a: %v, want the standalone task RUNNING and the service task STOPPED", st)
	}
	for _, tk := range tasks {
		if aws.ToString(tk.LastStatus) == "RUNNING" && aws.ToString(tk.StartedBy) != "cron" {
			t.Errorf("the task left running was started by %s, want cron", aws.ToString(tk.StartedBy))
		}
	}
	if ci := e.describeInstance("prod", a); ci.RunningTasksCount != 1 {
		t.Errorf("runningTasksCount = %d, want 1", ci.RunningTasksCount)
	}
	if diff := cmp.Diff(map[string]int{StopReasonDraining: 1}, e.sim.Stats().TasksStoppedByReason); diff != "" {
		t.Errorf("TasksStoppedByReason (-want +got):\n%s", diff)
	}
}

// TestECSDaemonTasksStopLast: on a draining instance the daemon task stops only after every other
// task there has stopped, and no daemon is placed on a draining instance.
func TestECSDaemonTasksStopLast(t *testing.T) {
	e := newECSEnv(t, Options{StopTimeoutScale: 1})
	ctx := t.Context()
	e.createCluster("prod")
	web := e.taskDef("web", 10)
	agent := e.taskDef("agent", 5)
	a := e.register("prod", "i-a", 1)
	out, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("agent"), TaskDefinition: aws.String(agent),
		SchedulingStrategy: types.SchedulingStrategyDaemon,
	})
	must(t, err)
	if dc := out.Service.DeploymentConfiguration; aws.ToInt32(dc.MinimumHealthyPercent) != 0 || aws.ToInt32(dc.MaximumPercent) != 100 {
		t.Errorf("daemon defaults min %d max %d, want 0/100", aws.ToInt32(dc.MinimumHealthyPercent), aws.ToInt32(dc.MaximumPercent))
	}
	// One slot: the daemon does not take it, so the web task fits too.
	e.service("prod", "web", web, 1, 0, 100)
	e.settle(time.Second, 2)
	if st := byLastStatus(e.tasksOn("prod", a)); st["RUNNING"] != 2 {
		t.Fatalf("on a: %v, want the daemon and the web task RUNNING", st)
	}
	b := e.register("prod", "i-b", 1)
	e.settle(time.Second, 2)

	e.drain("prod", a)
	daemonOn := func(ci string) types.Task {
		for _, tk := range e.tasksOn("prod", ci) {
			if aws.ToString(tk.Group) == "service:agent" && aws.ToString(tk.DesiredStatus) == "RUNNING" {
				return tk
			}
		}
		return types.Task{}
	}
	// The web task stops (min 0: at once) and takes 10s; the daemon waits for it.
	for range 10 {
		e.advance(time.Second)
		if tk := daemonOn(a); aws.ToString(tk.LastStatus) != "RUNNING" {
			t.Fatalf("daemon on a is %q while the web task is still stopping", aws.ToString(tk.LastStatus))
		}
	}
	e.advance(time.Second)
	if st := byLastStatus(e.tasksOn("prod", a)); st["STOPPED"] != 1 || st["STOPPING"] != 1 {
		t.Errorf("on a once the web task stopped: %v, want it STOPPED and the daemon stopping", st)
	}
	e.settle(time.Second, 6)
	if st := byLastStatus(e.tasksOn("prod", a)); st["STOPPED"] != 2 {
		t.Errorf("on a at the end: %v, want both STOPPED", st)
	}
	if tk := daemonOn(b); aws.ToString(tk.LastStatus) != "RUNNING" {
		t.Errorf("daemon on b is %q, want RUNNING", aws.ToString(tk.LastStatus))
	}
	svc, err := e.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"agent", "web"}})
	must(t, err)
	if got := [2]int32{svc.Services[0].DesiredCount, svc.Services[1].RunningCount}; got != [2]int32{1, 1} {
		t.Errorf("daemon desiredCount / web runningCount = %v, want [1 1]", got)
	}
	if diff := cmp.Diff(map[string]int{StopReasonDraining: 2}, e.sim.Stats().TasksStoppedByReason); diff != "" {
		t.Errorf("TasksStoppedByReason (-want +got):\n%s", diff)
	}
}

// TestECSDaemonWaitsForStandaloneTasks: a standalone task on a draining instance keeps its daemon.
func TestECSDaemonWaitsForStandaloneTasks(t *testing.T) {
	e := newECSEnv(t, Options{})
	ctx := t.Context()
	e.createCluster("prod")
	td := e.taskDef("job", 0)
	a := e.register("prod", "i-a", 1)
	_, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("agent"), TaskDefinition: aws.String(td),
		SchedulingStrategy: types.SchedulingStrategyDaemon,
	})
	must(t, err)
	_, err = e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})
	must(t, err)
	e.settle(time.Second, 2)
	e.drain("prod", a)
	e.settle(time.Minute, 10)
	if st := byLastStatus(e.tasksOn("prod", a)); st["RUNNING"] != 2 {
		t.Errorf("on a: %v, want the job and the daemon still RUNNING", st)
	}
}

// TestECSHostTermination: terminating the host kills every task not yet STOPPED, counted as
// host_terminated, and the service re-places them.
func TestECSHostTermination(t *testing.T) {
	e := newECSEnv(t, Options{StopTimeoutScale: 1})
	ctx := t.Context()
	e.createCluster("prod")
	td := e.taskDef("web", 30)
	a := e.register("prod", "i-a", 4)
	e.service("prod", "web", td, 2, 100, 200)
	run, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})
	must(t, err)
	e.settle(time.Second, 2)
	_, err = e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: run.Tasks[0].TaskArn})
	must(t, err)
	b := e.register("prod", "i-b", 4)

	if n := e.terminate("i-a"); n != 3 {
		t.Errorf("hostTerminated = %d, want 3 (two running and one stopping)", n)
	}
	if n := e.terminate("i-a"); n != 0 {
		t.Errorf("second hostTerminated = %d, want 0", n)
	}
	if n := e.terminate("i-unknown"); n != 0 {
		t.Errorf("hostTerminated of an unregistered instance = %d, want 0", n)
	}
	for _, tk := range e.tasksOn("prod", a) {
		if aws.ToString(tk.LastStatus) != "STOPPED" || tk.StopCode != types.TaskStopCodeTerminationNotice || aws.ToString(tk.StoppedReason) != "Host EC2 (instance i-a) terminated." {
			t.Errorf("task on the dead host: %s %s %q", aws.ToString(tk.LastStatus), tk.StopCode, aws.ToString(tk.StoppedReason))
		}
	}
	ci := e.describeInstance("prod", a)
	if aws.ToString(ci.Status) != "INACTIVE" || ci.AgentConnected {
		t.Errorf("dead host status %s connected %v, want INACTIVE false", aws.ToString(ci.Status), ci.AgentConnected)
	}
	list, err := e.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod")})
	must(t, err)
	if diff := cmp.Diff([]string{b}, list.ContainerInstanceArns); diff != "" {
		t.Errorf("ListContainerInstances (-want +got):\n%s", diff)
	}
	e.settle(time.Second, 2)
	if st := byLastStatus(e.tasksOn("prod", b)); st["RUNNING"] != 2 {
		t.Errorf("on b: %v, want the service's 2 tasks re-placed", st)
	}
	if diff := cmp.Diff(map[string]int{StopReasonHostTerminated: 3}, e.sim.Stats().TasksStoppedByReason); diff != "" {
		t.Errorf("TasksStoppedByReason (-want +got):\n%s", diff)
	}
	checkStopsCounted(t, e)
	// INACTIVE instances are forgotten once the retention has passed.
	e.advance(2 * time.Hour)
	out, err := e.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("prod"), ContainerInstances: []string{a}})
	must(t, err)
	if len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
		t.Errorf("after retention: %d instances, failures %+v; want MISSING", len(out.ContainerInstances), out.Failures)
	}
}

func TestECSRegisterIntoUnknownCluster(t *testing.T) {
	e := newECSEnv(t, Options{})
	e.sim.mu.Lock()
	e.sim.ecs.registerInstance("nope", "i-1", 4, e.clock.Now())
	n := len(e.sim.ecs.instances)
	e.sim.mu.Unlock()
	if n != 0 {
		t.Errorf("an instance registered into a missing cluster: %d container instances", n)
	}
}

// TestECSReactivate: DRAINING back to ACTIVE makes the instance schedulable again; instances that
// are neither ACTIVE nor DRAINING cannot change.
func TestECSReactivate(t *testing.T) {
	e := newECSEnv(t, Options{})
	ctx := t.Context()
	e.createCluster("prod")
	td := e.taskDef("job", 0)
	a := e.register("prod", "i-a", 2)
	dead := e.register("prod", "i-dead", 2)
	e.terminate("i-dead")
	e.drain("prod", a)
	_, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})
	if errorCode(err) != "InvalidParameterException" {
		t.Errorf("RunTask with only a draining instance: %v, want InvalidParameterException", err)
	}
	before := e.describeInstance("prod", a).Version
	out, err := e.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String("prod"), ContainerInstances: []string{a, dead, "0123456789abcdef0123456789abcdef"}, Status: types.ContainerInstanceStatusActive,
	})
	must(t, err)
	if len(out.ContainerInstances) != 1 || aws.ToString(out.ContainerInstances[0].Status) != "ACTIVE" || out.ContainerInstances[0].Version != before+1 {
		t.Errorf("updated = %+v, want a ACTIVE with version %d", out.ContainerInstances, before+1)
	}
	var reasons []string
	for _, f := range out.Failures {
		reasons = append(reasons, aws.ToString(f.Reason))
	}
	if diff := cmp.Diff([]string{"INVALID_STATE", "MISSING"}, reasons); diff != "" {
		t.Errorf("failure reasons (-want +got):\n%s", diff)
	}
	run, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})
	must(t, err)
	if len(run.Tasks) != 1 || aws.ToString(run.Tasks[0].ContainerInstanceArn) != a {
		t.Errorf("RunTask after reactivation placed %d tasks, failures %v", len(run.Tasks), run.Failures)
	}
}

// TestECSForcedDeregistration: deregistering with tasks needs force, orphans them (ECS shows them
// STOPPED and the service replaces them) and they die, counted, when the host terminates.
func TestECSForcedDeregistration(t *testing.T) {
	e := newECSEnv(t, Options{})
	ctx := t.Context()
	e.createCluster("prod")
	td := e.taskDef("web", 0)
	a := e.register("prod", "i-a", 2)
	e.service("prod", "web", td, 2, 100, 200)
	e.settle(time.Second, 2)
	b := e.register("prod", "i-b", 2)

	_, err := e.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("prod"), ContainerInstance: aws.String(a)})
	if errorCode(err) != "InvalidParameterException" {
		t.Errorf("deregistering with tasks, no force: %v, want InvalidParameterException", err)
	}
	out, err := e.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("prod"), ContainerInstance: aws.String(a), Force: aws.Bool(true)})
	must(t, err)
	if aws.ToString(out.ContainerInstance.Status) != "INACTIVE" {
		t.Errorf("status = %s, want INACTIVE", aws.ToString(out.ContainerInstance.Status))
	}
	if st := byLastStatus(e.tasksOn("prod", a)); st["STOPPED"] != 2 {
		t.Errorf("orphaned tasks show %v, want 2 STOPPED", st)
	}
	e.settle(time.Second, 2)
	if st := byLastStatus(e.tasksOn("prod", b)); st["RUNNING"] != 2 {
		t.Errorf("on b: %v, want 2 replacements RUNNING", st)
	}
	if got := len(e.sim.Stats().TasksStoppedByReason); got != 0 {
		t.Errorf("orphans counted before their host died: %v", e.sim.Stats().TasksStoppedByReason)
	}
	if n := e.terminate("i-a"); n != 2 {
		t.Errorf("hostTerminated = %d, want the 2 orphans", n)
	}
	if diff := cmp.Diff(map[string]int{StopReasonHostTerminated: 2}, e.sim.Stats().TasksStoppedByReason); diff != "" {
		t.Errorf("TasksStoppedByReason (-want +got):\n%s", diff)
	}
}

func TestECSGauges(t *testing.T) {
	e := newECSEnv(t, Options{})
	e.createCluster("prod")
	td := e.taskDef("job", 0)
	a := e.register("prod", "i-a", 3)
	e.register("prod", "i-b", 3)
	e.register("prod", "i-c", 3)
	e.terminate("i-c")
	e.drain("prod", a)
	_, err := e.ecs.RunTask(t.Context(), &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Count: aws.Int32(2)})
	must(t, err)
	e.advance(time.Millisecond) // refresh gauges, tasks still PENDING
	families, err := e.sim.Registry().Gather()
	must(t, err)
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "awssim_container_instances" && f.GetName() != "awssim_tasks" {
			continue
		}
		for _, m := range f.GetMetric() {
			got[f.GetName()+"/"+m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"awssim_container_instances/ACTIVE":   1,
		"awssim_container_instances/DRAINING": 1,
		"awssim_container_instances/INACTIVE": 1,
		"awssim_tasks/PENDING":                2,
		"awssim_tasks/RUNNING":                0, // every state is present, at 0 when empty
		"awssim_tasks/STOPPING":               0,
		"awssim_tasks/STOPPED":                0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("gauges (-want +got):\n%s", diff)
	}
}

// TestECSTimeline: draining starts an instance's timeline; stops on it are recorded there, stops
// on instances not on their way out are not.
func TestECSTimeline(t *testing.T) {
	e := newECSEnv(t, Options{StopTimeoutScale: 0.1})
	ctx := t.Context()
	e.createCluster("prod")
	td := e.taskDef("web", 0) // stops in 3s
	a := e.register("prod", "i-a", 2)
	run, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Count: aws.Int32(2)})
	must(t, err)
	e.register("prod", "i-b", 2)
	onB, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})
	must(t, err)
	e.advance(time.Second)
	drainedAt := e.clock.Now()
	e.drain("prod", a)
	e.drain("prod", a) // already DRAINING: the first time stands
	e.advance(time.Second)
	for _, tk := range append(run.Tasks, onB.Tasks...) {
		_, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: tk.TaskArn})
		must(t, err)
	}
	stoppingAt := e.clock.Now()
	e.settle(time.Second, 5)
	want := []Timeline{{InstanceID: "i-a", DrainingAt: drainedAt, LastTaskStoppedAt: stoppingAt.Add(3 * time.Second)}}
	if diff := cmp.Diff(want, e.sim.Timelines()); diff != "" {
		t.Errorf("Timelines (-want +got):\n%s", diff)
	}
}

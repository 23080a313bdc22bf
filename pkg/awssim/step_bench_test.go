package awssim_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// taskFleetShape is a fleet of identical clusters of identical groups, each instance holding 4
// task slots, each cluster running one replica service of tasksPerInstance tasks per instance,
// every group with a terminating hook.
type taskFleetShape struct {
	clusters, groupsPerCluster, perGroup, tasksPerInstance int
}

func (s taskFleetShape) instances() int { return s.clusters * s.groupsPerCluster * s.perGroup }

// fleet10k is 10 clusters of 10 groups × 100 instances and 30,000 tasks.
var fleet10k = taskFleetShape{clusters: 10, groupsPerCluster: 10, perGroup: 100, tasksPerInstance: 3}

// fleet50k is the shape of issue 11: 50 clusters of 10 groups × 100 instances and 150,000 tasks.
var fleet50k = taskFleetShape{clusters: 50, groupsPerCluster: 10, perGroup: 100, tasksPerInstance: 3}

// buildTaskFleet builds the fleet through the SDK and steps the model until every task runs.
func buildTaskFleet(b *testing.B, shape taskFleetShape) *asgEnv {
	b.Helper()
	e := newASGEnv(b, awssim.Options{})
	ec := e.newECSClient()
	ctx := b.Context()
	for c := range shape.clusters {
		cluster := fmt.Sprintf("c%02d", c)
		if _, err := ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
			b.Fatal(err)
		}
		for g := range shape.groupsPerCluster {
			name := fmt.Sprintf("%s-g%02d", cluster, g)
			e.createGroup(name, int32(shape.perGroup), map[string]string{"awssim:ecs-cluster": cluster, "awssim:task-slots": "4"})
			e.putHook(name, "drain", terminating, 300, "CONTINUE")
		}
	}
	td, err := ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("web"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(128)}},
	})
	if err != nil {
		b.Fatal(err)
	}
	e.advance(launchDelay)
	e.advance(registerDelay)
	perCluster := shape.groupsPerCluster * shape.perGroup * shape.tasksPerInstance
	for c := range shape.clusters {
		if _, err := ec.CreateService(ctx, &ecs.CreateServiceInput{
			Cluster: aws.String(fmt.Sprintf("c%02d", c)), ServiceName: aws.String("web"),
			TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(int32(perCluster)),
		}); err != nil {
			b.Fatal(err)
		}
	}
	e.advance(time.Second) // places every task
	e.advance(time.Second) // starts them
	if running := e.gauge("awssim_tasks", "RUNNING"); running != float64(perCluster*shape.clusters) {
		b.Fatalf("%v tasks RUNNING, want %d", running, perCluster*shape.clusters)
	}
	return e
}

// gauge reads one series of a gauge from the simulator's registry, by its first label's value.
func (e *asgEnv) gauge(name, label string) float64 {
	e.t.Helper()
	mfs, err := e.sim.Registry().Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == name && m.GetLabel()[0].GetValue() == label {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// scaleInEach lowers every group's desired capacity by n, holding n instances of each group in
// Terminating:Wait.
func (e *asgEnv) scaleInEach(shape taskFleetShape, n int) {
	for c := range shape.clusters {
		for g := range shape.groupsPerCluster {
			e.setDesired(fmt.Sprintf("c%02d-g%02d", c, g), int32(shape.perGroup-n))
		}
	}
	e.advance(time.Second)
}

// newTaskFleet builds fleet10k and scales each group in by 10, holding 1,000 instances in
// Terminating:Wait.
func newTaskFleet(b *testing.B) *asgEnv {
	b.Helper()
	e := buildTaskFleet(b, fleet10k)
	e.scaleInEach(fleet10k, 10)
	return e
}

// BenchmarkStep10k30kTasks measures one model tick of both services at 10,000 instances and
// 30,000 tasks, 1,000 instances waiting on a hook.
func BenchmarkStep10k30kTasks(b *testing.B) {
	e := newTaskFleet(b)
	for b.Loop() {
		e.clock.Step(50 * time.Millisecond)
		e.sim.Step()
	}
}

// BenchmarkBuild50k measures building fleet50k (50,000 instances, 150,000 tasks) through the SDK
// on a fake clock: the simulator's share of the benchmark's fleet build.
func BenchmarkBuild50k(b *testing.B) {
	for b.Loop() {
		buildTaskFleet(b, fleet50k)
	}
	b.ReportMetric(float64(fleet50k.instances()), "instances")
}

// BenchmarkStep50kIdle measures one model tick of fleet50k with nothing changing.
func BenchmarkStep50kIdle(b *testing.B) {
	e := buildTaskFleet(b, fleet50k)
	for b.Loop() {
		e.clock.Step(50 * time.Millisecond)
		e.sim.Step()
	}
}

// BenchmarkStep50kWaiting measures one model tick of fleet50k with 5,000 instances waiting on a
// hook (10 per group) and nothing else changing.
func BenchmarkStep50kWaiting(b *testing.B) {
	e := buildTaskFleet(b, fleet50k)
	e.scaleInEach(fleet50k, 10)
	for b.Loop() {
		e.clock.Step(50 * time.Millisecond)
		e.sim.Step()
	}
}

// BenchmarkStep50kDraining measures the ticks of fleet50k just after 5,000 instances waiting on a
// hook (10 per group) are set DRAINING: the scheduler moves their tasks, which stop and start.
// It reports the mean over the ticks run, from the first.
func BenchmarkStep50kDraining(b *testing.B) {
	e := buildTaskFleet(b, fleet50k)
	e.scaleInEach(fleet50k, 10)
	e.drainWaiting(fleet50k)
	for b.Loop() {
		e.clock.Step(50 * time.Millisecond)
		e.sim.Step()
	}
}

// drainWaiting sets the container instances of every instance in Terminating:Wait DRAINING, as
// the controller would.
func (e *asgEnv) drainWaiting(shape taskFleetShape) {
	e.t.Helper()
	ec := e.newECSClient()
	for c := range shape.clusters {
		cluster := fmt.Sprintf("c%02d", c)
		var waiting []string
		for g := range shape.groupsPerCluster {
			for id, st := range e.states(fmt.Sprintf("%s-g%02d", cluster, g)) {
				if st == "Terminating:Wait" {
					waiting = append(waiting, id)
				}
			}
		}
		for chunk := range slices.Chunk(waiting, 100) {
			list, err := ec.ListContainerInstances(e.t.Context(), &ecs.ListContainerInstancesInput{
				Cluster: aws.String(cluster), Filter: aws.String("ec2InstanceId in [" + strings.Join(chunk, ",") + "]"),
			})
			if err != nil {
				e.t.Fatal(err)
			}
			for arns := range slices.Chunk(list.ContainerInstanceArns, 10) {
				if _, err := ec.UpdateContainerInstancesState(e.t.Context(), &ecs.UpdateContainerInstancesStateInput{
					Cluster: aws.String(cluster), ContainerInstances: arns, Status: ecstypes.ContainerInstanceStatusDraining,
				}); err != nil {
					e.t.Fatal(err)
				}
			}
		}
	}
}

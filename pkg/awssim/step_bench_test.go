package awssim_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// newTaskFleet builds 10 clusters of 10 groups × 100 instances (10,000 instances, 4 task slots
// each), every cluster running one service of 3,000 tasks (30,000 tasks), every group with a
// terminating hook. Then each group scales in by 10, holding 1,000 instances in Terminating:Wait.
func newTaskFleet(b *testing.B) *asgEnv {
	b.Helper()
	e := newASGEnv(b, awssim.Options{})
	ec := e.newECSClient()
	ctx := b.Context()
	const clusters, groupsPerCluster = 10, 10
	for c := range clusters {
		cluster := fmt.Sprintf("c%02d", c)
		if _, err := ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
			b.Fatal(err)
		}
		for g := range groupsPerCluster {
			name := fmt.Sprintf("%s-g%02d", cluster, g)
			e.createGroup(name, 100, map[string]string{"awssim:ecs-cluster": cluster, "awssim:task-slots": "4"})
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
	for c := range clusters {
		if _, err := ec.CreateService(ctx, &ecs.CreateServiceInput{
			Cluster: aws.String(fmt.Sprintf("c%02d", c)), ServiceName: aws.String("web"),
			TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(3000),
		}); err != nil {
			b.Fatal(err)
		}
	}
	e.advance(time.Second) // places every task
	e.advance(time.Second) // starts them
	for c := range clusters {
		for g := range groupsPerCluster {
			e.setDesired(fmt.Sprintf("c%02d-g%02d", c, g), 90)
		}
	}
	e.advance(time.Second)
	mfs, err := e.sim.Registry().Gather()
	if err != nil {
		b.Fatal(err)
	}
	running := 0.0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "awssim_tasks" && m.GetLabel()[0].GetValue() == "RUNNING" {
				running = m.GetGauge().GetValue()
			}
		}
	}
	if running != 30_000 {
		b.Fatalf("%v tasks RUNNING, want 30000", running)
	}
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

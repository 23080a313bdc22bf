package awssim_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// newFleet builds groups × perGroup instances, in service, each group with a terminating hook.
func newFleet(b *testing.B, groups int, perGroup int32) *asgEnv {
	b.Helper()
	e := newASGEnv(b, awssim.Options{})
	for i := range groups {
		name := fmt.Sprintf("g%03d", i)
		e.createGroup(name, perGroup, nil)
		e.putHook(name, "drain", terminating, 300, "CONTINUE")
	}
	e.advance(launchDelay)
	return e
}

// BenchmarkASGStep10k measures one model tick over 10,000 instances, 1,000 of them waiting on a hook.
func BenchmarkASGStep10k(b *testing.B) {
	e := newFleet(b, 100, 100)
	for i := range 100 {
		e.setDesired(fmt.Sprintf("g%03d", i), 90)
	}
	for b.Loop() {
		e.clock.Step(50 * time.Millisecond)
		e.sim.Step()
	}
}

// BenchmarkDescribeAutoScalingInstances10k measures one full page of DescribeAutoScalingInstances,
// and one page by 50 IDs, over HTTP against 10,000 instances.
func BenchmarkDescribeAutoScalingInstances10k(b *testing.B) {
	e := newFleet(b, 100, 100)
	ids := e.instanceIDs("g050")[:50]
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.client.DescribeAutoScalingInstances(b.Context(), &autoscaling.DescribeAutoScalingInstancesInput{MaxRecords: aws.Int32(50)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("by-id", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.client.DescribeAutoScalingInstances(b.Context(), &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: ids}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCompleteLifecycleAction10k measures completing by instance ID in a 10,000-instance fleet.
func BenchmarkCompleteLifecycleAction10k(b *testing.B) {
	e := newFleet(b, 100, 100)
	for b.Loop() {
		// Complete an action that does not exist: the same lookup, and the fleet stays unchanged.
		_, err := e.client.CompleteLifecycleAction(b.Context(), &autoscaling.CompleteLifecycleActionInput{
			AutoScalingGroupName: aws.String("g050"), LifecycleHookName: aws.String("drain"),
			InstanceId: aws.String("i-0aaaaaaaaaaaaaaaa"), LifecycleActionResult: aws.String("CONTINUE"),
		})
		if err == nil {
			b.Fatal("completed a missing action")
		}
	}
}

package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
)

// spotNotice is awssim's Spot notice in this test: shorter than AWS's two minutes to keep the test
// short. The controller still assumes two minutes; its Spot deadline (stop what runs 30 s before
// the reclaim) is proven on the simulated clock in pkg/reconciler (TestSpotWarningStopsTasksBeforeTheReclaim).
const spotNotice = 30 * time.Second

// spotFleet is one cluster with two managed groups of three instances, one with Capacity
// Rebalancing; a web service of one task per instance and one standalone task per instance
// (awssim spreads tasks by occupied slots, so each instance holds one of each).
func spotFleet() demo.Fleet {
	return demo.Fleet{Clusters: []demo.Cluster{{
		Name: "spot",
		ASGs: []demo.ASG{
			{Name: "spot-rebalancing", Min: 0, Desired: 3, Max: 6, TaskSlots: 4, Managed: true, HookHeartbeatTimeout: 300 * time.Second},
			{Name: "spot-plain", Min: 0, Desired: 3, Max: 6, TaskSlots: 4, Managed: true, HookHeartbeatTimeout: 300 * time.Second},
		},
		Services:        []demo.Service{{Name: "web", DesiredCount: 6, MinimumHealthyPercent: 50, MaximumPercent: 200}},
		StandaloneTasks: 6,
	}}}
}

// TestControllerSpotInterruption: Spot interruption warnings, delivered by EventBridge to the queue,
// for one instance of a group with Capacity Rebalancing (which starts terminating it through its
// hook at the warning) and one of a group without (which leaves it in service until EC2 reclaims it,
// then terminates it through its hook). The controller, on its default intervals, sets both DRAINING
// at once, stops their standalone tasks at once (the grace period is 5 minutes), lets ECS replace
// their service tasks elsewhere, and completes each action exactly once: every task STOPPED before
// its host went, none killed by the reclaim, no action expired, and the service back at its size.
func TestControllerSpotInterruption(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t, "--spot-notice", spotNotice.String())
	e.build(spotFleet())
	if _, err := e.as.UpdateAutoScalingGroup(t.Context(), &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("spot-rebalancing"), CapacityRebalance: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	queueURL := e.evSetUpQueue(evRules)
	ctrl := e.startController(append(slices.Clone(evDefaultIntervals), "--queue-url", queueURL)...)
	e.waitReady(ctrl)

	rebalancing := e.inState("spot-rebalancing", astypes.LifecycleStateInService)[0]
	plain := e.inState("spot-plain", astypes.LifecycleStateInService)[0]
	ids := []string{rebalancing, plain}
	for _, id := range ids {
		if n := len(e.tasksOn("spot", id)); n != 2 {
			t.Fatalf("%s runs %d tasks, want 2 (a web task and a standalone one)", id, n)
		}
	}
	warned := time.Now()
	for _, id := range ids {
		if err := evDebugPost(t, e.url+"/debug/spot/interrupt", id); err != nil {
			t.Fatalf("interrupting %s: %v", id, err)
		}
	}

	e.waitCtrlMetric(ctrl, "ecs_drainer_tasks_stopped_total", map[string]string{"policy": "spot_interruption"}, 2)
	e.waitTerminated(ids)
	st := e.stats()
	e.noHarm(st)
	e.completions(st, 2, 0)
	e.drainedOnce(ids)
	if st.SpotInterruptions != 1 {
		t.Errorf("instances reclaimed by EC2 = %d, want 1 (the group without Capacity Rebalancing waits for the reclaim)", st.SpotInterruptions)
	}
	tls := e.timelines()
	for _, id := range ids {
		tl := tls[id]
		t.Logf("%s: warning -> DRAINING %v, -> last task STOPPED %v, -> completed %v, -> terminated %v", id,
			tl.DrainingAt.Sub(warned).Round(time.Millisecond), tl.LastTaskStoppedAt.Sub(warned).Round(time.Millisecond),
			tl.CompletedAt.Sub(warned).Round(time.Millisecond), tl.TerminatedAt.Sub(warned).Round(time.Millisecond))
		if tl.LastTaskStoppedAt.After(warned.Add(spotNotice)) {
			t.Errorf("%s: last task stopped %v after the warning, want before the reclaim at %v", id, tl.LastTaskStoppedAt.Sub(warned), spotNotice)
		}
	}
	if got := tls[rebalancing].TerminatedAt.Sub(warned); got >= spotNotice {
		t.Errorf("instance of the Capacity Rebalancing group terminated %v after the warning, want before the reclaim", got)
	}
	if got := e.ctrlMetric(ctrl, "ecs_drainer_drain_timeouts_total", nil); got != 0 {
		t.Errorf("drain timeouts = %v, want 0: both drains finished well before the Spot deadline", got)
	}
	// The service's tasks were replaced elsewhere: it runs its desired count again.
	e.eventually("the web service back at its desired count", func() (bool, string) {
		out, err := e.ec.DescribeServices(t.Context(), &ecs.DescribeServicesInput{Cluster: aws.String("spot"), Services: []string{"web"}})
		if err != nil || len(out.Services) != 1 {
			return false, fmt.Sprintf("DescribeServices: %v", err)
		}
		svc := out.Services[0]
		return svc.RunningCount == svc.DesiredCount, fmt.Sprintf("running %d of %d", svc.RunningCount, svc.DesiredCount)
	})
	if n := ctrlLogLines(ctrl, "Drained early; waiting for termination"); n != 1 {
		t.Errorf("drained-early log lines = %d, want 1 (the instance of the group without Capacity Rebalancing)", n)
	}
}

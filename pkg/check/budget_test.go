package check

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
)

// TestAPICallBudget pins what one check costs on a fleet of 200 groups of 3 instances in 4
// clusters: one Auto Scaling listing call per 100 groups for the selection and one per 100 for
// the near misses, a DescribeLifecycleHooks per group, and per cluster one ListContainerInstances
// per 100 sampled instances (3 per group), a DescribeContainerInstances per 100 found, and three
// permission probes.
func TestAPICallBudget(t *testing.T) {
	fl := newFleet(t, nil)
	shape := demo.Shape{Clusters: 4, ASGsPerCluster: 50, InstancesPerASG: 3, TaskSlots: 2}
	f := demo.Uniform(shape)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := demo.Build(ctx, fl.fixtureAS, fl.fixtureECS, f); err != nil {
		t.Fatal(err)
	}
	if err := demo.WaitRegistered(ctx, fl.fixtureECS, f); err != nil {
		t.Fatal(err)
	}
	rep := fl.check(t, nil, nil, nil)
	if !rep.OK || len(rep.Groups) != 200 {
		t.Fatalf("OK = %v with %d groups, want true with 200", rep.OK, len(rep.Groups))
	}
	want := map[string]int{
		"autoscaling:DescribeAutoScalingGroups": 2 + 2,
		"autoscaling:DescribeLifecycleHooks":    200,
		"ecs:ListClusters":                      1,
		"ecs:ListContainerInstances":            4 * 6, // 600 sampled instances, 100 per filter
		"ecs:DescribeContainerInstances":        4 * 2, // 150 found per cluster, 100 per call
		"ecs:ListTasks":                         4,
		"ecs:DescribeTasks":                     4,
		"ecs:DescribeServices":                  4,
	}
	if !maps.Equal(rep.APICalls, want) {
		t.Errorf("API calls = %v\nwant %v", rep.APICalls, want)
	}
}

// Package checktest builds, through the SDK, the fleets that `ecs-drainer check` is tested on: one
// with every problem the check detects (Broken) and one with none (Good). The unit tests in
// pkg/check and the end-to-end tests over the real binary build the same fleets, against a
// simulator (it relies on awssim's awssim:ecs-cluster tag to register instances).
package checktest

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// AutoScalingAPI is the slice of the Auto Scaling client the builder uses.
type AutoScalingAPI interface {
	CreateAutoScalingGroup(ctx context.Context, params *autoscaling.CreateAutoScalingGroupInput, optFns ...func(*autoscaling.Options)) (*autoscaling.CreateAutoScalingGroupOutput, error)
	PutLifecycleHook(ctx context.Context, params *autoscaling.PutLifecycleHookInput, optFns ...func(*autoscaling.Options)) (*autoscaling.PutLifecycleHookOutput, error)
}

// ECSAPI is the slice of the ECS client the builder uses.
type ECSAPI interface {
	CreateCluster(ctx context.Context, params *ecs.CreateClusterInput, optFns ...func(*ecs.Options)) (*ecs.CreateClusterOutput, error)
	ListContainerInstances(ctx context.Context, params *ecs.ListContainerInstancesInput, optFns ...func(*ecs.Options)) (*ecs.ListContainerInstancesOutput, error)
}

// Names the fleets use.
const (
	Tag          = "ecs-drainer/enabled"
	HookName     = "ecs-drainer"
	ECSHook      = "ecs-managed-draining-termination-hook"
	clusterTag   = "awssim:ecs-cluster"
	terminating  = "autoscaling:EC2_INSTANCE_TERMINATING"
	launching    = "autoscaling:EC2_INSTANCE_LAUNCHING"
	instancesPer = 2
)

// Hook is one lifecycle hook of a group.
type Hook struct {
	name, transition string
	heartbeat        int32
	result           string
}

// Group is one Auto Scaling group of a fleet.
type Group struct {
	name    string
	cluster string            // "" registers nowhere
	tags    map[string]string // besides the cluster tag
	hooks   []Hook
}

func drainerHook(hb int32, result string) Hook { return Hook{HookName, terminating, hb, result} }

var selected = map[string]string{Tag: "true"}

// Good is a fleet the check passes: two tagged groups with one terminating hook each, registered
// in clusters web and batch, and an untagged group.
var Good = []Group{
	{name: "good", cluster: "web", tags: selected, hooks: []Hook{drainerHook(300, "CONTINUE")}},
	{name: "batch-good", cluster: "batch", tags: selected, hooks: []Hook{drainerHook(300, "CONTINUE")}},
	{name: "unmanaged", cluster: "web", hooks: []Hook{drainerHook(300, "CONTINUE")}},
}

// Broken is Good plus a group for every problem the check finds, checked with BrokenFlags. The
// comment on each says what the check must say.
var Broken = append(append([]Group{}, Good...),
	Group{name: "no-hook", cluster: "web", tags: selected}, // no-terminating-hook
	Group{name: "two-hooks", cluster: "web", tags: selected, hooks: []Hook{{"a", terminating, 300, "CONTINUE"}, {"b", terminating, 300, "CONTINUE"}}}, // several-terminating-hooks
	Group{name: "ecs-only", cluster: "web", tags: selected, hooks: []Hook{{ECSHook, terminating, 3600, "CONTINUE"}}},                                  // only-ecs-managed-hook
	Group{name: "ecs-too", cluster: "web", tags: selected, hooks: []Hook{drainerHook(300, "CONTINUE"), {ECSHook, terminating, 3600, "CONTINUE"}}},     // ecs-managed-draining
	Group{name: "short-hb", cluster: "web", tags: selected, hooks: []Hook{drainerHook(30, "CONTINUE")}},                                               // heartbeat-shorter-than-resync, drain-timeout-cut
	Group{name: "abandon", cluster: "web", tags: selected, hooks: []Hook{drainerHook(300, "ABANDON")}},                                                // default-result-abandon
	Group{name: "launching", cluster: "web", tags: selected, hooks: []Hook{drainerHook(300, "CONTINUE"), {"drain", launching, 300, "CONTINUE"}}},      // hook-not-terminating with --hook-name drain
	Group{name: "unregistered", tags: selected, hooks: []Hook{drainerHook(300, "CONTINUE")}},                                                          // not-registered
	Group{name: "outside", cluster: "other", tags: selected, hooks: []Hook{drainerHook(300, "CONTINUE")}},                                             // registered-outside-clusters
	Group{name: "typo", cluster: "web", tags: map[string]string{"ecs-drainer/enable": "true"}, hooks: []Hook{drainerHook(300, "CONTINUE")}},           // tag-key-misspelled
	Group{name: "caps", cluster: "web", tags: map[string]string{Tag: "True"}, hooks: []Hook{drainerHook(300, "CONTINUE")}},                            // tag-value-mismatch
	Group{name: "by-name", cluster: "web", hooks: []Hook{drainerHook(300, "CONTINUE")}},                                                               // lacks-policy-tag (selected by --asg-names)
	Group{name: "opted-out", cluster: "web", tags: map[string]string{Tag: "false"}, hooks: []Hook{drainerHook(300, "CONTINUE")}},                      // tag-opted-out
)

// BrokenFlags are the flags Broken is checked with: a resync longer than half a 30 s heartbeat, a
// drain timeout longer than a 30 s hook's global timeout, clusters that leave "other" out, a
// group named that does not exist and one named that lacks the tag the IAM policy wants.
var BrokenFlags = []string{"--resync-period", "20s", "--drain-timeout", "2h", "--clusters", "web,batch", "--asg-names", "ghost,by-name"}

// Build creates the fleet's clusters and groups and waits until every instance that should has
// registered.
func Build(ctx context.Context, as AutoScalingAPI, ec ECSAPI, groups []Group) error {
	clusters := map[string]int{}
	for _, g := range groups {
		if g.cluster != "" {
			clusters[g.cluster] += instancesPer
		}
	}
	for c := range clusters {
		if _, err := ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(c)}); err != nil {
			return fmt.Errorf("creating cluster %s: %w", c, err)
		}
	}
	for _, g := range groups {
		if err := createGroup(ctx, as, g); err != nil {
			return err
		}
	}
	for c, want := range clusters {
		if err := waitRegistered(ctx, ec, c, want); err != nil {
			return err
		}
	}
	// Hooks last: a launching hook would hold the instances in Pending:Wait.
	for _, g := range groups {
		if err := putHooks(ctx, as, g); err != nil {
			return err
		}
	}
	return nil
}

func createGroup(ctx context.Context, as AutoScalingAPI, g Group) error {
	var tags []astypes.Tag
	add := func(k, v string) {
		tags = append(tags, astypes.Tag{ResourceId: aws.String(g.name), ResourceType: aws.String("auto-scaling-group"), Key: aws.String(k), Value: aws.String(v), PropagateAtLaunch: aws.Bool(true)})
	}
	if g.cluster != "" {
		add(clusterTag, g.cluster)
	}
	for k, v := range g.tags {
		add(k, v)
	}
	_, err := as.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(g.name),
		MinSize:              aws.Int32(0),
		MaxSize:              aws.Int32(instancesPer),
		DesiredCapacity:      aws.Int32(instancesPer),
		LaunchTemplate:       &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("ecs"), Version: aws.String("$Latest")},
		AvailabilityZones:    []string{"us-east-1a"},
		Tags:                 tags,
	})
	if err != nil {
		return fmt.Errorf("creating Auto Scaling group %s: %w", g.name, err)
	}
	return nil
}

func putHooks(ctx context.Context, as AutoScalingAPI, g Group) error {
	for _, h := range g.hooks {
		_, err := as.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{
			AutoScalingGroupName: aws.String(g.name),
			LifecycleHookName:    aws.String(h.name),
			LifecycleTransition:  aws.String(h.transition),
			HeartbeatTimeout:     aws.Int32(h.heartbeat),
			DefaultResult:        aws.String(h.result),
		})
		if err != nil {
			return fmt.Errorf("putting hook %s on %s: %w", h.name, g.name, err)
		}
	}
	return nil
}

func waitRegistered(ctx context.Context, ec ECSAPI, cluster string, want int) error {
	for {
		out, err := ec.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster), Status: ecstypes.ContainerInstanceStatusActive})
		if err != nil {
			return fmt.Errorf("listing container instances of %s: %w", cluster, err)
		}
		if len(out.ContainerInstanceArns) >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d container instances in %s: %w", want, cluster, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

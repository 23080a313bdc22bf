package demo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// AutoScalingAPI is the slice of the Auto Scaling client the demo uses.
type AutoScalingAPI interface {
	CreateAutoScalingGroup(ctx context.Context, params *autoscaling.CreateAutoScalingGroupInput, optFns ...func(*autoscaling.Options)) (*autoscaling.CreateAutoScalingGroupOutput, error)
	PutLifecycleHook(ctx context.Context, params *autoscaling.PutLifecycleHookInput, optFns ...func(*autoscaling.Options)) (*autoscaling.PutLifecycleHookOutput, error)
	SetDesiredCapacity(ctx context.Context, params *autoscaling.SetDesiredCapacityInput, optFns ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
	DescribeAutoScalingGroups(ctx context.Context, params *autoscaling.DescribeAutoScalingGroupsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
}

// ECSAPI is the slice of the ECS client the demo uses.
type ECSAPI interface {
	CreateCluster(ctx context.Context, params *ecs.CreateClusterInput, optFns ...func(*ecs.Options)) (*ecs.CreateClusterOutput, error)
	RegisterTaskDefinition(ctx context.Context, params *ecs.RegisterTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	CreateService(ctx context.Context, params *ecs.CreateServiceInput, optFns ...func(*ecs.Options)) (*ecs.CreateServiceOutput, error)
	RunTask(ctx context.Context, params *ecs.RunTaskInput, optFns ...func(*ecs.Options)) (*ecs.RunTaskOutput, error)
	ListContainerInstances(ctx context.Context, params *ecs.ListContainerInstancesInput, optFns ...func(*ecs.Options)) (*ecs.ListContainerInstancesOutput, error)
}

var (
	_ AutoScalingAPI = (*autoscaling.Client)(nil)
	_ ECSAPI         = (*ecs.Client)(nil)
)

// Fake credentials for the simulator, which checks no signature. Nothing in this package may hold
// real ones.
const (
	fakeAccessKey = "AKIDDEMOSIMULATOR"
	fakeSecretKey = "demo-secret-not-a-real-key"
)

// NewClients returns SDK clients that talk to the simulator at endpoint (e.g.
// "http://127.0.0.1:4566") with fake static credentials. They retry throttles and injected 5xx
// patiently, so building a fleet survives a simulator run with faults on.
func NewClients(endpoint, region string) (*autoscaling.Client, *ecs.Client) {
	cfg := clientConfig(endpoint, region)
	return autoscaling.NewFromConfig(cfg), ecs.NewFromConfig(cfg)
}

// clientConfig is the SDK configuration of the demo's clients of the simulator at endpoint.
func clientConfig(endpoint, region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(fakeAccessKey, fakeSecretKey, ""),
		BaseEndpoint: aws.String(endpoint),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 10
				o.MaxBackoff = 2 * time.Second
				// No retry quota: a simulator run with fault injection fails far more requests
				// than the quota allows, and set-up must still finish.
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// API limits the builder stays within.
const (
	// RunTask starts at most 10 tasks per call:
	// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html
	maxRunTaskCount = 10
	// ListContainerInstances returns at most 100 per page:
	// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListContainerInstances.html
	maxListResults = 100
)

// Build creates fleet f through the SDK: clusters, one task definition per service and one for
// standalone tasks, groups with their tags and hooks, services; then waits until every group's
// instances have registered as ACTIVE container instances and starts the standalone tasks (RunTask
// needs somewhere to place them). It returns when the fleet stands or ctx ends.
func Build(ctx context.Context, as AutoScalingAPI, ec ECSAPI, f Fleet) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("invalid fleet: %w", err)
	}
	stop := f.StopTimeout
	if stop == 0 {
		stop = 5 * time.Second
	}
	for _, c := range f.Clusters {
		if err := buildCluster(ctx, as, ec, c, stop); err != nil {
			return err
		}
	}
	for _, c := range f.Clusters {
		if c.StandaloneTasks == 0 {
			continue
		}
		want := 0
		for _, g := range c.ASGs {
			want += g.Desired
		}
		if err := waitRegistered(ctx, ec, c.Name, want, f.PollInterval); err != nil {
			return err
		}
		if err := runStandalone(ctx, ec, c.Name, c.StandaloneTasks); err != nil {
			return err
		}
	}
	return nil
}

// buildCluster creates cluster c with its task definitions, groups and services.
func buildCluster(ctx context.Context, as AutoScalingAPI, ec ECSAPI, c Cluster, stop time.Duration) error {
	if _, err := ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(c.Name)}); err != nil {
		return fmt.Errorf("creating cluster %s: %w", c.Name, err)
	}
	for _, s := range c.Services {
		if err := registerTaskDefinition(ctx, ec, taskFamily(c.Name, s.Name), stop); err != nil {
			return err
		}
	}
	if c.StandaloneTasks > 0 {
		if err := registerTaskDefinition(ctx, ec, taskFamily(c.Name, "job"), stop); err != nil {
			return err
		}
	}
	for _, g := range c.ASGs {
		if err := createGroup(ctx, as, c.Name, g); err != nil {
			return err
		}
	}
	for _, s := range c.Services {
		if err := createService(ctx, ec, c.Name, s); err != nil {
			return err
		}
	}
	return nil
}

func taskFamily(cluster, name string) string { return cluster + "-" + name }

func registerTaskDefinition(ctx context.Context, ec ECSAPI, family string, stop time.Duration) error {
	_, err := ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name:        aws.String("app"),
			Image:       aws.String("public.ecr.aws/docker/library/busybox:latest"),
			Essential:   aws.Bool(true),
			Memory:      aws.Int32(128),
			StopTimeout: aws.Int32(int32(stop / time.Second)),
		}},
	})
	if err != nil {
		return fmt.Errorf("registering task definition %s: %w", family, err)
	}
	return nil
}

func createGroup(ctx context.Context, as AutoScalingAPI, cluster string, g ASG) error {
	tags := []asgtypes.Tag{tag(g.Name, ClusterTagKey, cluster)}
	if g.TaskSlots > 0 {
		tags = append(tags, tag(g.Name, TaskSlotsTagKey, strconv.Itoa(g.TaskSlots)))
	}
	if g.Managed {
		tags = append(tags, tag(g.Name, ManagedTagKey, ManagedTagValue))
	}
	_, err := as.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(g.Name),
		MinSize:              aws.Int32(int32(g.Min)),
		MaxSize:              aws.Int32(int32(g.Max)),
		DesiredCapacity:      aws.Int32(int32(g.Desired)),
		LaunchTemplate: &asgtypes.LaunchTemplateSpecification{
			LaunchTemplateName: aws.String("ecs-" + cluster),
			Version:            aws.String("$Latest"),
		},
		AvailabilityZones: []string{"us-east-1a", "us-east-1b"},
		Tags:              tags,
	})
	if err != nil {
		return fmt.Errorf("creating Auto Scaling group %s: %w", g.Name, err)
	}
	if g.HookHeartbeatTimeout <= 0 {
		return nil
	}
	hook := g.HookName
	if hook == "" {
		hook = DefaultHookName
	}
	_, err = as.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String(g.Name),
		LifecycleHookName:    aws.String(hook),
		LifecycleTransition:  aws.String("autoscaling:EC2_INSTANCE_TERMINATING"),
		HeartbeatTimeout:     aws.Int32(int32(g.HookHeartbeatTimeout / time.Second)),
		// CONTINUE: if the drainer is gone, an expired hook still lets scale-in proceed.
		DefaultResult: aws.String("CONTINUE"),
	})
	if err != nil {
		return fmt.Errorf("putting lifecycle hook %s on %s: %w", hook, g.Name, err)
	}
	return nil
}

func tag(group, key, value string) asgtypes.Tag {
	return asgtypes.Tag{
		ResourceId:        aws.String(group),
		ResourceType:      aws.String("auto-scaling-group"),
		Key:               aws.String(key),
		Value:             aws.String(value),
		PropagateAtLaunch: aws.Bool(true),
	}
}

func createService(ctx context.Context, ec ECSAPI, cluster string, s Service) error {
	in := &ecs.CreateServiceInput{
		Cluster:        aws.String(cluster),
		ServiceName:    aws.String(s.Name),
		TaskDefinition: aws.String(taskFamily(cluster, s.Name)),
		LaunchType:     ecstypes.LaunchTypeEc2,
	}
	if s.Daemon {
		in.SchedulingStrategy = ecstypes.SchedulingStrategyDaemon
	} else {
		in.SchedulingStrategy = ecstypes.SchedulingStrategyReplica
		in.DesiredCount = aws.Int32(int32(s.DesiredCount))
	}
	if s.MinimumHealthyPercent != 0 || s.MaximumPercent != 0 {
		in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{
			MinimumHealthyPercent: aws.Int32(int32(s.MinimumHealthyPercent)),
			MaximumPercent:        aws.Int32(int32(s.MaximumPercent)),
		}
	}
	if _, err := ec.CreateService(ctx, in); err != nil {
		return fmt.Errorf("creating service %s in cluster %s: %w", s.Name, cluster, err)
	}
	return nil
}

// WaitRegistered waits until every cluster of f has as many ACTIVE container instances as its
// groups' desired capacities add up to, polling every f.PollInterval. Build waits only where it
// must (before RunTask); a test or benchmark that needs the whole fleet up calls this.
func WaitRegistered(ctx context.Context, ec ECSAPI, f Fleet) error {
	for _, c := range f.Clusters {
		want := 0
		for _, g := range c.ASGs {
			want += g.Desired
		}
		if err := waitRegistered(ctx, ec, c.Name, want, f.PollInterval); err != nil {
			return err
		}
	}
	return nil
}

// waitRegistered polls until cluster has at least want ACTIVE container instances.
func waitRegistered(ctx context.Context, ec ECSAPI, cluster string, want int, poll time.Duration) error {
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	for {
		n, err := countActive(ctx, ec, cluster)
		if err != nil {
			return err
		}
		if n >= want {
			return nil
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for %d container instances in cluster %s (%d so far): %w", want, cluster, n, ctx.Err())
		case <-t.C:
		}
	}
}

func countActive(ctx context.Context, ec ECSAPI, cluster string) (int, error) {
	p := ecs.NewListContainerInstancesPaginator(ec, &ecs.ListContainerInstancesInput{
		Cluster:    aws.String(cluster),
		Status:     ecstypes.ContainerInstanceStatusActive,
		MaxResults: aws.Int32(maxListResults),
	})
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("listing container instances of cluster %s: %w", cluster, err)
		}
		n += len(page.ContainerInstanceArns)
	}
	return n, nil
}

func runStandalone(ctx context.Context, ec ECSAPI, cluster string, count int) error {
	for count > 0 {
		n := min(count, maxRunTaskCount)
		out, err := ec.RunTask(ctx, &ecs.RunTaskInput{
			Cluster:        aws.String(cluster),
			TaskDefinition: aws.String(taskFamily(cluster, "job")),
			Count:          aws.Int32(int32(n)),
			LaunchType:     ecstypes.LaunchTypeEc2,
			StartedBy:      aws.String("demo"),
		})
		if err != nil {
			return fmt.Errorf("running %d standalone tasks in cluster %s: %w", n, cluster, err)
		}
		if len(out.Failures) > 0 {
			var errs []error
			for _, f := range out.Failures {
				errs = append(errs, fmt.Errorf("%s: %s", aws.ToString(f.Arn), aws.ToString(f.Reason)))
			}
			return fmt.Errorf("running standalone tasks in cluster %s: %d not placed: %w", cluster, len(out.Failures), errors.Join(errs...))
		}
		count -= n
	}
	return nil
}

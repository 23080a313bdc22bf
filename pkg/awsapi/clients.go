package awsapi

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// OpRecordLifecycleActionHeartbeat is the operation that keeps a lifecycle action alive; it gets a
// retryer that never runs out of retries (newHeartbeatRetryer).
const OpRecordLifecycleActionHeartbeat = "RecordLifecycleActionHeartbeat"

// The calls that answer for many instances at once go to the limiter marked WithBatch, to be
// served ahead of calls for a single instance: the resync's and the hook reads' group descriptions,
// and ecsview's batched container instance, drain and task calls.

// autoScalingClient is the Auto Scaling SDK client with a retryer per operation.
type autoScalingClient struct {
	c        *autoscaling.Client
	retryers *operationRetryers
}

var _ AutoScaling = (*autoScalingClient)(nil)

// with puts op's retryer first among the call's options (a caller's own options still apply).
func (a *autoScalingClient) with(op string, o []func(*autoscaling.Options)) []func(*autoscaling.Options) {
	rt := a.retryers.get(op)
	return append([]func(*autoscaling.Options){func(o *autoscaling.Options) { o.Retryer = rt }}, o...)
}

func (a *autoScalingClient) DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, o ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	return a.c.DescribeAutoScalingGroups(WithBatch(ctx), in, a.with("DescribeAutoScalingGroups", o)...)
}

func (a *autoScalingClient) DescribeLifecycleHooks(ctx context.Context, in *autoscaling.DescribeLifecycleHooksInput, o ...func(*autoscaling.Options)) (*autoscaling.DescribeLifecycleHooksOutput, error) {
	return a.c.DescribeLifecycleHooks(WithBatch(ctx), in, a.with("DescribeLifecycleHooks", o)...)
}

func (a *autoScalingClient) PutLifecycleHook(ctx context.Context, in *autoscaling.PutLifecycleHookInput, o ...func(*autoscaling.Options)) (*autoscaling.PutLifecycleHookOutput, error) {
	return a.c.PutLifecycleHook(ctx, in, a.with("PutLifecycleHook", o)...)
}

func (a *autoScalingClient) CompleteLifecycleAction(ctx context.Context, in *autoscaling.CompleteLifecycleActionInput, o ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error) {
	return a.c.CompleteLifecycleAction(ctx, in, a.with("CompleteLifecycleAction", o)...)
}

func (a *autoScalingClient) RecordLifecycleActionHeartbeat(ctx context.Context, in *autoscaling.RecordLifecycleActionHeartbeatInput, o ...func(*autoscaling.Options)) (*autoscaling.RecordLifecycleActionHeartbeatOutput, error) {
	return a.c.RecordLifecycleActionHeartbeat(ctx, in, a.with(OpRecordLifecycleActionHeartbeat, o)...)
}

// ecsClient is the ECS SDK client with a retryer per operation.
type ecsClient struct {
	c        *ecs.Client
	retryers *operationRetryers
}

var _ ECS = (*ecsClient)(nil)

func (e *ecsClient) with(op string, o []func(*ecs.Options)) []func(*ecs.Options) {
	rt := e.retryers.get(op)
	return append([]func(*ecs.Options){func(o *ecs.Options) { o.Retryer = rt }}, o...)
}

func (e *ecsClient) ListClusters(ctx context.Context, in *ecs.ListClustersInput, o ...func(*ecs.Options)) (*ecs.ListClustersOutput, error) {
	return e.c.ListClusters(WithBatch(ctx), in, e.with("ListClusters", o)...)
}

func (e *ecsClient) ListContainerInstances(ctx context.Context, in *ecs.ListContainerInstancesInput, o ...func(*ecs.Options)) (*ecs.ListContainerInstancesOutput, error) {
	return e.c.ListContainerInstances(WithBatch(ctx), in, e.with("ListContainerInstances", o)...)
}

func (e *ecsClient) DescribeContainerInstances(ctx context.Context, in *ecs.DescribeContainerInstancesInput, o ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error) {
	return e.c.DescribeContainerInstances(WithBatch(ctx), in, e.with("DescribeContainerInstances", o)...)
}

func (e *ecsClient) UpdateContainerInstancesState(ctx context.Context, in *ecs.UpdateContainerInstancesStateInput, o ...func(*ecs.Options)) (*ecs.UpdateContainerInstancesStateOutput, error) {
	return e.c.UpdateContainerInstancesState(WithBatch(ctx), in, e.with("UpdateContainerInstancesState", o)...)
}

func (e *ecsClient) ListTasks(ctx context.Context, in *ecs.ListTasksInput, o ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	return e.c.ListTasks(ctx, in, e.with("ListTasks", o)...)
}

func (e *ecsClient) DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, o ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	return e.c.DescribeTasks(WithBatch(ctx), in, e.with("DescribeTasks", o)...)
}

func (e *ecsClient) DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, o ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	return e.c.DescribeServices(ctx, in, e.with("DescribeServices", o)...)
}

func (e *ecsClient) StopTask(ctx context.Context, in *ecs.StopTaskInput, o ...func(*ecs.Options)) (*ecs.StopTaskOutput, error) {
	return e.c.StopTask(ctx, in, e.with("StopTask", o)...)
}

func (e *ecsClient) TagResource(ctx context.Context, in *ecs.TagResourceInput, o ...func(*ecs.Options)) (*ecs.TagResourceOutput, error) {
	return e.c.TagResource(ctx, in, e.with("TagResource", o)...)
}

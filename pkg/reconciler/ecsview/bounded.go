package ecsview

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"k8s.io/utils/clock"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
)

// CallTimeout bounds one ECS call, the SDK's retries and backoff included. A healthy call
// answers in well under a second, and this leaves room for a few quick retries; but while the
// account's ECS buckets are drained the SDK would back off up to 20 s between attempts, holding a
// worker that discovery and every other instance are waiting for. Cut short, the call fails, the
// item backs off in the queue instead, and the worker moves on.
const CallTimeout = 10 * time.Second

// boundedECS gives every ECS call its own CallTimeout (see there).
type boundedECS struct {
	ecs   awsapi.ECS
	clock clock.Clock
}

var _ awsapi.ECS = boundedECS{}

func (b boundedECS) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return awsapi.BoundContext(ctx, b.clock, CallTimeout)
}

// ListClusters calls ECS within CallTimeout.
func (b boundedECS) ListClusters(ctx context.Context, in *ecs.ListClustersInput, o ...func(*ecs.Options)) (*ecs.ListClustersOutput, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.ecs.ListClusters(ctx, in, o...)
}

// ListContainerInstances calls ECS within CallTimeout.
func (b boundedECS) ListContainerInstances(ctx context.Context, in *ecs.ListContainerInstancesInput, o ...func(*ecs.Options)) (*ecs.ListContainerInstancesOutput, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.ecs.ListContainerInstances(ctx, in, o...)
}

// DescribeContainerInstances calls ECS within CallTimeout.
func (b boundedECS) DescribeContainerInstances(ctx context.Context, in *ecs.DescribeContainerInstancesInput, o ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.ecs.DescribeContainerInstances(ctx, in, o...)
}

// UpdateContainerInstancesState calls ECS within CallTimeout.
func (b boundedECS) UpdateContainerInstancesState(ctx context.Context, in *ecs.UpdateContainerInstancesStateInput, o ...func(*ecs.Options)) (*ecs.UpdateContainerInstancesStateOutput, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.ecs.UpdateContainerInstancesState(ctx, in, o...)
}

// ListTasks calls ECS within CallTimeout.
func (b boundedECS) ListTasks(ctx context.Context, in *ecs.ListTasksInput, o ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.ecs.ListTasks(ctx, in, o...)
}

// DescribeTasks calls ECS within CallTimeout.
func (b boundedECS) DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, o ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.ecs.DescribeTasks(ctx, in, o...)
}

// DescribeServices calls ECS within CallTimeout.
func (b boundedECS) DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, o ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.ecs.DescribeServices(ctx, in, o...)
}

// StopTask calls ECS within CallTimeout.
func (b boundedECS) StopTask(ctx context.Context, in *ecs.StopTaskInput, o ...func(*ecs.Options)) (*ecs.StopTaskOutput, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.ecs.StopTask(ctx, in, o...)
}

// TagResource calls ECS within CallTimeout.
func (b boundedECS) TagResource(ctx context.Context, in *ecs.TagResourceInput, o ...func(*ecs.Options)) (*ecs.TagResourceOutput, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.ecs.TagResource(ctx, in, o...)
}

package check

import (
	"context"
	"errors"
	"maps"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
)

// callCounter counts the calls the check makes, by "service:Operation", for the report.
type callCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func newCallCounter() *callCounter { return &callCounter{n: map[string]int{}} }

func (c *callCounter) add(op string) {
	c.mu.Lock()
	c.n[op]++
	c.mu.Unlock()
}

func (c *callCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// countingAS counts the Auto Scaling calls made through it.
type countingAS struct {
	r AutoScalingReader
	n *callCounter
}

func (a *countingAS) DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, o ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	a.n.add("autoscaling:DescribeAutoScalingGroups")
	return a.r.DescribeAutoScalingGroups(ctx, in, o...)
}

func (a *countingAS) DescribeLifecycleHooks(ctx context.Context, in *autoscaling.DescribeLifecycleHooksInput, o ...func(*autoscaling.Options)) (*autoscaling.DescribeLifecycleHooksOutput, error) {
	a.n.add("autoscaling:DescribeLifecycleHooks")
	return a.r.DescribeLifecycleHooks(ctx, in, o...)
}

// countingECS counts the ECS calls made through it.
type countingECS struct {
	r ECSReader
	n *callCounter
}

func (e *countingECS) ListClusters(ctx context.Context, in *ecs.ListClustersInput, o ...func(*ecs.Options)) (*ecs.ListClustersOutput, error) {
	e.n.add("ecs:ListClusters")
	return e.r.ListClusters(ctx, in, o...)
}

func (e *countingECS) ListContainerInstances(ctx context.Context, in *ecs.ListContainerInstancesInput, o ...func(*ecs.Options)) (*ecs.ListContainerInstancesOutput, error) {
	e.n.add("ecs:ListContainerInstances")
	return e.r.ListContainerInstances(ctx, in, o...)
}

func (e *countingECS) DescribeContainerInstances(ctx context.Context, in *ecs.DescribeContainerInstancesInput, o ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error) {
	e.n.add("ecs:DescribeContainerInstances")
	return e.r.DescribeContainerInstances(ctx, in, o...)
}

func (e *countingECS) ListTasks(ctx context.Context, in *ecs.ListTasksInput, o ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	e.n.add("ecs:ListTasks")
	return e.r.ListTasks(ctx, in, o...)
}

func (e *countingECS) DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, o ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	e.n.add("ecs:DescribeTasks")
	return e.r.DescribeTasks(ctx, in, o...)
}

func (e *countingECS) DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, o ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	e.n.add("ecs:DescribeServices")
	return e.r.DescribeServices(ctx, in, o...)
}

// codeAccessDeniedQuery is the code of an IAM refusal in the AWS Query protocol (Auto Scaling);
// ECS's is awsapi.CodeAccessDenied.
const codeAccessDeniedQuery = "AccessDenied"

// deniedCodes are the error codes IAM refusals carry.
var deniedCodes = map[string]bool{codeAccessDeniedQuery: true, awsapi.CodeAccessDenied: true}

// isDenied reports whether err says IAM refused the call.
func isDenied(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && deniedCodes[apiErr.ErrorCode()]
}

// answeredAfterAuthorization reports whether err is an answer AWS gives only once the caller is
// authorized: the request itself was refused (a probe that names nothing real), not the caller.
func answeredAfterAuthorization(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case awsapi.CodeValidationError, awsapi.CodeInvalidParameter, awsapi.CodeClusterNotFound:
		return true
	}
	return false
}

// codeRequestFailed stands for a failure that carries no AWS error code: no answer (network,
// endpoint, timeout) or one that could not be read. The problem holds the whole error.
const codeRequestFailed = "RequestFailed"

// errCode is err's AWS error code, or codeRequestFailed.
func errCode(err error) string {
	if code := awsapi.ErrorCode(err); code != "" {
		return code
	}
	return codeRequestFailed
}

// countingSQS counts the check's SQS calls.
type countingSQS struct {
	r SQSReader
	n *callCounter
}

func countingSQSOf(r SQSReader, n *callCounter) SQSReader {
	if r == nil {
		return nil
	}
	return &countingSQS{r: r, n: n}
}

func (q *countingSQS) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, o ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	q.n.add(actGetQueueAttributes)
	return q.r.GetQueueAttributes(ctx, in, o...)
}

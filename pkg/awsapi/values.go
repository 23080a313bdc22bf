package awsapi

import (
	"context"
	"time"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"k8s.io/utils/clock"
)

// AWS values the SDK declares no constant for. Every other enumerated AWS value the controller
// uses comes from the SDK's types (ecstypes.ContainerInstanceStatusDraining,
// ecstypes.DesiredStatusStopped, astypes.LifecycleStateTerminatingWait, ...).
const (
	// ContainerInstanceStatusInactive is the status of a deregistered container instance, which
	// the SDK's ContainerInstanceStatus enumeration leaves out.
	// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerInstance.html
	ContainerInstanceStatusInactive ecstypes.ContainerInstanceStatus = "INACTIVE"

	// TaskStatusStopped is a task's lastStatus once it stopped (lastStatus is a plain string).
	// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html
	TaskStatusStopped = string(ecstypes.DesiredStatusStopped)

	// FailureMissing is the ECS failure reason for an ARN or ID that does not exist.
	// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/api_failures_messages.html
	FailureMissing = "MISSING"

	// TransitionTerminating is the lifecycle transition of terminating hooks.
	// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LifecycleHook.html
	TransitionTerminating = "autoscaling:EC2_INSTANCE_TERMINATING"

	// LifecycleActionContinue and LifecycleActionAbandon are the results a lifecycle action is
	// completed with (and a hook's DefaultResult).
	// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CompleteLifecycleAction.html
	LifecycleActionContinue = "CONTINUE"
	LifecycleActionAbandon  = "ABANDON"
)

// BoundContext is context.WithTimeout on clk as well as in real time, so tests on a fake clock see
// the bound apply when their simulated time passes it.
func BoundContext(ctx context.Context, clk clock.Clock, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, d)
	t := clk.NewTimer(d)
	go func() {
		defer t.Stop()
		select {
		case <-t.C():
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

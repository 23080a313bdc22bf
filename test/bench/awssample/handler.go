package awssample

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"k8s.io/utils/clock"
)

// RepublishDelay is the sample's time.sleep(5) before it publishes the message again.
const RepublishDelay = 5 * time.Second

// republishSubject is the Subject the sample gives the message it publishes again.
const republishSubject = "Publishing SNS msg to invoke Lambda again."

// Handler is the sample's lambda_handler. The sample's CloudFormation stack serves one cluster
// (its EcsClusterName parameter, baked into the code); the benchmark deploys one stack per
// cluster, each with its own topic named after the cluster, so the handler reads its cluster from
// the name of the topic that invoked it.
type Handler struct {
	ECS         ECS
	AutoScaling AutoScaling
	SNS         SNS
	Clock       clock.Clock
	Log         *slog.Logger
	// Delay is the sleep before the message is published again (RepublishDelay).
	Delay time.Duration
}

// Handle is one invocation. An error is a function error: Lambda retries the event.
func (h *Handler) Handle(ctx context.Context, ev Event) error {
	if len(ev.Records) == 0 {
		return errors.New("no SNS record in the event")
	}
	// The sample reads the first record only; SNS delivers one message per invocation.
	rec := ev.Records[0].Sns
	n, err := ParseNotification(rec.Message)
	if err != nil {
		return err
	}
	if !strings.Contains(n.LifecycleTransition, TransitionTerminating) {
		h.Log.Info("Exiting since the lifecycle transition is not EC2_INSTANCE_TERMINATING", "event", n.Event)
		return nil
	}
	running, err := h.instanceHasRunningTasks(ctx, topicName(rec.TopicArn), n.EC2InstanceID)
	if err != nil {
		return err
	}
	if running {
		if err := sleep(ctx, h.Clock, h.Delay); err != nil {
			return err
		}
		// The sample publishes the message it received (json.dumps(json.loads(m)): the same object).
		if _, err := h.SNS.Publish(ctx, rec.TopicArn, republishSubject, rec.Message); err != nil {
			return fmt.Errorf("publishing to %s: %w", rec.TopicArn, err)
		}
		return nil
	}
	h.Log.Info("Completing lifecycle action", "instanceID", n.EC2InstanceID)
	_, err = h.AutoScaling.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
		LifecycleHookName:     aws.String(n.LifecycleHookName),
		AutoScalingGroupName:  aws.String(n.AutoScalingGroupName),
		LifecycleActionResult: aws.String("CONTINUE"),
		InstanceId:            aws.String(n.EC2InstanceID),
	})
	if err != nil {
		return fmt.Errorf("completing the lifecycle action of %s: %w", n.EC2InstanceID, err)
	}
	return nil
}

// instanceHasRunningTasks is the sample's function of that name: find the container instance, set
// it DRAINING unless it is, and report runningTasksCount > 0 as that lookup saw it (before the
// update). An instance in no page of the cluster has nothing running.
func (h *Handler) instanceHasRunningTasks(ctx context.Context, cluster, instanceID string) (bool, error) {
	ci, err := h.find(ctx, cluster, instanceID)
	if err != nil {
		return false, err
	}
	if ci == nil {
		h.Log.Info("Could not find instance; letting Auto Scaling kill it", "instanceID", instanceID, "cluster", cluster)
		return false, nil
	}
	if aws.ToString(ci.Status) != string(ecstypes.ContainerInstanceStatusDraining) {
		// The sample ignores the answer's failures, as it ignores everything but exceptions.
		if _, err := h.ECS.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
			Cluster:            aws.String(cluster),
			ContainerInstances: []string{aws.ToString(ci.ContainerInstanceArn)},
			Status:             ecstypes.ContainerInstanceStatusDraining,
		}); err != nil {
			return false, fmt.Errorf("setting %s DRAINING: %w", instanceID, err)
		}
	}
	return ci.RunningTasksCount > 0, nil
}

// find is the sample's find_ecs_instance_info: every page of the cluster's container instances (of
// every status but INACTIVE, ListContainerInstances' default), each page described in one call,
// until one has the EC2 instance ID. It describes a page even when it is empty, as the sample does.
func (h *Handler) find(ctx context.Context, cluster, instanceID string) (*ecstypes.ContainerInstance, error) {
	pages := ecs.NewListContainerInstancesPaginator(h.ECS, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the container instances of %s: %w", cluster, err)
		}
		out, err := h.ECS.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
			Cluster:            aws.String(cluster),
			ContainerInstances: page.ContainerInstanceArns,
		})
		if err != nil {
			return nil, fmt.Errorf("describing the container instances of %s: %w", cluster, err)
		}
		for i := range out.ContainerInstances {
			if aws.ToString(out.ContainerInstances[i].Ec2InstanceId) == instanceID {
				return &out.ContainerInstances[i], nil
			}
		}
	}
	return nil, nil
}

// sleep waits d on clk, or until ctx ends (the invocation timed out).
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) error {
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C():
		return nil
	}
}

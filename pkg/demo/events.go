package demo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// EventQueueName is the name of the event queue SetUpEventQueue creates, as in the CloudFormation
// template and the IAM policy.
const EventQueueName = "ecs-drainer-events"

// EventRule is an EventBridge rule RouteEventsTo creates: its name and event pattern.
type EventRule struct {
	Name    string
	Pattern map[string]any
}

// ControllerEvents selects every event the controller takes hints from: lifecycle actions and
// terminations of Auto Scaling instances, ECS container instance and task changes, and EC2's Spot
// interruption warnings and rebalance recommendations. (The CloudFormation template splits these
// over several rules and narrows them to the managed groups, hook and clusters; one broad rule
// suits a simulated account.)
var ControllerEvents = EventRule{Name: "ecs-drainer-events", Pattern: map[string]any{
	"source": []string{"aws.autoscaling", "aws.ecs", "aws.ec2"},
	"detail-type": []string{
		"EC2 Instance-terminate Lifecycle Action", "EC2 Instance Terminate Successful",
		"ECS Container Instance State Change", "ECS Task State Change",
		"EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation",
	},
}}

// ECSEvents selects the ECS events only, for a queue the lifecycle hooks notify themselves
// (NotificationTargetARN): only ECS says when a task stopped.
var ECSEvents = EventRule{Name: "ecs-drainer-ecs-events", Pattern: map[string]any{
	"source":      []string{"aws.ecs"},
	"detail-type": []string{"ECS Container Instance State Change", "ECS Task State Change"},
}}

// EventQueue is a queue made by CreateEventQueue.
type EventQueue struct {
	URL, ARN string
}

// CreateEventQueue creates the standard SQS queue EventQueueName in the simulator at endpoint,
// with standard AWS calls, and returns its URL and ARN.
func CreateEventQueue(ctx context.Context, endpoint, region string) (EventQueue, error) {
	c := sqs.NewFromConfig(clientConfig(endpoint, region))
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(EventQueueName)})
	if err != nil {
		return EventQueue{}, fmt.Errorf("creating the event queue: %w", err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return EventQueue{}, fmt.Errorf("reading the event queue's ARN: %w", err)
	}
	return EventQueue{URL: aws.ToString(out.QueueUrl), ARN: attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]}, nil
}

// RouteEventsTo creates the EventBridge rule r with the queue as its target.
func RouteEventsTo(ctx context.Context, endpoint, region string, q EventQueue, r EventRule) error {
	c := eventbridge.NewFromConfig(clientConfig(endpoint, region))
	pattern, err := json.Marshal(r.Pattern)
	if err != nil {
		return fmt.Errorf("encoding the event pattern: %w", err)
	}
	if _, err := c.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(r.Name), EventPattern: aws.String(string(pattern))}); err != nil {
		return fmt.Errorf("creating the event rule: %w", err)
	}
	_, err = c.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule: aws.String(r.Name), Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(q.ARN)}},
	})
	if err != nil {
		return fmt.Errorf("targeting the event rule at the queue: %w", err)
	}
	return nil
}

// Package awssample is the drain algorithm of aws-samples/ecs-cid-sample, the SNS-triggered Lambda
// most blog posts point to, re-expressed in Go so that the benchmark can run it next to ecs-drainer
// against awssim, and a model of the SNS topic and the Lambda runtime around it.
//
// The algorithm (Handler) is the sample's current generation, cform/ecs.yaml at commit 0d60dd5
// (2018-08-01, the embedded lambda_handler): per SNS delivery, page through ListContainerInstances
// of the cluster, describing each page, until the instance is found; set it DRAINING unless it is;
// if runningTasksCount > 0, sleep 5 s and publish the same message to the same topic, which invokes
// the function again; otherwise complete the lifecycle action CONTINUE. An instance in no page is
// completed at once. It records no heartbeat and reads nothing but runningTasksCount. Everything it
// does wrong is kept: this package is a baseline to measure, not a fix.
//
// Runtime stands in for SNS and Lambda: every publish to a topic starts an asynchronous invocation
// of that topic's function, concurrently with every other; an invocation that fails or outlives the
// function's timeout is retried after Lambda's asynchronous retry delays, then dropped; and
// recursive loop detection drops the invocation that would be the 17th of one chain of publishes
// (see Config). Messages from outside (Auto Scaling's lifecycle notifications) enter through
// Runtime.Notify, whatever carries them: today an HTTP POST from the benchmark harness
// (Runtime.Handler), later a reader of the simulator's queue.
package awssample

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// ECS lists the ECS operations the sample calls, with the SDK's signatures.
type ECS interface {
	ListContainerInstances(ctx context.Context, params *ecs.ListContainerInstancesInput, optFns ...func(*ecs.Options)) (*ecs.ListContainerInstancesOutput, error)
	DescribeContainerInstances(ctx context.Context, params *ecs.DescribeContainerInstancesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error)
	UpdateContainerInstancesState(ctx context.Context, params *ecs.UpdateContainerInstancesStateInput, optFns ...func(*ecs.Options)) (*ecs.UpdateContainerInstancesStateOutput, error)
}

// AutoScaling lists the Auto Scaling operation the sample calls.
type AutoScaling interface {
	CompleteLifecycleAction(ctx context.Context, params *autoscaling.CompleteLifecycleActionInput, optFns ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error)
}

// SNS is the one SNS operation the sample calls: Publish, to its own topic.
type SNS interface {
	Publish(ctx context.Context, topicArn, subject, message string) (messageID string, err error)
}

var (
	_ ECS         = (*ecs.Client)(nil)
	_ AutoScaling = (*autoscaling.Client)(nil)
	_ SNS         = (*Runtime)(nil)
)

// Notification is Auto Scaling's lifecycle notification as it reaches an SNS topic: the JSON object
// that is the SNS message's Message string (docs: prepare-for-lifecycle-notifications, "notification
// message example"). The test notification sent when a hook is added has Event
// "autoscaling:TEST_NOTIFICATION" and none of the instance fields.
type Notification struct {
	Service              string `json:"Service,omitempty"`
	Time                 string `json:"Time,omitempty"`
	RequestID            string `json:"RequestId,omitempty"`
	LifecycleActionToken string `json:"LifecycleActionToken,omitempty"`
	AccountID            string `json:"AccountId,omitempty"`
	AutoScalingGroupName string `json:"AutoScalingGroupName,omitempty"`
	LifecycleHookName    string `json:"LifecycleHookName,omitempty"`
	EC2InstanceID        string `json:"EC2InstanceId,omitempty"`
	LifecycleTransition  string `json:"LifecycleTransition,omitempty"`
	NotificationMetadata string `json:"NotificationMetadata,omitempty"`
	Event                string `json:"Event,omitempty"`
}

// TransitionTerminating is the LifecycleTransition of a terminating hook.
const TransitionTerminating = "autoscaling:EC2_INSTANCE_TERMINATING"

// Event is what Lambda passes a function subscribed to an SNS topic: one record per delivery.
type Event struct {
	Records []Record `json:"Records"`
}

// Record is one SNS delivery.
type Record struct {
	EventSource string  `json:"EventSource"` // "aws:sns"
	Sns         Message `json:"Sns"`
}

// Message is the SNS message inside a record.
type Message struct {
	Type      string `json:"Type"` // "Notification"
	MessageID string `json:"MessageId"`
	TopicArn  string `json:"TopicArn"`
	Subject   string `json:"Subject,omitempty"`
	Message   string `json:"Message"`
	Timestamp string `json:"Timestamp"`
}

// TopicArn is the ARN of topic name in the simulated account.
func TopicArn(region, accountID, name string) string {
	return fmt.Sprintf("arn:aws:sns:%s:%s:%s", region, accountID, name)
}

// topicName is the last part of a topic ARN.
func topicName(arn string) string { return arn[strings.LastIndex(arn, ":")+1:] }

// ParseNotification decodes a lifecycle notification.
func ParseNotification(message string) (Notification, error) {
	var n Notification
	if err := json.Unmarshal([]byte(message), &n); err != nil {
		return n, fmt.Errorf("decoding the lifecycle notification: %w", err)
	}
	return n, nil
}

// Package awsapi is a fixture for iam_test.go: aliased SDK imports, a non-SDK interface and
// methods declared across two interfaces.
package awsapi

import (
	"context"

	asapi "github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// AutoScaling is a fixture.
type AutoScaling interface {
	CompleteLifecycleAction(ctx context.Context, params *asapi.CompleteLifecycleActionInput, optFns ...func(*asapi.Options)) (*asapi.CompleteLifecycleActionOutput, error)
}

// ECS is a fixture.
type ECS interface {
	ListTasks(ctx context.Context, params *ecs.ListTasksInput, optFns ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	StopTask(ctx context.Context, params *ecs.StopTaskInput, optFns ...func(*ecs.Options)) (*ecs.StopTaskOutput, error)
}

// Observer has no SDK operation: it grants nothing.
type Observer interface {
	ObserveAWSRequest(service, operation, code string)
}

// SQS is a fixture: IAM authorises DeleteMessageBatch as sqs:DeleteMessage.
type SQS interface {
	DeleteMessageBatch(ctx context.Context, params *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Package awsapi is a fixture for iam_test.go: an embedded interface hides its operations.
package awsapi

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// AutoScaling is a fixture.
type AutoScaling interface {
	autoscaling.DescribeAutoScalingGroupsAPIClient
}

// ECS is a fixture.
type ECS interface {
	ListTasks(ctx context.Context, params *ecs.ListTasksInput, optFns ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
}

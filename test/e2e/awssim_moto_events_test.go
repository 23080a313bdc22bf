package e2e

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// TestMotoDifferentialEvents is TestMotoDifferential for the event plumbing: the same queues (one
// with a dead-letter queue) and rule in moto and in awssim, the same raw, signed SQS (JSON 1.0) and
// EventBridge (JSON 1.1) requests to both, and the same comparison of field paths against the
// models compiled into aws-sdk-go-v2, then of error codes for the same mistakes.
func TestMotoDifferentialEvents(t *testing.T) {
	sides := diffStart(t)
	for _, s := range sides {
		if err := s.buildEvents(t.Context()); err != nil {
			t.Fatalf("building the events scenario in %s: %v", s.name, err)
		}
	}
	diffRunOps(t, sides, diffEventOps())

	diffRunErrors(t, sides, diffEventErrors)
}

// diffEventErrors are mistakes both sides must name alike.
var diffEventErrors = []diffErrorCase{
	{service: "sqs", op: "GetQueueUrl", request: `{"QueueName":"no-such-queue"}`, status: http.StatusBadRequest, code: "QueueDoesNotExist"},
	{service: "sqs", op: "SendMessage", request: `{"QueueUrl":"%[1]s-nope","MessageBody":"x"}`, status: http.StatusBadRequest, code: "QueueDoesNotExist"},
	{service: "sqs", op: "ReceiveMessage", request: `{"QueueUrl":"%[1]s","MaxNumberOfMessages":11}`, status: http.StatusBadRequest, code: "InvalidParameterValue"},
	{service: "sqs", op: "DeleteMessage", request: `{"QueueUrl":"%[1]s","ReceiptHandle":"junk"}`, status: http.StatusNotFound, code: "ReceiptHandleIsInvalid",
		motoDiffers: "moto answers HTTP 400; the SQS model gives ReceiptHandleIsInvalid HTTP 404 [V: awsQueryError trait in the SQS model]"},
	{service: "events", op: "DescribeRule", request: `{"Name":"no-such-rule"}`, status: http.StatusBadRequest, code: "ResourceNotFoundException"},
	{service: "events", op: "PutRule", request: `{"Name":"bad","EventPattern":"{\"source\":\"aws.ecs\"}"}`, status: http.StatusBadRequest, code: "InvalidEventPatternException"},
}

// The events scenario's names, the same on both sides.
const (
	diffQueue = "diff-q"
	diffDLQ   = "diff-dead"
	diffRule  = "diff-rule"
)

func diffEventOps() []diffOp {
	op := func(service, name string, model any, request func(*diffSide) string) diffOp {
		return diffOp{service: service, name: name, status: http.StatusOK, model: reflect.TypeOf(model), request: request}
	}
	fixed := func(body string) func(*diffSide) string { return func(*diffSide) string { return body } }
	return []diffOp{
		op("sqs", "GetQueueUrl", sqs.GetQueueUrlOutput{}, fixed(`{"QueueName":"`+diffQueue+`"}`)),
		op("sqs", "ListQueues", sqs.ListQueuesOutput{}, fixed(`{}`)),
		op("sqs", "GetQueueAttributes", sqs.GetQueueAttributesOutput{}, func(s *diffSide) string {
			return fmt.Sprintf(`{"QueueUrl":%q,"AttributeNames":["All"]}`, s.queueURL)
		}),
		op("sqs", "SendMessage", sqs.SendMessageOutput{}, func(s *diffSide) string {
			return fmt.Sprintf(`{"QueueUrl":%q,"MessageBody":"two","MessageAttributes":{"k":{"DataType":"String","StringValue":"v"}}}`, s.queueURL)
		}),
		op("sqs", "ReceiveMessage", sqs.ReceiveMessageOutput{}, func(s *diffSide) string {
			return fmt.Sprintf(`{"QueueUrl":%q,"MaxNumberOfMessages":10,"MessageSystemAttributeNames":["All"],"MessageAttributeNames":["All"]}`, s.queueURL)
		}),
		op("events", "DescribeRule", eventbridge.DescribeRuleOutput{}, fixed(`{"Name":"`+diffRule+`"}`)),
		op("events", "ListRules", eventbridge.ListRulesOutput{}, fixed(`{}`)),
		op("events", "ListTargetsByRule", eventbridge.ListTargetsByRuleOutput{}, fixed(`{"Rule":"`+diffRule+`"}`)),
	}
}

// buildEvents creates a dead-letter queue, a queue that redrives to it holding one message, and a
// rule targeting the queue.
func (s *diffSide) buildEvents(ctx context.Context) error {
	cfg := aws.Config{
		Region:       harness.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(harness.FakeAccessKey, harness.FakeSecretKey, ""),
		BaseEndpoint: aws.String(s.url),
	}
	sq, eb := sqs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg)
	dlq, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(diffDLQ)})
	if err != nil {
		return fmt.Errorf("creating the dead-letter queue: %w", err)
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return fmt.Errorf("reading the dead-letter queue's ARN: %w", err)
	}
	dlqARN := attrs.Attributes["QueueArn"]
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(diffQueue), Attributes: map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":3}`, dlqARN),
	}})
	if err != nil {
		return fmt.Errorf("creating the queue: %w", err)
	}
	s.queueURL = aws.ToString(q.QueueUrl)
	if _, err := sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("one")}); err != nil {
		return fmt.Errorf("sending a message: %w", err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(diffRule), Description: aws.String("lifecycle actions"),
		EventPattern: aws.String(`{"source":["aws.autoscaling"],"detail-type":["EC2 Instance-terminate Lifecycle Action"]}`)}); err != nil {
		return fmt.Errorf("creating the rule: %w", err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(diffRule), Targets: []ebtypes.Target{
		{Id: aws.String("q"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:" + diffQueue)},
	}}); err != nil {
		return fmt.Errorf("adding the target: %w", err)
	}
	return nil
}

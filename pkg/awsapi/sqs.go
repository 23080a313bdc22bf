package awsapi

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// SQS lists the Amazon SQS operations the event consumer (pkg/events) and the check call, on the
// one queue.
// IAM authorises DeleteMessageBatch as sqs:DeleteMessage, so the policy grants
// sqs:ReceiveMessage and sqs:DeleteMessage.
type SQS interface {
	ReceiveMessage(ctx context.Context, params *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, params *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	// GetQueueAttributes is the check's reachability probe (`ecs-drainer check --queue-url`):
	// it reads the QueueArn, which the hooks' NotificationTargetARN must name.
	GetQueueAttributes(ctx context.Context, params *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

var _ SQS = (*sqs.Client)(nil)

// ServiceSQS is the observer's and the metrics' name of the SQS service.
const ServiceSQS = "sqs"

// SQS limits the consumer uses.
const (
	// MaxSQSWaitTimeSeconds is the longest long poll ReceiveMessage allows.
	// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html
	MaxSQSWaitTimeSeconds = 20

	// MaxSQSBatch is how many messages one ReceiveMessage returns and one DeleteMessageBatch
	// deletes, at most.
	// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessageBatch.html
	MaxSQSBatch = 10
)

// SQS error codes, as aws-sdk-go-v2 reports them (ErrorCode): the JSON protocol's
// x-amzn-query-error code where SQS sends one, so the same codes as the Query protocol.
const (
	// CodeSQSNonExistentQueue: the queue does not exist (deleted, wrong URL, wrong region).
	CodeSQSNonExistentQueue = "AWS.SimpleQueueService.NonExistentQueue"
	// CodeSQSQueueDoesNotExist is the modelled shape name of the same error, which an endpoint
	// without the query-compatible header reports.
	CodeSQSQueueDoesNotExist = "QueueDoesNotExist"
	// CodeSQSAccessDenied is SQS's Query-era code for a call IAM or the queue policy refuses;
	// the JSON protocol may say CodeAccessDenied (AccessDeniedException).
	CodeSQSAccessDenied = "AccessDenied"
	// CodeSQSOverLimit: ReceiveMessage refused because the queue has too many messages in flight.
	CodeSQSOverLimit = "OverLimit"
	// CodeSQSReceiptHandleIsInvalid: a receipt handle SQS did not issue for this queue.
	CodeSQSReceiptHandleIsInvalid = "ReceiptHandleIsInvalid"
)

// IsQueueDoesNotExist reports whether err says the SQS queue does not exist.
func IsQueueDoesNotExist(err error) bool {
	switch ErrorCode(err) {
	case CodeSQSNonExistentQueue, CodeSQSQueueDoesNotExist:
		return true
	}
	return false
}

// IsSQSAccessDenied reports whether err says IAM or the queue policy refused an SQS call.
func IsSQSAccessDenied(err error) bool {
	switch ErrorCode(err) {
	case CodeSQSAccessDenied, CodeAccessDenied:
		return true
	}
	return false
}

// NewSQSClient builds the SQS client of the event consumer the way NewClients builds the others:
// the standard credential chain and region, a retryer per operation (so throttled deletes do not
// slow the receives), a client-side token bucket of its own applied to every attempt, the
// observer middleware and the request body guard. Its HTTP attempts time out after
// attemptTimeout, above the longest long poll (MaxSQSWaitTimeSeconds), as SQS recommends.
func NewSQSClient(ctx context.Context, opts ClientOptions) (SQS, error) {
	cfg, err := loadConfig(ctx, opts)
	if err != nil {
		return nil, err
	}
	mw := attemptMiddlewares(opts, newLimiter(opts))
	c := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.APIOptions = append(o.APIOptions, addRequestBodyGuard, mw)
	})
	return &sqsClient{c: c, retryers: newOperationRetryers(opts)}, nil
}

// sqsClient is the SQS SDK client with a retryer per operation.
type sqsClient struct {
	c        *sqs.Client
	retryers *operationRetryers
}

var _ SQS = (*sqsClient)(nil)

func (s *sqsClient) with(op string, o []func(*sqs.Options)) []func(*sqs.Options) {
	rt := s.retryers.get(op)
	return append([]func(*sqs.Options){func(o *sqs.Options) { o.Retryer = rt }}, o...)
}

func (s *sqsClient) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, o ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	return s.c.ReceiveMessage(ctx, in, s.with("ReceiveMessage", o)...)
}

func (s *sqsClient) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, o ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	return s.c.DeleteMessageBatch(ctx, in, s.with("DeleteMessageBatch", o)...)
}

func (s *sqsClient) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, o ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return s.c.GetQueueAttributes(ctx, in, s.with("GetQueueAttributes", o)...)
}

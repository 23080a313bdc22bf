package events

import (
	"errors"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// entryError is a DeleteMessageBatch entry that failed in a call that succeeded.
type entryError struct{ code, message string }

func (e *entryError) Error() string { return e.code + ": " + e.message }

// queueErrorCode folds a queue call's error into the bounded code label of
// ecs_drainer_event_queue_errors_total.
func queueErrorCode(err error) string {
	var entry *entryError
	if errors.As(err, &entry) {
		return codeLabel(entry.code, false)
	}
	var respErr *awshttp.ResponseError
	serverFault := errors.As(err, &respErr) && respErr.HTTPStatusCode() >= http.StatusInternalServerError
	if code := awsapi.ErrorCode(err); code != "" {
		return codeLabel(code, serverFault)
	}
	switch awsapi.AttemptCode(err) {
	case awsapi.CodeNetworkError, awsapi.CodeCanceled:
		return metrics.QueueErrorNetwork
	}
	if serverFault {
		return metrics.QueueErrorServer
	}
	return metrics.QueueErrorOther
}

// codeLabel folds an SQS error code into the label.
func codeLabel(code string, serverFault bool) string {
	switch {
	case code == awsapi.CodeSQSNonExistentQueue || code == awsapi.CodeSQSQueueDoesNotExist:
		return metrics.QueueErrorQueueDoesNotExist
	case code == awsapi.CodeSQSAccessDenied || code == awsapi.CodeAccessDenied:
		return metrics.QueueErrorAccessDenied
	case awsapi.IsThrottle(&smithy.GenericAPIError{Code: code}):
		return metrics.QueueErrorThrottling
	case code == awsapi.CodeSQSOverLimit:
		return metrics.QueueErrorOverLimit
	case code == awsapi.CodeSQSReceiptHandleIsInvalid:
		return metrics.QueueErrorInvalidReceipt
	case serverFault || code == "InternalFailure" || code == "ServiceUnavailable" || code == "InternalError":
		return metrics.QueueErrorServer
	}
	return metrics.QueueErrorOther
}

// queueErrorHint says what to check for a receive error, in the one log line of each change.
func queueErrorHint(code string) string {
	switch code {
	case metrics.QueueErrorQueueDoesNotExist:
		return "the queue is missing: check --queue-url (account, region, name) and that the queue exists"
	case metrics.QueueErrorAccessDenied:
		return "the task role lacks sqs:ReceiveMessage and sqs:DeleteMessage on this queue, or the queue's KMS key denies it (config/iam/policy.json)"
	case metrics.QueueErrorThrottling, metrics.QueueErrorOverLimit:
		return "SQS is refusing receives for now; backing off"
	case metrics.QueueErrorNetwork:
		return "the SQS endpoint is not reachable: check the task's route to it (NAT or a VPC endpoint)"
	}
	return "retrying with backoff"
}

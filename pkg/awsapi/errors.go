package awsapi

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Error codes the controller distinguishes.
const (
	// CodeValidationError is Auto Scaling's catch-all client error code.
	CodeValidationError = "ValidationError"
	// CodeInvalidParameter is ECS's invalid-parameter error code.
	CodeInvalidParameter = "InvalidParameterException"
	// CodeClusterNotFound is returned by ECS for a cluster that does not exist (or no longer does).
	CodeClusterNotFound = "ClusterNotFoundException"
	// CodeAccessDenied is returned by ECS when IAM does not allow the call, for example on a cluster
	// outside the ecs:cluster condition of the controller's policy.
	CodeAccessDenied = "AccessDeniedException"
)

// Codes the observer reports for failures that carry no AWS error code. They keep the metric's
// code label bounded.
const (
	CodeOK                   = "OK"
	CodeCanceled             = "Canceled"
	CodeDeserializationError = "DeserializationError"
	CodeNetworkError         = "NetworkError"
	// CodeOther replaces an error code no AWS service would send (see plausibleCode), so a
	// misbehaving endpoint or proxy cannot grow the metric's label set without bound.
	CodeOther = "Other"
)

// plausibleCode is the shape of every AWS error code: a letter, then letters, digits and dots
// (e.g. "ThrottlingException", "AWS.SimpleQueueService.NonExistentQueue"), at most 64 characters.
var plausibleCode = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9.]{0,63}$`)

// noActiveLifecycleAction is the start of the ValidationError message Auto Scaling returns when the
// lifecycle action an instance was waiting on no longer exists: completed (by anyone), timed out,
// or the instance is not in a wait state.
const noActiveLifecycleAction = "No active Lifecycle Action"

// throttleCodes are the throttling error codes of both services, as the SDK's retryer knows them.
var throttleCodes = map[string]bool{
	"Throttling":                             true,
	"ThrottlingException":                    true,
	"ThrottledException":                     true,
	"RequestThrottledException":              true,
	"TooManyRequestsException":               true,
	"ProvisionedThroughputExceededException": true,
	"RequestLimitExceeded":                   true,
	"RequestThrottled":                       true,
	"SlowDown":                               true,
}

// ErrorCode returns the AWS error code carried by err, or "" if err is not an AWS API error.
func ErrorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// IsNoActiveLifecycleAction reports whether err says the lifecycle action is already over
// (completed by someone, expired, or never pending). For the controller that means done.
func IsNoActiveLifecycleAction(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == CodeValidationError &&
		strings.Contains(apiErr.ErrorMessage(), noActiveLifecycleAction)
}

// IsThrottle reports whether err is a throttling error (after the SDK's own retries gave up).
func IsThrottle(err error) bool {
	return throttleCodes[ErrorCode(err)]
}

// IsClusterNotFound reports whether err says an ECS cluster does not exist.
func IsClusterNotFound(err error) bool {
	return ErrorCode(err) == CodeClusterNotFound
}

// IsAccessDenied reports whether err says IAM does not allow the call.
func IsAccessDenied(err error) bool {
	return ErrorCode(err) == CodeAccessDenied
}

// IsInvalidRequest reports whether err is a client error that repeating the same request cannot
// fix (Auto Scaling ValidationError, ECS InvalidParameterException) other than "No active Lifecycle
// Action", which callers treat as success.
func IsInvalidRequest(err error) bool {
	if IsNoActiveLifecycleAction(err) {
		return false
	}
	switch ErrorCode(err) {
	case CodeValidationError, CodeInvalidParameter:
		return true
	}
	return false
}

// AttemptCode classifies the result of one HTTP attempt for metrics: "OK", the AWS error code, or
// one of a few fixed codes for failures without one.
func AttemptCode(err error) string {
	if err == nil {
		return CodeOK
	}
	if code := ErrorCode(err); code != "" {
		if !plausibleCode.MatchString(code) {
			return CodeOther
		}
		return code
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return CodeCanceled
	}
	var deserErr *smithy.DeserializationError
	if errors.As(err, &deserErr) {
		return CodeDeserializationError
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		// A response arrived but carried no decodable error code.
		return CodeDeserializationError
	}
	return CodeNetworkError
}

// Uncertain reports whether err leaves open that the request took effect: no answer arrived (a
// network error or timeout), the answer could not be read, or the server failed (5xx) after
// possibly acting. Only a client error answer (4xx with an AWS error code) is a definite "not done".
func Uncertain(err error) bool {
	if err == nil {
		return false
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) && ErrorCode(err) != "" {
		status := respErr.HTTPStatusCode()
		return status < http.StatusBadRequest || status >= http.StatusInternalServerError
	}
	return true
}

package awssim

import (
	"fmt"
	"net/http"
)

// This file holds every AWS error the simulator answers with: the codes, HTTP statuses and, where
// AWS's are known, messages of each service (aws-api-facts §1.1 and §3.8; aws-event-facts, SQS
// errors). The handlers choose among them; the protocol writers in frontend.go and sqs_wire.go
// put them on the wire.

// apiError is an AWS error as the wire carries it. Status is the HTTP status code.
type apiError struct {
	Code    string
	Message string
	Status  int
	// QueryCode is, for SQS, the Query protocol's code when it differs from the JSON shape in Code
	// (AWS.SimpleQueueService.NonExistentQueue for QueueDoesNotExist).
	QueryCode string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// QueryCodeOrCode is the code a Query-protocol client sees.
func (e *apiError) QueryCodeOrCode() string {
	if e.QueryCode != "" {
		return e.QueryCode
	}
	return e.Code
}

func badRequest(code, msg string) *apiError {
	return &apiError{Code: code, Message: msg, Status: http.StatusBadRequest}
}

// ---- injected faults (faults.go), in each service's own codes ----

// throttled is each service's answer to a request over its rate.
func throttled(service string) *apiError {
	switch service {
	case serviceECS, serviceEvents:
		return badRequest("ThrottlingException", "Rate exceeded")
	case serviceSQS:
		return sqsErr("RequestThrottled", "RequestThrottled", http.StatusForbidden, "Rate exceeded")
	}
	return badRequest("Throttling", "Rate exceeded")
}

// injected5xx is each service's internal error, as FailNext and ErrorRate answer.
func injected5xx(service string) *apiError {
	switch service {
	case serviceECS:
		return &apiError{Code: "ServerException", Message: "Service encountered an internal error (injected).", Status: http.StatusInternalServerError}
	case serviceEvents:
		return &apiError{Code: "InternalException", Message: "An internal error occurred (injected).", Status: http.StatusInternalServerError}
	}
	return internalFailure("An internal error occurred (injected).")
}

// accessDenied is each service's answer to a caller whose IAM policy does not allow op, as Deny
// answers. The message follows IAM's usual form ("User: <arn> is not authorized to perform:
// <service>:<op> ..."); its exact wording per service is unverified.
//   - ECS: AccessDeniedException, HTTP 400: modelled in botocore (aws-api-facts §3.8).
//   - Auto Scaling: AccessDenied, HTTP 403, Sender. Unverified: aws-api-facts lists no such code;
//     this is what Query-protocol services answer in the wild (aws-event-facts, SQS errors [O]).
//   - SQS: AccessDeniedException, HTTP 400, from SQS's Common Errors page (aws-event-facts [D]),
//     with AccessDenied as the Query code. Query-era logs show HTTP 403 [O]; one status serves
//     both protocols here, and the SDKs decide by code, retrying neither.
//   - EventBridge: AccessDeniedException, HTTP 400, as ECS's JSON 1.1 (unverified).
func accessDenied(service, op, accountID string) *apiError {
	// The service labels (autoscaling, ecs, sqs, events) are the services' IAM action prefixes.
	msg := fmt.Sprintf("User: arn:aws:sts::%s:assumed-role/awssim/denied is not authorized to perform: %s:%s because no identity-based policy allows the %[2]s:%[3]s action",
		accountID, service, op)
	switch service {
	case serviceAutoScaling:
		return &apiError{Code: "AccessDenied", Message: msg, Status: http.StatusForbidden}
	case serviceSQS:
		return sqsErr("AccessDeniedException", "AccessDenied", http.StatusBadRequest, msg)
	}
	return badRequest("AccessDeniedException", msg)
}

func internalFailure(msg string) *apiError {
	return &apiError{Code: "InternalFailure", Message: msg, Status: http.StatusInternalServerError}
}

// ---- Auto Scaling (Query protocol) ----

func validationError(msg string) *apiError { return badRequest("ValidationError", msg) }

// missingParam is AWS's error for an absent required member.
func missingParam(name string) *apiError {
	return validationError(fmt.Sprintf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(name)))
}

func groupNotFound(name string) *apiError {
	return validationError(fmt.Sprintf("AutoScalingGroup name not found - AutoScalingGroup %s not found", name))
}

func groupExists(name string) *apiError {
	return badRequest("AlreadyExists", fmt.Sprintf("AutoScalingGroup by this name already exists - A group with the name %s already exists", name))
}

func groupInUse() *apiError {
	return badRequest("ResourceInUse", "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.")
}

func limitExceeded(msg string) *apiError { return badRequest("LimitExceeded", msg) }

func invalidNextToken(token string) *apiError {
	return badRequest("InvalidNextToken", fmt.Sprintf("The token '%s' is invalid.", token))
}

func invalidAction(op string) *apiError {
	return badRequest("InvalidAction", "The action "+op+" is not valid for this web service.")
}

func malformedQuery(err error) *apiError {
	return badRequest("MalformedQueryString", "The query string is malformed: "+err.Error())
}

func missingAction() *apiError {
	return badRequest("MissingAction", "Request is missing Action parameter.")
}

// ---- ECS and EventBridge (JSON 1.1) ----

// unknownOperation is the JSON protocols' answer to an operation they do not have.
func unknownOperation(op string) *apiError {
	return badRequest("UnknownOperationException", "Unknown operation "+op)
}

func unknownTarget(target string) *apiError {
	return badRequest("UnknownOperationException", "Unknown target "+target)
}

// serializationException is a body that does not decode into the operation's request shape.
func serializationException(msg string) *apiError { return badRequest("SerializationException", msg) }

func serverException(msg string) *apiError {
	return &apiError{Code: "ServerException", Message: msg, Status: http.StatusInternalServerError}
}

func invalidParameter(msg string) *apiError { return badRequest("InvalidParameterException", msg) }

func clientException(msg string) *apiError { return badRequest("ClientException", msg) }

func clusterNotFound() *apiError { return badRequest("ClusterNotFoundException", "Cluster not found.") }

func serviceNotFound() *apiError { return badRequest("ServiceNotFoundException", "Service not found.") }

func serviceNotActive() *apiError {
	return badRequest("ServiceNotActiveException", "Service was not ACTIVE.")
}

func resourceNotFound(arn string) *apiError {
	return badRequest("ResourceNotFoundException", "The specified resource could not be found: "+arn)
}

func eventsValidation(msg string) *apiError { return badRequest("ValidationException", msg) }

func ruleNotFound(name string) *apiError {
	return badRequest("ResourceNotFoundException", fmt.Sprintf("Rule %s does not exist on EventBus default.", name))
}

func busNotFound(name string) *apiError {
	return badRequest("ResourceNotFoundException", fmt.Sprintf("Event bus %s does not exist.", name))
}

func invalidEventPattern(err error) *apiError {
	return badRequest("InvalidEventPatternException", "Event pattern is not valid. Reason: "+err.Error())
}

func eventsLimitExceeded(msg string) *apiError { return badRequest("LimitExceededException", msg) }

// ---- SQS (JSON 1.0 and Query) ----

// sqsErr is an SQS error: shape is the model's error shape (the JSON protocol's __type), code the
// Query protocol's code (also sent in x-amzn-query-error).
func sqsErr(shape, code string, status int, msg string) *apiError {
	return &apiError{Code: shape, QueryCode: code, Message: msg, Status: status}
}

func queueDoesNotExist() *apiError {
	return sqsErr("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", http.StatusBadRequest, "The specified queue does not exist.")
}

func sqsInvalidParam(msg string) *apiError {
	return sqsErr("InvalidParameterValue", "InvalidParameterValue", http.StatusBadRequest, msg)
}

func sqsMissingParam(name string) *apiError {
	return sqsErr("MissingParameter", "MissingParameter", http.StatusBadRequest, "The request must contain the parameter "+name+".")
}

// sqsUnknownOp is the answer to an operation SQS does not have, in the protocol it came in.
func sqsUnknownOp(op string, query bool) *apiError {
	if query {
		return sqsErr("InvalidAction", "InvalidAction", http.StatusBadRequest, "The action "+op+" is not valid for this endpoint.")
	}
	return unknownOperation(op)
}

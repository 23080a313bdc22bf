package reconciler

import (
	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// ending is one way the controller ends a lifecycle action: the result sent to Auto Scaling, and
// the reason and outcome the metrics and the drains page count it under. Every way is in the table
// below, so the three always agree.
type ending struct {
	result      string // CompleteLifecycleAction's LifecycleActionResult
	resultLabel string // lifecycle_actions_completed_total{result}
	reason      string // lifecycle_actions_completed_total{reason}
	outcome     string // drain_duration_seconds{outcome}, EndedDrain.Outcome
}

var (
	endDrained          = ending{awsapi.LifecycleActionContinue, metrics.ResultContinue, metrics.ReasonDrained, metrics.OutcomeDrained}
	endNotRegistered    = ending{awsapi.LifecycleActionContinue, metrics.ResultContinue, metrics.ReasonNotRegistered, metrics.OutcomeNotRegistered}
	endTimeoutStopTasks = ending{awsapi.LifecycleActionContinue, metrics.ResultContinue, metrics.ReasonDrainTimeout, metrics.OutcomeTimeoutStopTasks}
	endTimeoutContinue  = ending{awsapi.LifecycleActionContinue, metrics.ResultContinue, metrics.ReasonDrainTimeout, metrics.OutcomeTimeoutContinue}
	endTimeoutAbandon   = ending{awsapi.LifecycleActionAbandon, metrics.ResultAbandon, metrics.ReasonDrainTimeout, metrics.OutcomeTimeoutAbandon}
)

// endedOutcome is the outcome of a drain whose action ended without this controller completing it.
func endedOutcome(expired bool) string {
	if expired {
		return metrics.OutcomeExpired
	}
	return metrics.OutcomeOther
}

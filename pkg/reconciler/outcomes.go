package reconciler

import (
	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// ending is one way the controller ends a lifecycle action: the result sent to Auto Scaling, and
// the reason and outcome the metrics and the drains page count it under. Every way is in the table
// below, so the three always agree; the result's label is derived from the result by pkg/metrics.
type ending struct {
	result      string // CompleteLifecycleAction's LifecycleActionResult
	resultLabel string // lifecycle_actions_completed_total{result}
	reason      string // lifecycle_actions_completed_total{reason}
	outcome     string // drain_duration_seconds{outcome}, EndedDrain.Outcome
}

// newEnding fills in the result's label; a result without one is a programming error, caught when
// the package loads.
func newEnding(result, reason, outcome string) ending {
	label := metrics.LifecycleResultLabel(result)
	if label == "" {
		panic("metrics has no label for the lifecycle action result " + result)
	}
	return ending{result: result, resultLabel: label, reason: reason, outcome: outcome}
}

var (
	endDrained          = newEnding(awsapi.LifecycleActionContinue, metrics.ReasonDrained, metrics.OutcomeDrained)
	endNotRegistered    = newEnding(awsapi.LifecycleActionContinue, metrics.ReasonNotRegistered, metrics.OutcomeNotRegistered)
	endTimeoutStopTasks = newEnding(awsapi.LifecycleActionContinue, metrics.ReasonDrainTimeout, metrics.OutcomeTimeoutStopTasks)
	endTimeoutContinue  = newEnding(awsapi.LifecycleActionContinue, metrics.ReasonDrainTimeout, metrics.OutcomeTimeoutContinue)
	endTimeoutAbandon   = newEnding(awsapi.LifecycleActionAbandon, metrics.ReasonDrainTimeout, metrics.OutcomeTimeoutAbandon)
)

// endedOutcome is the outcome of a drain whose action ended without this controller completing it.
func endedOutcome(expired bool) string {
	if expired {
		return metrics.OutcomeExpired
	}
	return metrics.OutcomeOther
}

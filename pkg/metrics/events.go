package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Label values of the event queue metrics. Each is a bounded enumeration: the consumer
// (pkg/events) folds anything it does not know into the Other values.
const (
	// Where an event came from (events_received_total{source}): EventBridge events by their
	// source, Auto Scaling's own lifecycle hook notifications, or anything else.
	EventSourceAutoScaling     = "autoscaling"
	EventSourceAutoScalingHook = "autoscaling_hook"
	EventSourceECS             = "ecs"
	EventSourceEC2             = "ec2"
	EventSourceOther           = "other"

	// What the event says (events_received_total{type}).
	EventTypeLifecycleTerminate  = "lifecycle_terminate"
	EventTypeLifecycleLaunch     = "lifecycle_launch"
	EventTypeTerminateSuccessful = "terminate_successful"
	EventTypeTestNotification    = "test_notification"
	EventTypeContainerInstance   = "container_instance_state"
	EventTypeTask                = "task_state"
	EventTypeSpotInterruption    = "spot_interruption"
	EventTypeRebalance           = "rebalance_recommendation"
	EventTypeOther               = "other"

	// What became of a message (events_received_total{result}).
	EventResultHandled   = "handled"
	EventResultIgnored   = "ignored"
	EventResultDuplicate = "duplicate"
	EventResultMalformed = "malformed"

	// Queue operations (event_queue_errors_total{operation}): the SQS API's own names, as
	// aws_requests_total{operation} has them.
	QueueOpReceiveMessage     = "ReceiveMessage"
	QueueOpDeleteMessageBatch = "DeleteMessageBatch"

	// What a queue call failed with (event_queue_errors_total{code}): the consumer folds the SQS
	// error codes (several spellings of one error across the Query and JSON protocols) and the
	// failures without one into these.
	QueueErrorQueueDoesNotExist = "queue_does_not_exist"
	QueueErrorAccessDenied      = "access_denied"
	QueueErrorThrottling        = "throttling"
	QueueErrorOverLimit         = "over_limit"
	QueueErrorInvalidReceipt    = "receipt_handle_is_invalid"
	QueueErrorServer            = "server_error"
	QueueErrorNetwork           = "network_error"
	QueueErrorOther             = "other"
)

// eventTypesBySource lists the (source, type) pairs an event can be counted under.
var eventTypesBySource = map[string][]string{
	EventSourceAutoScaling:     {EventTypeLifecycleTerminate, EventTypeLifecycleLaunch, EventTypeTerminateSuccessful, EventTypeOther},
	EventSourceAutoScalingHook: {EventTypeLifecycleTerminate, EventTypeLifecycleLaunch, EventTypeTestNotification, EventTypeOther},
	EventSourceECS:             {EventTypeContainerInstance, EventTypeTask, EventTypeOther},
	EventSourceEC2:             {EventTypeSpotInterruption, EventTypeRebalance, EventTypeOther},
	EventSourceOther:           {EventTypeOther},
}

// EventResults are the results an event is counted under.
var EventResults = []string{EventResultHandled, EventResultIgnored, EventResultDuplicate, EventResultMalformed}

// QueueErrorCodes are the codes queue errors are counted under.
var QueueErrorCodes = []string{
	QueueErrorQueueDoesNotExist, QueueErrorAccessDenied, QueueErrorThrottling, QueueErrorOverLimit,
	QueueErrorInvalidReceipt, QueueErrorServer, QueueErrorNetwork, QueueErrorOther,
}

// EventTypes returns the types an event of source can be counted under; nil for an unknown source.
func EventTypes(source string) []string { return eventTypesBySource[source] }

// eventLagBuckets reach from the sub-second delivery EventBridge usually manages to the longest
// lifecycle hook heartbeat timeout (7200 s): an event older than that arrived after the action it
// announced could already have expired.
var eventLagBuckets = []float64{0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 7200}

// EventMetrics are the metrics of the event queue consumer (pkg/events). They exist only when a
// queue is configured: main registers them with NewEventMetrics then, so that their absence says
// "no queue" and the queue alerts stay quiet.
type EventMetrics struct {
	// Received counts messages taken off the queue, by source, type and result.
	Received *prometheus.CounterVec
	// LagSeconds is the time from an event (its time field) to its handling.
	LagSeconds prometheus.Histogram
	// QueueErrors counts failed queue calls (after the SDK's retries), by operation and code;
	// a DeleteMessageBatch entry that failed counts once.
	QueueErrors *prometheus.CounterVec
	// LastReceiveSuccess is the Unix time of the last ReceiveMessage that succeeded, with or
	// without messages.
	LastReceiveSuccess prometheus.Gauge
	// InstancesFoundByResync counts the instances a resync found in Terminating:Wait before
	// their lifecycle event had reached the controller: each is a drain the event path did not
	// start (EcsDrainerEventsNotArriving).
	InstancesFoundByResync prometheus.Counter
}

// NewEventMetrics creates the event metrics, registers them on reg and sets every label
// combination to zero.
func NewEventMetrics(reg prometheus.Registerer) *EventMetrics {
	m := &EventMetrics{
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "events_received_total",
			Help: "Messages taken off the event queue, by source, type and result (handled: given to the controller; ignored: nothing to do; duplicate: an event already handled; malformed: not an event). Every one is deleted.",
		}, []string{"source", "type", "result"}),
		LagSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "event_lag_seconds",
			Help:    "Time from an event's own timestamp (second resolution) to its handling by the controller.",
			Buckets: eventLagBuckets,
		}),
		QueueErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "event_queue_errors_total",
			Help: "Event queue calls that failed after retries, by operation and error code; each failed entry of a DeleteMessageBatch counts once.",
		}, []string{"operation", "code"}),
		LastReceiveSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "event_queue_last_receive_success_timestamp_seconds",
			Help: "Unix time of the last successful ReceiveMessage on the event queue (a long poll returns at least every 20 s).",
		}),
		InstancesFoundByResync: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "instances_found_by_resync_total",
			Help: "Instances a resync found in Terminating:Wait before their lifecycle event reached the controller (the event path did not start their drain).",
		}),
	}
	reg.MustRegister(m.Received, m.LagSeconds, m.QueueErrors, m.LastReceiveSuccess, m.InstancesFoundByResync)
	for source, types := range eventTypesBySource {
		for _, typ := range types {
			for _, r := range EventResults {
				m.Received.WithLabelValues(source, typ, r)
			}
		}
	}
	for _, op := range []string{QueueOpReceiveMessage, QueueOpDeleteMessageBatch} {
		for _, code := range QueueErrorCodes {
			m.QueueErrors.WithLabelValues(op, code)
		}
	}
	return m
}

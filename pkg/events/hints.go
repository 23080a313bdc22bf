package events

import (
	"context"
	"time"
)

// Sink receives the hints. The controller implements it; each method should only note the hint
// (typically: enqueue a key on the work queue) and return at once, since the consumer calls them
// one at a time from its receive loop. Every hint may be a duplicate, late, out of order or
// forged: the sink must treat it as "look now", never as a fact.
//
// A method returns nil once the hint is accepted; the message is then deleted from the queue.
// An error (the controller is shutting down, say) leaves the message on the queue to reappear.
// ctx is not cancelled by the consumer's shutdown (the batch in hand is finished, within
// handleTimeout), so a sink that no longer takes work must say so with an error itself.
type Sink interface {
	// Instance: something happened to an Auto Scaling instance (Kind says what).
	Instance(ctx context.Context, h InstanceHint) error
	// ContainerInstance: an ECS container instance changed (status, tasks placed or stopped,
	// agent connection).
	ContainerInstance(ctx context.Context, h ContainerInstanceHint) error
	// Task: an ECS task changed state.
	Task(ctx context.Context, h TaskHint) error
	// Spot: EC2 will interrupt a Spot instance, about two minutes from Event.Time (no notice for
	// hibernate).
	Spot(ctx context.Context, h SpotHint) error
	// Rebalance: a Spot instance is at elevated risk of interruption.
	Rebalance(ctx context.Context, h RebalanceHint) error
}

// Via says how an event reached the queue.
type Via string

const (
	// ViaEventBridge means an EventBridge rule delivered the event.
	ViaEventBridge Via = "eventbridge"
	// ViaHookNotification means Auto Scaling sent its own lifecycle notification (a hook's
	// NotificationTargetARN).
	ViaHookNotification Via = "hook_notification"
)

// Event is what every hint carries about the event it came from.
type Event struct {
	// ID is the EventBridge event ID, or the notification's RequestId: the same for every copy
	// of one event.
	ID string
	// Time is when the event happened, as its source stamped it (second resolution for
	// EventBridge events, milliseconds for hook notifications). It may be earlier than receipt.
	Time time.Time
	Via  Via
}

// InstanceKind says what happened to an Auto Scaling instance.
type InstanceKind string

const (
	// InstanceTerminating means a terminating lifecycle hook holds the instance in Terminating:Wait
	// ("EC2 Instance-terminate Lifecycle Action", or a hook notification for
	// autoscaling:EC2_INSTANCE_TERMINATING).
	InstanceTerminating InstanceKind = "terminating"
	// InstanceLaunching means a launching lifecycle hook holds the instance in Pending:Wait.
	InstanceLaunching InstanceKind = "launching"
	// InstanceTerminated means Auto Scaling terminated the instance ("EC2 Instance Terminate
	// Successful").
	InstanceTerminated InstanceKind = "terminated"
)

// InstanceHint is about one Auto Scaling instance.
type InstanceHint struct {
	Event
	Kind                 InstanceKind
	InstanceID           string
	AutoScalingGroupName string
	// LifecycleHookName, LifecycleActionToken and NotificationMetadata are set for lifecycle
	// actions (InstanceTerminating, InstanceLaunching).
	LifecycleHookName    string
	LifecycleActionToken string
	NotificationMetadata string
	// Destination is "WarmPool" when a terminating lifecycle action returns the instance to a
	// warm pool rather than terminating it; "EC2" or "" (not given) otherwise.
	Destination string
}

// ContainerInstanceHint is about one ECS container instance ("ECS Container Instance State
// Change").
type ContainerInstanceHint struct {
	Event
	ClusterARN           string
	ContainerInstanceARN string
	EC2InstanceID        string
	// Status is ACTIVE, DRAINING, INACTIVE, REGISTERING, ...
	Status         string
	AgentConnected bool
	// RunningTasksCount and PendingTasksCount are nil when the event does not carry them (AWS's
	// documented sample does not).
	RunningTasksCount *int32
	PendingTasksCount *int32
	// Version increases with every change of the container instance; copies of one event
	// carry the same version. Compare with DescribeContainerInstances' version.
	Version int64
}

// TaskHint is about one ECS task ("ECS Task State Change").
type TaskHint struct {
	Event
	ClusterARN string
	TaskARN    string
	// ContainerInstanceARN is empty for Fargate tasks.
	ContainerInstanceARN string
	LastStatus           string
	DesiredStatus        string
	// Group is "service:<name>" for service tasks, "family:<name>" for others; StartedBy names
	// the service deployment (ecs-svc/...) or whoever called RunTask.
	Group     string
	StartedBy string
	StopCode  string
	// Version increases with every change of the task, like ContainerInstanceHint.Version.
	Version int64
}

// SpotHint is an "EC2 Spot Instance Interruption Warning".
type SpotHint struct {
	Event
	InstanceID string
	// Action is terminate, stop or hibernate.
	Action string
}

// RebalanceHint is an "EC2 Instance Rebalance Recommendation".
type RebalanceHint struct {
	Event
	InstanceID string
}

// hint is a parsed event ready for the sink.
type hint interface {
	deliver(ctx context.Context, s Sink) error
	event() Event
}

func (h InstanceHint) deliver(ctx context.Context, s Sink) error { return s.Instance(ctx, h) }
func (h ContainerInstanceHint) deliver(ctx context.Context, s Sink) error {
	return s.ContainerInstance(ctx, h)
}
func (h TaskHint) deliver(ctx context.Context, s Sink) error      { return s.Task(ctx, h) }
func (h SpotHint) deliver(ctx context.Context, s Sink) error      { return s.Spot(ctx, h) }
func (h RebalanceHint) deliver(ctx context.Context, s Sink) error { return s.Rebalance(ctx, h) }

func (e Event) event() Event { return e }

package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// AWS event sources and detail types the consumer understands (aws-event-facts.md §2-§5).
const (
	sourceAutoScaling = "aws.autoscaling"
	sourceECS         = "aws.ecs"
	sourceEC2         = "aws.ec2"

	autoScalingService  = "AWS Auto Scaling" // the Service field of a hook notification
	testNotification    = "autoscaling:TEST_NOTIFICATION"
	transitionTerminate = "autoscaling:EC2_INSTANCE_TERMINATING"
	transitionLaunch    = "autoscaling:EC2_INSTANCE_LAUNCHING"
	detailTerminate     = "EC2 Instance-terminate Lifecycle Action"
	detailLaunch        = "EC2 Instance-launch Lifecycle Action"
	detailTerminated    = "EC2 Instance Terminate Successful"
	detailContainerInst = "ECS Container Instance State Change"
	detailTask          = "ECS Task State Change"
	detailSpot          = "EC2 Spot Instance Interruption Warning"
	detailRebalance     = "EC2 Instance Rebalance Recommendation"
	eventBridgeVersion  = "0"
	maxLoggedBodyRunes  = 200
)

// parsed is one message as the consumer deals with it: the metric labels it is counted under,
// and either a hint for the sink or the reason it has none.
type parsed struct {
	source, typ string // metrics.EventSource*, metrics.EventType*
	result      string // metrics.EventResult*: handled (hint set), ignored or malformed
	hint        hint
	reason      string // why there is no hint
}

func ignored(source, typ, format string, args ...any) parsed {
	return parsed{source: source, typ: typ, result: metrics.EventResultIgnored, reason: fmt.Sprintf(format, args...)}
}

func malformed(source, typ, format string, args ...any) parsed {
	return parsed{source: source, typ: typ, result: metrics.EventResultMalformed, reason: fmt.Sprintf(format, args...)}
}

func handled(source, typ string, h hint) parsed {
	return parsed{source: source, typ: typ, result: metrics.EventResultHandled, hint: h}
}

// envelope is an EventBridge event (aws-event-facts.md §1). Unknown fields are ignored, as AWS
// asks of decoders.
type envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Time       string          `json:"time"`
	Detail     json.RawMessage `json:"detail"`
}

// detailKind is what the consumer knows of one detail-type: the only source that may send it,
// its type label, and how to read its detail.
type detailKind struct {
	source string
	typ    string
	parse  func(ev Event, detail []byte) (hint, error)
}

var detailKinds = map[string]detailKind{
	detailTerminate:     {sourceAutoScaling, metrics.EventTypeLifecycleTerminate, lifecycleParser(InstanceTerminating, transitionTerminate)},
	detailLaunch:        {sourceAutoScaling, metrics.EventTypeLifecycleLaunch, lifecycleParser(InstanceLaunching, transitionLaunch)},
	detailTerminated:    {sourceAutoScaling, metrics.EventTypeTerminateSuccessful, parseTerminated},
	detailContainerInst: {sourceECS, metrics.EventTypeContainerInstance, parseContainerInstance},
	detailTask:          {sourceECS, metrics.EventTypeTask, parseTask},
	detailSpot:          {sourceEC2, metrics.EventTypeSpotInterruption, parseSpot},
	detailRebalance:     {sourceEC2, metrics.EventTypeRebalance, parseRebalance},
}

// sourceLabels maps the AWS sources the consumer reads to their metric label.
var sourceLabels = map[string]string{
	sourceAutoScaling: metrics.EventSourceAutoScaling,
	sourceECS:         metrics.EventSourceECS,
	sourceEC2:         metrics.EventSourceEC2,
}

// parse reads one message body: an EventBridge event, or Auto Scaling's own lifecycle
// notification (which has no detail-type).
func parse(body []byte) parsed {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return malformed(metrics.EventSourceOther, metrics.EventTypeOther, "not a JSON object: %v", err)
	}
	if env.DetailType == "" && env.Source == "" {
		return parseHookNotification(body)
	}
	source, known := sourceLabels[env.Source]
	if !known {
		source = metrics.EventSourceOther
	}
	kind, ok := detailKinds[env.DetailType]
	switch {
	case !ok:
		return ignored(source, metrics.EventTypeOther, "unknown detail-type %q from source %q", env.DetailType, env.Source)
	case kind.source != env.Source:
		// Only AWS may publish aws.* sources, so this is someone's PutEvents imitating an AWS
		// event (or a rule's Input): no hint, although the controller would re-check it anyway.
		return ignored(source, metrics.EventTypeOther, "detail-type %q comes from %s, but this event's source is %q", env.DetailType, kind.source, env.Source)
	case env.Version != eventBridgeVersion || env.ID == "":
		return malformed(source, kind.typ, "EventBridge envelope with version %q and id %q, want version %q and an id", env.Version, env.ID, eventBridgeVersion)
	}
	at, err := time.Parse(time.RFC3339, env.Time)
	if err != nil {
		return malformed(source, kind.typ, "event time %q is not RFC 3339", env.Time)
	}
	h, err := kind.parse(Event{ID: env.ID, Time: at, Via: ViaEventBridge}, env.Detail)
	if err != nil {
		return malformed(source, kind.typ, "%s detail: %v", env.DetailType, err)
	}
	return handled(source, kind.typ, h)
}

// hookNotification is the body Auto Scaling sends to a lifecycle hook's SQS target: an action,
// or the test notification sent when the hook is added (aws-event-facts.md §3).
type hookNotification struct {
	Service              string `json:"Service"`
	Event                string `json:"Event"`
	Time                 string `json:"Time"`
	RequestID            string `json:"RequestId"`
	AutoScalingGroupName string `json:"AutoScalingGroupName"`
	LifecycleHookName    string `json:"LifecycleHookName"`
	LifecycleTransition  string `json:"LifecycleTransition"`
	LifecycleActionToken string `json:"LifecycleActionToken"`
	EC2InstanceID        string `json:"EC2InstanceId"`
	NotificationMetadata string `json:"NotificationMetadata"`
}

func parseHookNotification(body []byte) parsed {
	var n hookNotification
	if err := json.Unmarshal(body, &n); err != nil || n.Service != autoScalingService {
		return malformed(metrics.EventSourceOther, metrics.EventTypeOther, "neither an EventBridge event (no detail-type) nor an Auto Scaling notification (Service %q)", n.Service)
	}
	const source = metrics.EventSourceAutoScalingHook
	var kind InstanceKind
	var typ string
	switch {
	case n.Event == testNotification || n.LifecycleTransition == testNotification:
		return ignored(source, metrics.EventTypeTestNotification, "the test notification Auto Scaling sends when a hook is added (group %q)", n.AutoScalingGroupName)
	case n.LifecycleTransition == transitionTerminate:
		kind, typ = InstanceTerminating, metrics.EventTypeLifecycleTerminate
	case n.LifecycleTransition == transitionLaunch:
		kind, typ = InstanceLaunching, metrics.EventTypeLifecycleLaunch
	default:
		return ignored(source, metrics.EventTypeOther, "Auto Scaling notification with event %q and transition %q", n.Event, n.LifecycleTransition)
	}
	at, err := time.Parse(time.RFC3339, n.Time)
	switch {
	case err != nil:
		return malformed(source, typ, "notification time %q is not RFC 3339", n.Time)
	case n.RequestID == "" || n.EC2InstanceID == "" || n.AutoScalingGroupName == "":
		return malformed(source, typ, "lifecycle notification without RequestId, EC2InstanceId or AutoScalingGroupName")
	}
	return handled(source, typ, InstanceHint{
		Event: Event{ID: n.RequestID, Time: at, Via: ViaHookNotification},
		Kind:  kind, InstanceID: n.EC2InstanceID, AutoScalingGroupName: n.AutoScalingGroupName,
		LifecycleHookName: n.LifecycleHookName, LifecycleActionToken: n.LifecycleActionToken,
		NotificationMetadata: n.NotificationMetadata,
	})
}

// lifecycleParser reads the detail of a lifecycle action event whose transition must be want.
func lifecycleParser(kind InstanceKind, want string) func(Event, []byte) (hint, error) {
	return func(ev Event, detail []byte) (hint, error) {
		var d struct {
			LifecycleActionToken string `json:"LifecycleActionToken"`
			AutoScalingGroupName string `json:"AutoScalingGroupName"`
			LifecycleHookName    string `json:"LifecycleHookName"`
			EC2InstanceID        string `json:"EC2InstanceId"`
			LifecycleTransition  string `json:"LifecycleTransition"`
			NotificationMetadata string `json:"NotificationMetadata"`
			Destination          string `json:"Destination"`
		}
		if err := json.Unmarshal(detail, &d); err != nil {
			return nil, err
		}
		if d.EC2InstanceID == "" || d.AutoScalingGroupName == "" || d.LifecycleTransition != want {
			return nil, fmt.Errorf("EC2InstanceId %q, AutoScalingGroupName %q, LifecycleTransition %q: want an instance, a group and %s",
				d.EC2InstanceID, d.AutoScalingGroupName, d.LifecycleTransition, want)
		}
		return InstanceHint{
			Event: ev, Kind: kind, InstanceID: d.EC2InstanceID, AutoScalingGroupName: d.AutoScalingGroupName,
			LifecycleHookName: d.LifecycleHookName, LifecycleActionToken: d.LifecycleActionToken,
			NotificationMetadata: d.NotificationMetadata, Destination: d.Destination,
		}, nil
	}
}

func parseTerminated(ev Event, detail []byte) (hint, error) {
	var d struct {
		AutoScalingGroupName string `json:"AutoScalingGroupName"`
		EC2InstanceID        string `json:"EC2InstanceId"`
	}
	if err := json.Unmarshal(detail, &d); err != nil {
		return nil, err
	}
	if d.EC2InstanceID == "" {
		return nil, fmt.Errorf("no EC2InstanceId")
	}
	return InstanceHint{Event: ev, Kind: InstanceTerminated, InstanceID: d.EC2InstanceID, AutoScalingGroupName: d.AutoScalingGroupName}, nil
}

func parseContainerInstance(ev Event, detail []byte) (hint, error) {
	var d struct {
		ClusterARN           string `json:"clusterArn"`
		ContainerInstanceARN string `json:"containerInstanceArn"`
		EC2InstanceID        string `json:"ec2InstanceId"`
		Status               string `json:"status"`
		AgentConnected       bool   `json:"agentConnected"`
		RunningTasksCount    *int32 `json:"runningTasksCount"`
		PendingTasksCount    *int32 `json:"pendingTasksCount"`
		Version              int64  `json:"version"`
	}
	if err := json.Unmarshal(detail, &d); err != nil {
		return nil, err
	}
	if d.ClusterARN == "" || d.ContainerInstanceARN == "" {
		return nil, fmt.Errorf("no clusterArn or containerInstanceArn")
	}
	return ContainerInstanceHint{
		Event: ev, ClusterARN: d.ClusterARN, ContainerInstanceARN: d.ContainerInstanceARN, EC2InstanceID: d.EC2InstanceID,
		Status: d.Status, AgentConnected: d.AgentConnected, RunningTasksCount: d.RunningTasksCount,
		PendingTasksCount: d.PendingTasksCount, Version: d.Version,
	}, nil
}

func parseTask(ev Event, detail []byte) (hint, error) {
	var d struct {
		ClusterARN           string `json:"clusterArn"`
		TaskARN              string `json:"taskArn"`
		ContainerInstanceARN string `json:"containerInstanceArn"`
		LastStatus           string `json:"lastStatus"`
		DesiredStatus        string `json:"desiredStatus"`
		Group                string `json:"group"`
		StartedBy            string `json:"startedBy"`
		StopCode             string `json:"stopCode"`
		Version              int64  `json:"version"`
	}
	if err := json.Unmarshal(detail, &d); err != nil {
		return nil, err
	}
	if d.ClusterARN == "" || d.TaskARN == "" {
		return nil, fmt.Errorf("no clusterArn or taskArn")
	}
	return TaskHint{
		Event: ev, ClusterARN: d.ClusterARN, TaskARN: d.TaskARN, ContainerInstanceARN: d.ContainerInstanceARN,
		LastStatus: d.LastStatus, DesiredStatus: d.DesiredStatus, Group: d.Group, StartedBy: d.StartedBy,
		StopCode: d.StopCode, Version: d.Version,
	}, nil
}

// ec2Detail is the detail of both Spot signals; key on instance-id, not on resources, whose ARN
// carries an Availability Zone in the region's place.
type ec2Detail struct {
	InstanceID     string `json:"instance-id"`
	InstanceAction string `json:"instance-action"`
}

func readEC2Detail(detail []byte) (ec2Detail, error) {
	var d ec2Detail
	if err := json.Unmarshal(detail, &d); err != nil {
		return d, err
	}
	if d.InstanceID == "" {
		return d, fmt.Errorf("no instance-id")
	}
	return d, nil
}

func parseSpot(ev Event, detail []byte) (hint, error) {
	d, err := readEC2Detail(detail)
	if err != nil {
		return nil, err
	}
	return SpotHint{Event: ev, InstanceID: d.InstanceID, Action: d.InstanceAction}, nil
}

func parseRebalance(ev Event, detail []byte) (hint, error) {
	d, err := readEC2Detail(detail)
	if err != nil {
		return nil, err
	}
	return RebalanceHint{Event: ev, InstanceID: d.InstanceID}, nil
}

// bodyForLog is the start of a message body, for the one log line of a message without a hint.
func bodyForLog(body string) string {
	r := []rune(body)
	if len(r) <= maxLoggedBodyRunes {
		return body
	}
	return string(r[:maxLoggedBodyRunes]) + "…"
}

package awssim

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// The events the simulated services publish, in AWS's formats (docs: aws-event-facts.md §2-§5),
// and Auto Scaling's lifecycle notifications sent straight to a hook's SQS queue (§3).

const (
	sourceAutoScaling = "aws.autoscaling"
	sourceECS         = "aws.ecs"
	sourceEC2         = "aws.ec2"

	detailTerminateAction     = "EC2 Instance-terminate Lifecycle Action"
	detailLaunchAction        = "EC2 Instance-launch Lifecycle Action"
	detailTerminateSuccessful = "EC2 Instance Terminate Successful"
	detailContainerInstance   = "ECS Container Instance State Change"
	detailTask                = "ECS Task State Change"
	detailSpotInterruption    = "EC2 Spot Instance Interruption Warning"
	detailRebalance           = "EC2 Instance Rebalance Recommendation"
	autoScalingServiceName    = "AWS Auto Scaling"
	testNotificationEvent     = "autoscaling:TEST_NOTIFICATION"
)

// lifecycleActionDetail is the detail of "EC2 Instance-terminate/-launch Lifecycle Action".
type lifecycleActionDetail struct {
	LifecycleActionToken string `json:"LifecycleActionToken"`
	AutoScalingGroupName string `json:"AutoScalingGroupName"`
	LifecycleHookName    string `json:"LifecycleHookName"`
	EC2InstanceID        string `json:"EC2InstanceId"`
	LifecycleTransition  string `json:"LifecycleTransition"`
	NotificationMetadata string `json:"NotificationMetadata,omitempty"`
	Origin               string `json:"Origin"`
	Destination          string `json:"Destination"`
}

// lifecycleNotification is the body Auto Scaling sends to a hook's SQS queue for an action.
type lifecycleNotification struct {
	LifecycleHookName    string `json:"LifecycleHookName"`
	AccountID            string `json:"AccountId"`
	RequestID            string `json:"RequestId"`
	LifecycleTransition  string `json:"LifecycleTransition"`
	AutoScalingGroupName string `json:"AutoScalingGroupName"`
	Service              string `json:"Service"`
	Time                 string `json:"Time"`
	EC2InstanceID        string `json:"EC2InstanceId"`
	NotificationMetadata string `json:"NotificationMetadata,omitempty"`
	LifecycleActionToken string `json:"LifecycleActionToken"`
}

// testNotification is what Auto Scaling sends to a hook's queue when the hook is added.
type testNotification struct {
	AccountID            string `json:"AccountId"`
	RequestID            string `json:"RequestId"`
	AutoScalingGroupARN  string `json:"AutoScalingGroupARN"`
	AutoScalingGroupName string `json:"AutoScalingGroupName"`
	Service              string `json:"Service"`
	Event                string `json:"Event"`
	Time                 string `json:"Time"`
}

// announceAction publishes the event of an action starting at at, and sends the hook's own
// notification when it has an SQS target.
func (m *asgModel) announceAction(inst *asgInstance, h *lifecycleHook, a *lifecycleAction, at time.Time) {
	detailType, origin, dest := detailTerminateAction, "AutoScalingGroup", "EC2"
	if a.transition == transitionLaunching {
		detailType, origin, dest = detailLaunchAction, "EC2", "AutoScalingGroup"
	}
	m.s.events.emit(sourceAutoScaling, detailType, []string{inst.group.arn}, lifecycleActionDetail{
		LifecycleActionToken: a.token, AutoScalingGroupName: inst.group.name, LifecycleHookName: h.name,
		EC2InstanceID: inst.id, LifecycleTransition: a.transition, NotificationMetadata: h.notice,
		Origin: origin, Destination: dest,
	}, at)
	if h.notificationTargetARN == "" {
		return
	}
	body, _ := json.Marshal(lifecycleNotification{
		LifecycleHookName: h.name, AccountID: m.s.opts.AccountID,
		RequestID: m.s.newEventUUID(), LifecycleTransition: a.transition, AutoScalingGroupName: inst.group.name,
		Service: autoScalingServiceName, Time: isoTime(at), EC2InstanceID: inst.id,
		NotificationMetadata: h.notice, LifecycleActionToken: a.token,
	})
	m.notifyHookTarget(h, string(body), at)
}

// notifyHookTarget sends a lifecycle message to the hook's target. Only SQS targets are
// simulated; a message for an SNS topic is counted undeliverable.
func (m *asgModel) notifyHookTarget(h *lifecycleHook, body string, at time.Time) {
	m.s.stats.LifecycleNotifications++
	m.s.events.schedule(h.notificationTargetARN, body, sqsAutoScalingSenderID, at, false)
}

// sendTestNotification is the message Auto Scaling publishes when a hook with a target is added.
func (m *asgModel) sendTestNotification(g *asgGroup, h *lifecycleHook, at time.Time) {
	body, _ := json.Marshal(testNotification{
		AccountID: m.s.opts.AccountID, RequestID: m.s.newEventUUID(), AutoScalingGroupARN: g.arn,
		AutoScalingGroupName: g.name, Service: autoScalingServiceName, Event: testNotificationEvent, Time: isoTime(at),
	})
	m.notifyHookTarget(h, string(body), at)
}

// hooksWithTargets are the group's hooks with a notification target, in name order.
func (g *asgGroup) hooksWithTargets() []*lifecycleHook {
	var out []*lifecycleHook
	for _, name := range slices.Sorted(maps.Keys(g.hooks)) {
		if h := g.hooks[name]; h.notificationTargetARN != "" {
			out = append(out, h)
		}
	}
	return out
}

// terminateSuccessfulDetail is the detail of "EC2 Instance Terminate Successful".
type terminateSuccessfulDetail struct {
	StatusCode           string            `json:"StatusCode"`
	Description          string            `json:"Description"`
	AutoScalingGroupName string            `json:"AutoScalingGroupName"`
	ActivityID           string            `json:"ActivityId"`
	Details              map[string]string `json:"Details"`
	RequestID            string            `json:"RequestId"`
	StatusMessage        string            `json:"StatusMessage"`
	EndTime              string            `json:"EndTime"`
	EC2InstanceID        string            `json:"EC2InstanceId"`
	StartTime            string            `json:"StartTime"`
	Cause                string            `json:"Cause"`
}

func (m *asgModel) announceTerminated(inst *asgInstance, at time.Time) {
	start := inst.termStart
	if start.IsZero() {
		start = at
	}
	m.s.events.emit(sourceAutoScaling, detailTerminateSuccessful, []string{inst.group.arn, m.instanceARN(inst)}, func() any {
		return terminateSuccessfulDetail{
			StatusCode: "InProgress", Description: "Terminating EC2 instance: " + inst.id, AutoScalingGroupName: inst.group.name,
			ActivityID: m.s.newEventUUID(), Details: map[string]string{"Availability Zone": inst.az, "Subnet ID": "subnet-" + inst.az},
			RequestID: m.s.newEventUUID(), EndTime: at.UTC().Format(time.RFC3339), EC2InstanceID: inst.id,
			StartTime: start.UTC().Format(time.RFC3339), Cause: inst.termCause,
		}
	}, at)
}

func (m *asgModel) instanceARN(inst *asgInstance) string {
	return fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", m.s.opts.Region, m.s.opts.AccountID, inst.id)
}

// Fields of the ECS events' detail, from the EventBridge schema registry (aws-event-facts §4).
var (
	containerInstanceEventFields = setOf("accountType", "agentConnected", "agentUpdateStatus", "attachments", "attributes",
		"clusterArn", "containerInstanceArn", "ec2InstanceId", "pendingTasksCount", "registeredAt", "registeredResources",
		"remainingResources", "runningTasksCount", "status", "statusReason", "updatedAt", "version", "versionInfo")
	taskEventFields = setOf("attachments", "attributes", "availabilityZone", "clusterArn", "connectivity", "connectivityAt",
		"containerInstanceArn", "containers", "cpu", "createdAt", "desiredStatus", "executionStoppedAt", "group", "lastStatus",
		"launchType", "memory", "overrides", "platformVersion", "pullStartedAt", "pullStoppedAt", "startedAt", "startedBy",
		"stopCode", "stoppedAt", "stoppedReason", "stoppingAt", "taskArn", "taskDefinitionArn", "updatedAt", "version")
	eventTimeFields = setOf("registeredAt", "createdAt", "startedAt", "stoppingAt", "stoppedAt", "executionStoppedAt",
		"pullStartedAt", "pullStoppedAt", "connectivityAt")
)

func setOf(xs ...string) map[string]bool {
	out := map[string]bool{}
	for _, x := range xs {
		out[x] = true
	}
	return out
}

// matchableDetail is an event detail already in the form decoding its JSON gives (json.Number for
// numbers, map[string]any and []any inside), so emit matches rules against it without encoding
// the event and decoding it again: under the simulator's lock, for every task and container
// instance change, that round trip was most of a scale-in's step.
type matchableDetail map[string]any

// eventDetail turns a Describe* resource into an event detail: only the schema's fields, epoch
// timestamps as ISO strings with milliseconds (the events' form), and updatedAt. extra holds
// strings only.
func eventDetail(resource any, fields map[string]bool, extra map[string]string, at time.Time) matchableDetail {
	b, _ := json.Marshal(resource)
	raw, _ := decodeEvent(b)
	out := matchableDetail{}
	for k, v := range raw {
		if !fields[k] {
			continue
		}
		if n, ok := v.(json.Number); ok && eventTimeFields[k] {
			f, _ := n.Float64()
			sec, frac := math.Modf(f)
			v = isoTime(time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)))
		}
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	out["updatedAt"] = isoTime(at)
	return out
}

// instanceChanged records a state change of a container instance at at: its version moves on and
// ECS publishes a Container Instance State Change.
func (m *ecsModel) instanceChanged(ci *ecsContainerInstance, at time.Time) {
	ci.version++
	ci.cluster.dirty = true // every change to an instance or its tasks passes here
	m.announceInstance(ci, at)
}

func (m *ecsModel) announceInstance(ci *ecsContainerInstance, at time.Time) {
	m.s.events.emit(sourceECS, detailContainerInstance, []string{ci.arn}, func() any {
		return eventDetail(m.renderInstance(ci, false), containerInstanceEventFields, map[string]string{"clusterArn": ci.cluster.arn}, at)
	}, at)
}

// taskChanged records a state change of a task at at: the task's and its container instance's
// versions move on (its resources changed) and ECS publishes a Task State Change and a Container
// Instance State Change.
func (m *ecsModel) taskChanged(t *ecsTask, at time.Time) {
	t.version++
	m.announceTask(t, at)
	m.instanceChanged(t.ci, at)
}

func (m *ecsModel) announceTask(t *ecsTask, at time.Time) {
	m.s.events.emit(sourceECS, detailTask, []string{t.arn}, func() any {
		return eventDetail(m.renderTask(t, false), taskEventFields, nil, at)
	}, at)
}

// spotInstanceARN is the resource of EC2's Spot events, with the Availability Zone where the
// Region goes and no account, as EC2 sends it (aws-event-facts §5).
func spotInstanceARN(az, id string) string {
	return "arn:aws:ec2:" + az + ":instance/" + id
}

func (m *asgModel) announceSpot(inst *asgInstance, detailType string, detail any, at time.Time) {
	m.s.events.emit(sourceEC2, detailType, []string{spotInstanceARN(inst.az, inst.id)}, detail, at)
}

// isSQSARN reports whether arn names an SQS queue, the only notification target simulated.
func isSQSARN(arn string) bool { return strings.HasPrefix(arn, "arn:aws:sqs:") }

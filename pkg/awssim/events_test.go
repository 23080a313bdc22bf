package awssim_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

const eventDelay = 100 * time.Millisecond // the default awssim.Options.EventDelay

// rule creates a rule with pattern whose one target is the queue, and returns the queue's URL.
func (e *sqsEnv) rule(name, pattern, queue string) string {
	e.t.Helper()
	q := e.createQueue(queue, nil)
	if _, err := e.eb.PutRule(e.t.Context(), &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(pattern)}); err != nil {
		e.t.Fatalf("PutRule %s: %v", name, err)
	}
	out, err := e.eb.PutTargets(e.t.Context(), &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: []ebtypes.Target{
		{Id: aws.String("q"), Arn: aws.String(e.attr(q, types.QueueAttributeNameQueueArn))},
	}})
	if err != nil || out.FailedEntryCount != 0 {
		e.t.Fatalf("PutTargets %s: %v %+v", name, err, out)
	}
	return q
}

// drain receives every message on the queue (deleting them) and decodes each body as JSON.
func (e *sqsEnv) drain(q string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for {
		msgs := e.receive(q, 10)
		if len(msgs) == 0 {
			return out
		}
		for _, m := range msgs {
			var body map[string]any
			if err := json.Unmarshal([]byte(*m.Body), &body); err != nil {
				e.t.Fatalf("message body is not JSON: %v: %s", err, *m.Body)
			}
			out = append(out, body)
			if _, err := e.sqs.DeleteMessage(e.t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: m.ReceiptHandle}); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

func keys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// envelopeKeys are the top-level fields of every EventBridge event (aws-event-facts §1).
var envelopeKeys = []string{"account", "detail", "detail-type", "id", "region", "resources", "source", "time", "version"}

// checkEnvelope checks an event's envelope against aws-event-facts §1 and returns its detail.
func checkEnvelope(t *testing.T, ev map[string]any, source, detailType string) map[string]any {
	t.Helper()
	if got := keys(ev); !slices.Equal(got, envelopeKeys) {
		t.Errorf("event fields = %v, want %v", got, envelopeKeys)
	}
	if ev["version"] != "0" || ev["source"] != source || ev["detail-type"] != detailType || ev["account"] != "123456789012" || ev["region"] != "us-east-1" {
		t.Errorf("envelope = %v, want version 0, %s, %s", ev, source, detailType)
	}
	if ts, _ := ev["time"].(string); len(ts) != len("2020-07-01T22:19:58Z") || !strings.HasSuffix(ts, "Z") {
		t.Errorf("time = %q, want RFC 3339 with second resolution", ev["time"])
	}
	d, ok := ev["detail"].(map[string]any)
	if !ok {
		t.Fatalf("detail = %v, want an object", ev["detail"])
	}
	return d
}

// TestLifecycleEventsReachSQS scales in an instance held by a terminating hook and reads the
// "EC2 Instance-terminate Lifecycle Action" event from a rule's queue, then "EC2 Instance Terminate
// Successful" once the action is completed. A rule for another group gets nothing.
func TestLifecycleEventsReachSQS(t *testing.T) {
	e := newSQSEnv(t, awssim.Options{})
	ctx := t.Context()
	q := e.rule("drain", `{"source":["aws.autoscaling"],"detail-type":["EC2 Instance-terminate Lifecycle Action","EC2 Instance Terminate Successful"],"detail":{"AutoScalingGroupName":["web"]}}`, "drain-q")
	other := e.rule("other", `{"source":["aws.autoscaling"],"detail":{"AutoScalingGroupName":["other"]}}`, "other-q")
	e.createGroup("web", 1, nil)
	e.putHook("web", "ecs-drainer", "autoscaling:EC2_INSTANCE_TERMINATING", 300, "CONTINUE")
	e.advance(launchDelay)
	id := e.onlyInstance("web")

	e.setDesired("web", 0)
	e.advance(eventDelay - time.Millisecond)
	if got := e.drain(q); len(got) != 0 {
		t.Fatalf("events before the delivery delay = %v, want none", got)
	}
	e.advance(time.Millisecond)
	evs := e.drain(q)
	if len(evs) != 1 {
		t.Fatalf("events = %v, want one lifecycle action", evs)
	}
	d := checkEnvelope(t, evs[0], "aws.autoscaling", "EC2 Instance-terminate Lifecycle Action")
	actions := e.sim.LifecycleActions()
	want := map[string]any{
		"LifecycleActionToken": actions[0].LifecycleActionToken, "AutoScalingGroupName": "web", "LifecycleHookName": "ecs-drainer",
		"EC2InstanceId": id, "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING", "Origin": "AutoScalingGroup", "Destination": "EC2",
	}
	if !maps.Equal(d, want) {
		t.Errorf("detail = %v, want %v", d, want)
	}
	groupARN := aws.ToString(e.group("web").AutoScalingGroupARN)
	if r, _ := evs[0]["resources"].([]any); len(r) != 1 || r[0] != groupARN {
		t.Errorf("resources = %v, want [%s]", evs[0]["resources"], groupARN)
	}

	if _, err := e.client.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName: aws.String("web"), LifecycleHookName: aws.String("ecs-drainer"),
		LifecycleActionResult: aws.String("CONTINUE"), InstanceId: aws.String(id),
	}); err != nil {
		t.Fatal(err)
	}
	e.advance(terminateDelay + eventDelay)
	evs = e.drain(q)
	if len(evs) != 1 {
		t.Fatalf("events after completion = %v, want Terminate Successful", evs)
	}
	d = checkEnvelope(t, evs[0], "aws.autoscaling", "EC2 Instance Terminate Successful")
	wantKeys := []string{"ActivityId", "AutoScalingGroupName", "Cause", "Description", "Details", "EC2InstanceId", "EndTime", "RequestId", "StartTime", "StatusCode", "StatusMessage"}
	if got := keys(d); !slices.Equal(got, wantKeys) || d["EC2InstanceId"] != id || d["Description"] != "Terminating EC2 instance: "+id {
		t.Errorf("Terminate Successful detail = %v, want fields %v", d, wantKeys)
	}
	if r, _ := evs[0]["resources"].([]any); len(r) != 2 || r[0] != groupARN || !strings.HasSuffix(r[1].(string), ":instance/"+id) {
		t.Errorf("resources = %v, want the group and instance ARNs", evs[0]["resources"])
	}
	if got := e.drain(other); len(got) != 0 {
		t.Errorf("the other group's rule got %v", got)
	}
}

// TestLifecycleHookNotifiesSQS sends a hook's messages straight to its queue: the test
// notification when the hook is put, then one message per action, in Auto Scaling's format.
func TestLifecycleHookNotifiesSQS(t *testing.T) {
	e := newSQSEnv(t, awssim.Options{})
	ctx := t.Context()
	q := e.createQueue("hooks", nil)
	arn := e.attr(q, types.QueueAttributeNameQueueArn)
	e.createGroup("web", 1, nil)
	e.advance(launchDelay)
	id := e.onlyInstance("web")
	put := func(target, role string) error {
		_, err := e.client.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{
			AutoScalingGroupName: aws.String("web"), LifecycleHookName: aws.String("drain"),
			LifecycleTransition: aws.String("autoscaling:EC2_INSTANCE_TERMINATING"), HeartbeatTimeout: aws.Int32(300),
			NotificationTargetARN: aws.String(target), RoleARN: aws.String(role), NotificationMetadata: aws.String("cluster=prod"),
		})
		return err
	}
	if got := apiCode(t, put("arn:aws:sqs:us-east-1:123456789012:missing", "arn:aws:iam::123456789012:role/hooks")); got != "ValidationError" {
		t.Errorf("hook to a missing queue: %s, want ValidationError", got)
	}
	if got := apiCode(t, put(arn, "")); got != "ValidationError" {
		t.Errorf("hook without a role: %s, want ValidationError", got)
	}
	if err := put(arn, "arn:aws:iam::123456789012:role/hooks"); err != nil {
		t.Fatal(err)
	}
	e.advance(eventDelay)
	msgs := e.drain(q)
	if len(msgs) != 1 {
		t.Fatalf("messages after PutLifecycleHook = %v, want the test notification", msgs)
	}
	wantTest := []string{"AccountId", "AutoScalingGroupARN", "AutoScalingGroupName", "Event", "RequestId", "Service", "Time"}
	if got := keys(msgs[0]); !slices.Equal(got, wantTest) || msgs[0]["Event"] != "autoscaling:TEST_NOTIFICATION" || msgs[0]["Service"] != "AWS Auto Scaling" {
		t.Errorf("test notification = %v, want fields %v", msgs[0], wantTest)
	}

	e.setDesired("web", 0)
	e.advance(eventDelay)
	msgs = e.drain(q)
	if len(msgs) != 1 {
		t.Fatalf("messages after scale-in = %v, want one lifecycle message", msgs)
	}
	wantKeys := []string{"AccountId", "AutoScalingGroupName", "EC2InstanceId", "LifecycleActionToken", "LifecycleHookName", "LifecycleTransition", "NotificationMetadata", "RequestId", "Service", "Time"}
	m := msgs[0]
	if got := keys(m); !slices.Equal(got, wantKeys) {
		t.Errorf("lifecycle message fields = %v, want %v", got, wantKeys)
	}
	if m["EC2InstanceId"] != id || m["NotificationMetadata"] != "cluster=prod" || m["LifecycleActionToken"] != e.sim.LifecycleActions()[0].LifecycleActionToken {
		t.Errorf("lifecycle message = %v", m)
	}
	if ts, _ := m["Time"].(string); len(ts) != len("2018-12-12T11:28:51.086Z") {
		t.Errorf("Time = %q, want milliseconds", m["Time"])
	}
	if n := e.sim.Stats().LifecycleNotifications; n != 2 {
		t.Errorf("LifecycleNotifications = %d, want 2", n)
	}

	checkCreateHookNotifies(t, e, q, arn)
}

// checkCreateHookNotifies checks a hook given at group creation gets its test notification too,
// on queue q (ARN arn).
func checkCreateHookNotifies(t *testing.T, e *sqsEnv, q, arn string) {
	t.Helper()
	// A hook given at group creation gets its test notification too.
	_, err := e.client.CreateAutoScalingGroup(t.Context(), &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("api"), MinSize: aws.Int32(0), MaxSize: aws.Int32(1),
		LaunchTemplate: &asgtypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("lt")},
		LifecycleHookSpecificationList: []asgtypes.LifecycleHookSpecification{{
			LifecycleHookName: aws.String("drain"), LifecycleTransition: aws.String("autoscaling:EC2_INSTANCE_TERMINATING"),
			NotificationTargetARN: aws.String(arn), RoleARN: aws.String("arn:aws:iam::123456789012:role/hooks"),
		}},
	})
	must(t, err)
	e.advance(eventDelay)
	if msgs := e.drain(q); len(msgs) != 1 || msgs[0]["AutoScalingGroupName"] != "api" || msgs[0]["Event"] != "autoscaling:TEST_NOTIFICATION" {
		t.Errorf("messages after CreateAutoScalingGroup = %v, want its hook's test notification", msgs)
	}
}

// TestECSEvents drains a container instance running tasks and reads the ECS events: a rule for
// DRAINING container instances gets exactly one event, a rule for STOPPED tasks one per task.
func TestECSEvents(t *testing.T) {
	e := newSQSEnv(t, awssim.Options{})
	ctx := t.Context()
	ec := e.newECSClient()
	draining := e.rule("draining", `{"source":["aws.ecs"],"detail-type":["ECS Container Instance State Change"],"detail":{"status":["DRAINING"]}}`, "draining-q")
	stopped := e.rule("stopped", `{"source":["aws.ecs"],"detail-type":["ECS Task State Change"],"detail":{"lastStatus":["STOPPED"]}}`, "stopped-q")
	if _, err := ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}); err != nil {
		t.Fatal(err)
	}
	e.createGroup("web", 1, map[string]string{"awssim:ecs-cluster": "prod", "awssim:task-slots": "2"})
	e.advance(launchDelay + registerDelay)
	if _, err := ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("app"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("nginx"), Memory: aws.Int32(128), StopTimeout: aws.Int32(2)}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := ec.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("app"), Count: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Second)
	list, err := ec.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod")})
	if err != nil || len(list.ContainerInstanceArns) != 1 {
		t.Fatalf("ListContainerInstances: %v %v", list, err)
	}
	ciARN := list.ContainerInstanceArns[0]
	up, err := ec.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("prod"), ContainerInstances: []string{ciARN}, Status: ecstypes.ContainerInstanceStatusDraining})
	if err != nil {
		t.Fatal(err)
	}
	e.advance(eventDelay)
	evs := e.drain(draining)
	if len(evs) != 1 {
		t.Fatalf("DRAINING events = %d, want 1", len(evs))
	}
	checkDrainingEvent(t, evs[0], ciARN, up.ContainerInstances[0].Version)

	checkTaskStoppedEvent(t, e, ec, stopped, ciARN)
}

// checkDrainingEvent checks the container instance state change of ciARN set DRAINING.
func checkDrainingEvent(t *testing.T, ev map[string]any, ciARN string, version int64) {
	t.Helper()
	d := checkEnvelope(t, ev, "aws.ecs", "ECS Container Instance State Change")
	for _, k := range []string{"agentConnected", "attributes", "clusterArn", "containerInstanceArn", "ec2InstanceId", "pendingTasksCount", "registeredAt",
		"registeredResources", "remainingResources", "runningTasksCount", "status", "updatedAt", "version", "versionInfo"} {
		if _, ok := d[k]; !ok {
			t.Errorf("container instance detail lacks %s: %v", k, keys(d))
		}
	}
	if d["containerInstanceArn"] != ciARN || d["clusterArn"] != "arn:aws:ecs:us-east-1:123456789012:cluster/prod" || d["version"] != float64(version) {
		t.Errorf("detail = %v, want the instance at version %d", d, version)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", d["registeredAt"].(string)); err != nil {
		t.Errorf("registeredAt = %v, want an ISO string: %v", d["registeredAt"], err)
	}
}

// checkTaskStoppedEvent stops a standalone task by hand (they stay on a draining instance: only
// services move theirs) and checks its task state change reaches queue stopped.
func checkTaskStoppedEvent(t *testing.T, e *sqsEnv, ec *ecs.Client, stopped, ciARN string) {
	t.Helper()
	// Standalone tasks stay on a draining instance (only services move theirs): stop one by hand.
	if _, err := ec.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String(firstTask(t, ec))}); err != nil {
		t.Fatal(err)
	}
	e.advance(2*time.Second + eventDelay)
	evs := e.drain(stopped)
	if len(evs) != 1 {
		t.Fatalf("STOPPED task events = %d, want 1", len(evs))
	}
	d := checkEnvelope(t, evs[0], "aws.ecs", "ECS Task State Change")
	if d["lastStatus"] != "STOPPED" || d["launchType"] != "EC2" || d["containerInstanceArn"] != ciARN || d["stopCode"] != "UserInitiated" {
		t.Errorf("task detail = %v", d)
	}
	if e.sim.Stats().EventsEmitted == 0 {
		t.Error("EventsEmitted = 0")
	}
}

func firstTask(t *testing.T, ec *ecs.Client) string {
	t.Helper()
	out, err := ec.ListTasks(t.Context(), &ecs.ListTasksInput{Cluster: aws.String("prod")})
	if err != nil || len(out.TaskArns) == 0 {
		t.Fatalf("ListTasks: %v %v", out, err)
	}
	return out.TaskArns[0]
}

// putEvents publishes n custom events, numbered in their detail, and returns their IDs in order.
func (e *sqsEnv) putEvents(n int) []string {
	e.t.Helper()
	var ids []string
	for i := range n {
		out, err := e.eb.PutEvents(e.t.Context(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			Source: aws.String("test.app"), DetailType: aws.String("Tick"), Detail: aws.String(fmt.Sprintf(`{"n":%d}`, i)),
		}}})
		if err != nil || out.FailedEntryCount != 0 {
			e.t.Fatalf("PutEvents: %v %+v", err, out)
		}
		ids = append(ids, *out.Entries[0].EventId)
	}
	return ids
}

// field returns one string field of each event: eventIDs, detail types.
func field(evs []map[string]any, name string) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev[name].(string))
	}
	return out
}

func eventIDs(evs []map[string]any) []string { return field(evs, "id") }

// TestEventDeliveryFaults shows the delivery knobs doing exactly what they say: every event twice,
// none at all, or all of them in a different order.
func TestEventDeliveryFaults(t *testing.T) {
	const pattern = `{"source":["test.app"]}`
	t.Run("duplicate", func(t *testing.T) {
		e := newSQSEnv(t, awssim.Options{EventDuplicate: 1})
		q := e.rule("r", pattern, "q")
		ids := e.putEvents(5)
		e.advance(eventDelay)
		got := eventIDs(e.drain(q))
		slices.Sort(got)
		want := append(slices.Clone(ids), ids...)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("delivered %v, want each of %v twice", got, ids)
		}
		if st := e.sim.Stats(); st.Deliveries["duplicated"] != 5 || st.Deliveries["delivered"] != 10 {
			t.Errorf("deliveries = %v", st.Deliveries)
		}
	})
	t.Run("loss", func(t *testing.T) {
		e := newSQSEnv(t, awssim.Options{EventLoss: 1})
		q := e.rule("r", pattern, "q")
		e.putEvents(5)
		e.advance(eventDelay)
		if got := e.drain(q); len(got) != 0 {
			t.Errorf("delivered %d events, want none", len(got))
		}
		if st := e.sim.Stats(); st.Deliveries["lost"] != 5 {
			t.Errorf("deliveries = %v", st.Deliveries)
		}
	})
	t.Run("reorder", func(t *testing.T) {
		e := newSQSEnv(t, awssim.Options{EventReorder: time.Second, Seed: 1})
		q := e.rule("r", pattern, "q")
		ids := e.putEvents(10)
		e.advance(eventDelay + time.Second)
		got := eventIDs(e.drain(q))
		if slices.Equal(got, ids) {
			t.Errorf("delivered in publication order %v, want another order", got)
		}
		slices.Sort(got)
		sorted := slices.Sorted(slices.Values(ids))
		if !slices.Equal(got, sorted) {
			t.Errorf("delivered %v, want exactly the published events", got)
		}
	})
}

// TestEventBridgeAPI covers the rule and target operations and their errors.
func TestEventBridgeAPI(t *testing.T) {
	e := newSQSEnv(t, awssim.Options{})
	ctx := t.Context()
	e.rule("a-rule", `{"source":["aws.ecs"]}`, "q")
	if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("bad"), EventPattern: aws.String(`{"source":"aws.ecs"}`)}); apiCode(t, err) != "InvalidEventPatternException" {
		t.Errorf("PutRule with a scalar leaf: %v, want InvalidEventPatternException", err)
	}
	d, err := e.eb.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("a-rule")})
	if err != nil || aws.ToString(d.EventPattern) != `{"source":["aws.ecs"]}` || d.State != ebtypes.RuleStateEnabled || aws.ToString(d.Arn) != "arn:aws:events:us-east-1:123456789012:rule/a-rule" {
		t.Errorf("DescribeRule = %+v, %v", d, err)
	}
	if _, err := e.eb.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("nope")}); apiCode(t, err) != "ResourceNotFoundException" {
		t.Errorf("DescribeRule nope: %v", err)
	}
	rules, err := e.eb.ListRules(ctx, &eventbridge.ListRulesInput{NamePrefix: aws.String("a-")})
	if err != nil || len(rules.Rules) != 1 {
		t.Errorf("ListRules = %+v, %v", rules, err)
	}
	targets, err := e.eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String("a-rule")})
	if err != nil || len(targets.Targets) != 1 || aws.ToString(targets.Targets[0].Arn) != "arn:aws:sqs:us-east-1:123456789012:q" {
		t.Errorf("ListTargetsByRule = %+v, %v", targets, err)
	}
	checkDeleteRuleAndPutEvents(t, e)
}

// checkDeleteRuleAndPutEvents deletes rule a-rule (refused while it has targets) and checks
// PutEvents refuses an AWS source and a malformed detail.
func checkDeleteRuleAndPutEvents(t *testing.T, e *sqsEnv) {
	t.Helper()
	ctx := t.Context()
	if _, err := e.eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String("a-rule")}); apiCode(t, err) != "ValidationException" {
		t.Errorf("DeleteRule with targets: %v, want ValidationException", err)
	}
	if _, err := e.eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String("a-rule"), Ids: []string{"q"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String("a-rule")}); err != nil {
		t.Errorf("DeleteRule: %v", err)
	}
	out, err := e.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		{Source: aws.String("aws.ec2"), DetailType: aws.String("x"), Detail: aws.String("{}")},
		{Source: aws.String("app"), DetailType: aws.String("x"), Detail: aws.String("not json")},
	}})
	if err != nil || out.FailedEntryCount != 2 || aws.ToString(out.Entries[0].ErrorCode) != "NotAuthorizedForSourceException" || aws.ToString(out.Entries[1].ErrorCode) != "MalformedDetail" {
		t.Errorf("PutEvents = %+v, %v", out, err)
	}
}

// TestLaunchLifecycleEvent reads the launch variant: an instance held in Pending:Wait by a
// launching hook, with Origin EC2 and Destination AutoScalingGroup.
func TestLaunchLifecycleEvent(t *testing.T) {
	e := newSQSEnv(t, awssim.Options{})
	q := e.rule("launch", `{"source":["aws.autoscaling"],"detail-type":["EC2 Instance-launch Lifecycle Action"]}`, "launch-q")
	e.createGroup("web", 0, nil)
	e.putHook("web", "warm-up", "autoscaling:EC2_INSTANCE_LAUNCHING", 60, "ABANDON")
	e.setDesired("web", 1)
	e.advance(launchDelay + eventDelay)
	evs := e.drain(q)
	if len(evs) != 1 {
		t.Fatalf("events = %v, want one launch action", evs)
	}
	d := checkEnvelope(t, evs[0], "aws.autoscaling", "EC2 Instance-launch Lifecycle Action")
	if d["LifecycleTransition"] != "autoscaling:EC2_INSTANCE_LAUNCHING" || d["Origin"] != "EC2" || d["Destination"] != "AutoScalingGroup" || d["EC2InstanceId"] != e.onlyInstance("web") {
		t.Errorf("detail = %v", d)
	}
}

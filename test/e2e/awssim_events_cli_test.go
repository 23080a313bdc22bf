package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// TestAWSCLIEventsConformance drives awssim's event plumbing with the AWS CLI v2 from Debian
// (2.9.19), whose botocore speaks SQS's Query protocol (form posts to the queue URL, XML answers)
// and EventBridge's JSON 1.1: queues with a dead-letter queue, a rule routing lifecycle events to
// one, a hook notifying another straight from Auto Scaling, message handling, and the error
// envelopes of both protocols.
func TestAWSCLIEventsConformance(t *testing.T) {
	requireCLI(t)
	simBin, _, err := harness.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	sim := cliStartSim(t, simBin, "--event-delay", "10ms")
	aws := newCLIRunner(t, sim)

	events, hooks := cliEventsSetup(t, aws)
	cliEventsFlow(t, aws, events, hooks)
	cliSQSMessages(t, aws, events)
	cliSQSErrors(t, aws, events)
}

// cliMessage is a received message as the CLI prints it.
type cliMessage struct {
	MessageId, ReceiptHandle, MD5OfBody, Body string //nolint:revive // the CLI's names
	Attributes                                map[string]string
}

// receive long-polls a queue for up to max messages with every system attribute.
func (c *cliRunner) receive(queueURL string, maxN, wait string) []cliMessage {
	c.t.Helper()
	var out struct{ Messages []cliMessage }
	stdout := c.ok("sqs", "receive-message", "--queue-url", queueURL, "--max-number-of-messages", maxN,
		"--wait-time-seconds", wait, "--attribute-names", "All", "--message-attribute-names", "All")
	if strings.TrimSpace(stdout) == "" {
		return nil // the CLI prints nothing for an empty receive
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		c.t.Fatalf("decoding receive-message: %v\n%s", err, stdout)
	}
	return out.Messages
}

// cliEventsSetup creates the queues (one with a dead-letter queue), the rule and target, and a group
// with a hook that notifies a queue. It returns the two queues' URLs.
func cliEventsSetup(t *testing.T, aws *cliRunner) (events, hooks string) {
	var q struct{ QueueUrl string } //nolint:revive // the CLI's name
	aws.json(&q, "sqs", "create-queue", "--queue-name", "dead")
	var attrs struct{ Attributes map[string]string }
	aws.json(&attrs, "sqs", "get-queue-attributes", "--queue-url", q.QueueUrl, "--attribute-names", "QueueArn")
	dlqARN := attrs.Attributes["QueueArn"]
	if dlqARN != "arn:aws:sqs:us-east-1:123456789012:dead" {
		t.Fatalf("QueueArn = %q", dlqARN)
	}
	aws.json(&q, "sqs", "create-queue", "--queue-name", "events", "--attributes",
		`{"VisibilityTimeout":"1","RedrivePolicy":"{\"deadLetterTargetArn\":\"`+dlqARN+`\",\"maxReceiveCount\":\"2\"}"}`)
	events = q.QueueUrl
	if events != aws.endpoint+"/123456789012/events" {
		t.Errorf("queue URL = %s, want one on awssim's own address", events)
	}
	aws.json(&q, "sqs", "create-queue", "--queue-name", "hooks")
	hooks = q.QueueUrl

	aws.ok("events", "put-rule", "--name", "drain", "--event-pattern",
		`{"source":["aws.autoscaling"],"detail-type":["EC2 Instance-terminate Lifecycle Action"],"detail":{"AutoScalingGroupName":["web-asg"]}}`)
	var put struct{ FailedEntryCount int }
	aws.json(&put, "events", "put-targets", "--rule", "drain", "--targets", "Id=q,Arn=arn:aws:sqs:us-east-1:123456789012:events")
	if put.FailedEntryCount != 0 {
		t.Fatalf("put-targets failed %d entries", put.FailedEntryCount)
	}
	var targets struct{ Targets []struct{ Id, Arn string } } //nolint:revive // the CLI's names
	aws.json(&targets, "events", "list-targets-by-rule", "--rule", "drain")
	if len(targets.Targets) != 1 || targets.Targets[0].Arn != "arn:aws:sqs:us-east-1:123456789012:events" {
		t.Errorf("list-targets-by-rule = %+v", targets)
	}

	aws.ok("autoscaling", "create-auto-scaling-group", "--auto-scaling-group-name", "web-asg",
		"--launch-template", "LaunchTemplateName=ecs-node,Version=$Latest", "--min-size", "0", "--max-size", "2", "--desired-capacity", "1")
	aws.ok("autoscaling", "put-lifecycle-hook", "--auto-scaling-group-name", "web-asg", "--lifecycle-hook-name", "drain",
		"--lifecycle-transition", "autoscaling:EC2_INSTANCE_TERMINATING", "--heartbeat-timeout", "300",
		"--notification-target-arn", "arn:aws:sqs:us-east-1:123456789012:hooks", "--role-arn", "arn:aws:iam::123456789012:role/hooks")
	return events, hooks
}

// cliEventsFlow scales the group in and reads the lifecycle event from the rule's queue and Auto
// Scaling's own messages from the hook's queue.
func cliEventsFlow(t *testing.T, aws *cliRunner, events, hooks string) {
	msgs := aws.receive(hooks, "10", "20")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Body, `"Event":"autoscaling:TEST_NOTIFICATION"`) {
		t.Fatalf("hook queue = %+v, want the test notification", msgs)
	}
	aws.ok("sqs", "delete-message", "--queue-url", hooks, "--receipt-handle", msgs[0].ReceiptHandle)

	var instances struct {
		AutoScalingInstances []struct {
			InstanceID     string `json:"InstanceId"`
			LifecycleState string
		}
	}
	aws.eventually("the instance in service", func() (bool, string) {
		aws.json(&instances, "autoscaling", "describe-auto-scaling-instances")
		return len(instances.AutoScalingInstances) == 1 && instances.AutoScalingInstances[0].LifecycleState == "InService", ""
	})
	id := instances.AutoScalingInstances[0].InstanceID
	aws.ok("autoscaling", "set-desired-capacity", "--auto-scaling-group-name", "web-asg", "--desired-capacity", "0")

	msgs = aws.receive(events, "10", "20")
	if len(msgs) != 1 {
		t.Fatalf("rule queue = %+v, want the lifecycle event", msgs)
	}
	var ev struct {
		DetailType string `json:"detail-type"`
		Source     string
		Detail     struct{ EC2InstanceId, LifecycleHookName, LifecycleActionToken string } //nolint:revive // AWS's names
	}
	if err := json.Unmarshal([]byte(msgs[0].Body), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.DetailType != "EC2 Instance-terminate Lifecycle Action" || ev.Source != "aws.autoscaling" || ev.Detail.EC2InstanceId != id || ev.Detail.LifecycleHookName != "drain" {
		t.Errorf("lifecycle event = %+v", ev)
	}
	if msgs[0].Attributes["ApproximateReceiveCount"] != "1" || msgs[0].MD5OfBody == "" {
		t.Errorf("message attributes = %v", msgs[0].Attributes)
	}
	cliCheckHookMessage(t, aws, hooks, ev.Detail.LifecycleActionToken)
	aws.ok("autoscaling", "complete-lifecycle-action", "--auto-scaling-group-name", "web-asg", "--lifecycle-hook-name", "drain",
		"--lifecycle-action-result", "CONTINUE", "--lifecycle-action-token", ev.Detail.LifecycleActionToken)

	cliCheckRedrive(t, aws, events, msgs[0].MessageId)
}

// cliCheckHookMessage checks the hook's queue got Auto Scaling's own lifecycle message with
// the action's token.
func cliCheckHookMessage(t *testing.T, aws *cliRunner, hooks, token string) {
	t.Helper()
	hookMsgs := aws.receive(hooks, "10", "20")
	if len(hookMsgs) != 1 || !strings.Contains(hookMsgs[0].Body, `"LifecycleActionToken":"`+token+`"`) {
		t.Fatalf("hook queue = %+v, want the lifecycle message with token %s", hookMsgs, token)
	}
	if !strings.Contains(hookMsgs[0].Body, `"Service":"AWS Auto Scaling"`) || strings.Contains(hookMsgs[0].Body, "detail-type") {
		t.Errorf("hook message = %s, want Auto Scaling's own format", hookMsgs[0].Body)
	}
}

// cliCheckRedrive checks the event (messageID), never deleted, comes back after the 1 s
// visibility timeout, and the receive after the second moves it to the dead-letter queue
// (maxReceiveCount 2).
func cliCheckRedrive(t *testing.T, aws *cliRunner, events, messageID string) {
	t.Helper()
	again := aws.receive(events, "10", "20")
	if len(again) != 1 || again[0].MessageId != messageID || again[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("second receive = %+v, want the event again, received twice", again)
	}
	// The next receive, once the timeout ends, finds it due for the dead-letter queue and moves it.
	if moved := aws.receive(events, "10", "2"); len(moved) != 0 {
		t.Fatalf("third receive = %+v, want nothing: the event moved", moved)
	}
	dead := aws.receive(strings.Replace(events, "/events", "/dead", 1), "10", "20")
	if len(dead) != 1 || dead[0].MessageId != messageID || dead[0].Attributes["DeadLetterQueueSourceArn"] != "arn:aws:sqs:us-east-1:123456789012:events" {
		t.Fatalf("dead-letter queue = %+v, want the event from events", dead)
	}
}

// cliSQSMessages covers batches, visibility changes, purge, listing and deletion.
func cliSQSMessages(t *testing.T, aws *cliRunner, events string) {
	var sent struct {
		Successful []struct{ Id, MD5OfMessageBody string } //nolint:revive // the CLI's names
		Failed     []struct{ Id, Code string }             //nolint:revive // the CLI's names
	}
	aws.json(&sent, "sqs", "send-message-batch", "--queue-url", events, "--entries",
		`[{"Id":"a","MessageBody":"one"},{"Id":"b","MessageBody":"two","MessageAttributes":{"k":{"DataType":"String","StringValue":"v"}}}]`)
	if len(sent.Successful) != 2 || len(sent.Failed) != 0 || sent.Successful[0].MD5OfMessageBody != "f97c5d29941bfb1b2fdab0874906ab82" {
		t.Fatalf("send-message-batch = %+v", sent)
	}
	msgs := aws.receive(events, "10", "0")
	if len(msgs) != 2 {
		t.Fatalf("receive = %+v, want both", msgs)
	}
	aws.ok("sqs", "change-message-visibility", "--queue-url", events, "--receipt-handle", msgs[0].ReceiptHandle, "--visibility-timeout", "600")
	var del struct {
		Successful []struct{ Id string }       //nolint:revive // the CLI's names
		Failed     []struct{ Id, Code string } //nolint:revive // the CLI's names
	}
	aws.json(&del, "sqs", "delete-message-batch", "--queue-url", events, "--entries",
		`[{"Id":"ok","ReceiptHandle":"`+msgs[1].ReceiptHandle+`"},{"Id":"bad","ReceiptHandle":"junk"}]`)
	if len(del.Successful) != 1 || len(del.Failed) != 1 || del.Failed[0].Code != "ReceiptHandleIsInvalid" {
		t.Errorf("delete-message-batch = %+v", del)
	}
	var list struct{ QueueUrls []string } //nolint:revive // the CLI's names
	aws.json(&list, "sqs", "list-queues", "--queue-name-prefix", "d")
	if !slices.Equal(list.QueueUrls, []string{aws.endpoint + "/123456789012/dead"}) {
		t.Errorf("list-queues d = %v", list.QueueUrls)
	}
	aws.ok("sqs", "purge-queue", "--queue-url", events)
	var attrs struct{ Attributes map[string]string }
	aws.json(&attrs, "sqs", "get-queue-attributes", "--queue-url", events, "--attribute-names", "All")
	if attrs.Attributes["ApproximateNumberOfMessages"] != "0" || attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" || !strings.Contains(attrs.Attributes["RedrivePolicy"], "dead") {
		t.Errorf("attributes after purge = %v", attrs.Attributes)
	}
}

// cliSQSErrors checks how the CLI decodes awssim's Query error envelopes and EventBridge's JSON ones.
func cliSQSErrors(t *testing.T, aws *cliRunner, events string) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sqs", "get-queue-url", "--queue-name", "nope"}, "(AWS.SimpleQueueService.NonExistentQueue) when calling the GetQueueUrl operation: The specified queue does not exist."},
		{[]string{"sqs", "receive-message", "--queue-url", events, "--max-number-of-messages", "11"}, "(InvalidParameterValue) when calling the ReceiveMessage operation"},
		{[]string{"sqs", "purge-queue", "--queue-url", events}, "(AWS.SimpleQueueService.PurgeQueueInProgress)"},
		{[]string{"sqs", "delete-message", "--queue-url", events, "--receipt-handle", "junk"}, "(ReceiptHandleIsInvalid)"},
		{[]string{"sqs", "create-queue", "--queue-name", "events", "--attributes", "VisibilityTimeout=5"}, "(QueueAlreadyExists)"},
		{[]string{"events", "describe-rule", "--name", "nope"}, "(ResourceNotFoundException) when calling the DescribeRule operation: Rule nope does not exist"},
		{[]string{"events", "put-rule", "--name", "bad", "--event-pattern", `{"source":"aws.ecs"}`}, "(InvalidEventPatternException)"},
		{[]string{"events", "delete-rule", "--name", "drain"}, "(ValidationException) when calling the DeleteRule operation: Rule can't be deleted since it has targets."},
	} {
		_, stderr := aws.fails(cliExitServiceError, c.args...)
		if !strings.Contains(stderr, c.want) {
			t.Errorf("aws %s: stderr %q, want %q", strings.Join(c.args, " "), stderr, c.want)
		}
	}
	aws.ok("sqs", "delete-queue", "--queue-url", events)
	aws.fails(cliExitServiceError, "sqs", "get-queue-attributes", "--queue-url", events)
}

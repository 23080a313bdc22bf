package events

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// TestIdleMinuteCostsThreeReceives: on an idle queue every call is a 20 s long poll, so a minute
// costs exactly three ReceiveMessage calls and nothing else.
func TestIdleMinuteCostsThreeReceives(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	q, _ := e.createQueue("events")
	e.start(q)
	// The first receive waits a second only, to tell Health at once that the queue works.
	e.stepWhenWaiting(probeWaitSeconds * time.Second)
	e.waitFor("the probe", func() bool { return e.consumer.Health().Receiving() })
	start := e.clock.Now()
	for range 3 {
		e.stepWhenWaiting(waitTimeSeconds * time.Second)
	}
	// The fourth long poll has started, at the end of the minute.
	e.waitFor("the fourth long poll", func() bool { return e.calls.receives.Load() == 1+4 && e.clock.HasWaiters() })
	if got := e.calls.receivesDone.Load() - 1; got != 3 {
		t.Errorf("%d ReceiveMessage calls completed in an idle minute, want 3", got)
	}
	if got := e.sim.Stats().Requests["sqs/ReceiveMessage/OK"] - 1; got != 3 {
		t.Errorf("the simulator answered %d ReceiveMessage calls in the minute, want 3", got)
	}
	if got := e.calls.deletes.Load(); got != 0 {
		t.Errorf("%d DeleteMessageBatch calls on an idle queue, want 0", got)
	}
	end := start.Add(time.Minute)
	if h := e.consumer.Health(); !h.Receiving() || !h.LastReceive.Equal(end) {
		t.Errorf("health %+v, want receiving, last receive at the end of the minute", h)
	}
	if got := testutil.ToFloat64(e.m.LastReceiveSuccess); got != float64(end.Unix()) {
		t.Errorf("last receive success timestamp %v, want %d", got, end.Unix())
	}
}

// TestBacklogReceivedInParallel: a backlog (a large scale-in's events) is received by more than
// one loop at once, up to MaxReceivers; every message is dealt with once and deleted; once the
// backlog is gone the helper loops end, and the first loop's long poll is the only receive left.
func TestBacklogReceivedInParallel(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	q, _ := e.createQueue("events")
	const backlog = 500
	for range backlog / awsapi.MaxSQSBatch {
		entries := make([]sqstypes.SendMessageBatchRequestEntry, awsapi.MaxSQSBatch)
		for i := range entries {
			entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String("not an event")}
		}
		_, err := e.sqs.SendMessageBatch(t.Context(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(q), Entries: entries})
		must(t, err)
	}
	e.start(q)
	e.waitFor("the backlog", func() bool {
		return e.received(metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultMalformed) == backlog
	})
	// The helpers' last, empty receives wait a second on the fake clock; then only the first
	// loop's long poll is left.
	e.waitFor("the helpers to end", func() bool {
		if e.clock.HasWaiters() {
			e.clock.Step(helperWaitSeconds * time.Second)
		}
		return e.consumer.receivers.Load() == 1 && e.calls.inFlight.Load() == 1
	})
	if got := e.calls.maxInFlight.Load(); got < 2 || got > MaxReceivers {
		t.Errorf("at most %d receives in flight at once, want 2 to %d", got, MaxReceivers)
	}
	if visible, inFlight := e.queueState("events"); visible != 0 || inFlight != 0 {
		t.Errorf("queue holds %d visible and %d in flight, want every message deleted", visible, inFlight)
	}
	// One DeleteMessageBatch per receive that returned messages, each at most a full batch.
	if got, receives := e.calls.deletes.Load(), e.calls.receivesDone.Load(); got < backlog/awsapi.MaxSQSBatch || got > receives {
		t.Errorf("%d DeleteMessageBatch calls for %d messages in %d receives, want %d to %d", got, backlog, receives, backlog/awsapi.MaxSQSBatch, receives)
	}
}

// TestScaleInThroughEventBridge follows a scale-in in awssim through EventBridge rules to the
// sink: the lifecycle action, the container instance set DRAINING, its task stopping, the
// termination; then a Spot warning and a rebalance recommendation. EventBridge delivers every
// event twice here; each reaches the sink once, and every message is deleted.
func TestScaleInThroughEventBridge(t *testing.T) {
	e := newEnv(t, awssim.Options{EventDuplicate: 1})
	ctx := t.Context()
	q, arn := e.createQueue("events")
	e.rule("lifecycle", lifecyclePattern, arn)
	e.rule("ecs", `{"source":["aws.ecs"],"detail-type":["ECS Container Instance State Change","ECS Task State Change"],"detail":{"clusterArn":["arn:aws:ecs:us-east-1:123456789012:cluster/prod"]}}`, arn)
	e.rule("spot", `{"source":["aws.ec2"],"detail-type":["EC2 Spot Instance Interruption Warning","EC2 Instance Rebalance Recommendation"]}`, arn)
	e.start(q)
	id := e.fleet()
	_, err := e.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("app"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("nginx"), Memory: aws.Int32(128)}}})
	must(t, err)
	run, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("app")})
	must(t, err)
	task := *run.Tasks[0].TaskArn
	e.advance(time.Second)

	// Scale in: the hook holds the instance and the event arrives.
	_, err = e.asg.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web"), DesiredCapacity: aws.Int32(0)})
	must(t, err)
	e.advance(eventDelay)
	e.waitFor("the lifecycle action hint", func() bool {
		return len(find(e.sink, func(h InstanceHint) bool { return h.Kind == InstanceTerminating })) == 1
	})
	action := find(e.sink, func(h InstanceHint) bool { return h.Kind == InstanceTerminating })[0]
	if action.InstanceID != id || action.AutoScalingGroupName != "web" || action.LifecycleHookName != "ecs-drainer" ||
		action.LifecycleActionToken != e.sim.LifecycleActions()[0].LifecycleActionToken || action.Via != ViaEventBridge {
		t.Errorf("lifecycle hint %+v, want instance %s of web, hook ecs-drainer, the action's token, via EventBridge", action, id)
	}

	// What the controller would do: set DRAINING, stop the standalone task, complete.
	cis, err := e.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod")})
	must(t, err)
	_, err = e.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("prod"), ContainerInstances: cis.ContainerInstanceArns, Status: ecstypes.ContainerInstanceStatusDraining})
	must(t, err)
	_, err = e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String(task)})
	must(t, err)
	e.advance(31 * time.Second) // the task's default 30 s stopTimeout
	_, err = e.asg.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String("web"),
		LifecycleHookName: aws.String("ecs-drainer"), LifecycleActionResult: aws.String("CONTINUE"), InstanceId: aws.String(id)})
	must(t, err)
	e.advance(terminateDelay)
	e.advance(eventDelay)
	e.waitFor("the termination hint", func() bool {
		return len(find(e.sink, func(h InstanceHint) bool { return h.Kind == InstanceTerminated && h.InstanceID == id })) == 1
	})
	// A backlog is read by more than one receive at once, so hints of earlier events may still be
	// on their way to the sink.
	e.waitFor("a container instance hint with status DRAINING", func() bool {
		return len(find(e.sink, func(h ContainerInstanceHint) bool { return h.EC2InstanceID == id && h.Status == "DRAINING" })) > 0
	})
	e.waitFor("the task's STOPPED hint", func() bool {
		return len(find(e.sink, func(h TaskHint) bool { return h.TaskARN == task && h.LastStatus == "STOPPED" })) > 0
	})

	// Spot signals, for the replacement instance.
	e.spotSignals()

	// Every event reached the sink once, although each was delivered twice; all were deleted.
	e.checkEachOnce(t)
	e.waitFor("every message deleted", func() bool { v, f := e.queueState("events"); return v == 0 && f == 0 })
}

// checkEachOnce checks that every event reached the sink once although EventBridge delivered
// each twice: the consumer counted one copy handled and one duplicate of each type, and nothing
// malformed.
func (e *env) checkEachOnce(t *testing.T) {
	t.Helper()
	seen := map[string]int{}
	for _, h := range e.sink.all() {
		seen[h.(hint).event().ID]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s reached the sink %d times, want once", id, n)
		}
	}
	for source, types := range map[string][]string{
		metrics.EventSourceAutoScaling: {metrics.EventTypeLifecycleTerminate, metrics.EventTypeTerminateSuccessful},
		metrics.EventSourceECS:         {metrics.EventTypeContainerInstance, metrics.EventTypeTask},
		metrics.EventSourceEC2:         {metrics.EventTypeSpotInterruption, metrics.EventTypeRebalance},
	} {
		for _, typ := range types {
			handled, dup := e.received(source, typ, metrics.EventResultHandled), e.received(source, typ, metrics.EventResultDuplicate)
			if handled == 0 || dup != handled {
				t.Errorf("%s/%s: %d handled, %d duplicates; want some, each delivered twice", source, typ, handled, dup)
			}
		}
	}
	if n := e.received(metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultMalformed); n != 0 {
		t.Errorf("%d malformed messages, want 0", n)
	}
}

// lifecyclePattern is the lifecycle rule of config/cloudformation/ecs-drainer.yaml: the hook's
// terminating actions, and every termination (which carries no hook name).
const lifecyclePattern = `{"source":["aws.autoscaling"],"$or":[` +
	`{"detail-type":["EC2 Instance-terminate Lifecycle Action"],"detail":{"LifecycleHookName":["ecs-drainer"]}},` +
	`{"detail-type":["EC2 Instance Terminate Successful"]}]}`

// spotSignals interrupts the group's instance and recommends its rebalance, and waits for both hints.
func (e *env) spotSignals() {
	e.t.Helper()
	_, err := e.asg.SetDesiredCapacity(e.t.Context(), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web"), DesiredCapacity: aws.Int32(1)})
	must(e.t, err)
	e.advance(launchDelay + registerDelay)
	out, err := e.asg.DescribeAutoScalingGroups(e.t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"web"}})
	must(e.t, err)
	id := *out.AutoScalingGroups[0].Instances[0].InstanceId
	must(e.t, e.sim.RecommendRebalance(id))
	must(e.t, e.sim.InterruptSpot(id, "terminate"))
	e.advance(eventDelay)
	e.waitFor("the Spot hints", func() bool {
		return len(find(e.sink, func(h SpotHint) bool { return h.InstanceID == id && h.Action == "terminate" })) == 1 &&
			len(find(e.sink, func(h RebalanceHint) bool { return h.InstanceID == id })) == 1
	})
}

// TestScaleInThroughHookNotification: a hook whose NotificationTargetARN is the queue sends the
// test notification (counted, logged, deleted, no hint), then one message per action, which
// becomes an instance hint.
func TestScaleInThroughHookNotification(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	ctx := t.Context()
	q, arn := e.createQueue("hooks")
	e.start(q)
	id := e.fleet()
	_, err := e.asg.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String("web"), LifecycleHookName: aws.String("ecs-drainer"),
		LifecycleTransition: aws.String("autoscaling:EC2_INSTANCE_TERMINATING"), HeartbeatTimeout: aws.Int32(300),
		NotificationTargetARN: aws.String(arn), RoleARN: aws.String("arn:aws:iam::123456789012:role/hooks"),
		NotificationMetadata: aws.String("cluster=prod"),
	})
	must(t, err)
	e.advance(eventDelay)
	e.waitFor("the test notification", func() bool {
		return e.received(metrics.EventSourceAutoScalingHook, metrics.EventTypeTestNotification, metrics.EventResultIgnored) == 1
	})
	if n := e.logs.count("test notification Auto Scaling sends when a hook is added"); n != 1 {
		t.Errorf("test notification logged %d times, want once", n)
	}

	_, err = e.asg.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web"), DesiredCapacity: aws.Int32(0)})
	must(t, err)
	e.advance(eventDelay)
	e.waitFor("the lifecycle hint", func() bool { return len(e.sink.all()) == 1 })
	h, ok := e.sink.all()[0].(InstanceHint)
	if !ok || h.Kind != InstanceTerminating || h.InstanceID != id || h.Via != ViaHookNotification || h.NotificationMetadata != "cluster=prod" ||
		h.LifecycleActionToken != e.sim.LifecycleActions()[0].LifecycleActionToken || h.Time.IsZero() {
		t.Errorf("hint %+v, want the terminating action of %s via the hook's notification", e.sink.all()[0], id)
	}
	e.waitFor("every message deleted", func() bool { v, f := e.queueState("hooks"); return v == 0 && f == 0 })
	if got := e.calls.deletes.Load(); got != 2 {
		t.Errorf("%d DeleteMessageBatch calls, want 2 (one per receive that returned messages)", got)
	}
}

// TestMessagesWithoutHintsAreDeleted: garbage, an unknown type, a forged event and a copy of an
// event are each counted under their result, logged once and deleted; only the event reaches the sink.
func TestMessagesWithoutHintsAreDeleted(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	q, _ := e.createQueue("events")
	lifecycle := string(golden(t, "lifecycle-terminate.json"))
	for _, body := range []string{
		"not json at all",
		`{"version":"0","id":"x","detail-type":"ECS Service Action","source":"aws.ecs","time":"2020-01-01T00:00:00Z","detail":{}}`,
		strings.Replace(lifecycle, `"source":"aws.autoscaling"`, `"source":"evil.corp"`, 1),
		lifecycle,
		lifecycle,
	} {
		e.send(q, body)
	}
	e.start(q)
	e.waitFor("every message deleted", func() bool { v, f := e.queueState("events"); return v == 0 && f == 0 })
	if got := len(e.sink.all()); got != 1 {
		t.Errorf("%d hints, want 1", got)
	}
	for _, c := range []struct {
		source, typ, result string
		want                int
	}{
		{metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultMalformed, 1},
		{metrics.EventSourceECS, metrics.EventTypeOther, metrics.EventResultIgnored, 1},
		{metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultIgnored, 1},
		{metrics.EventSourceAutoScaling, metrics.EventTypeLifecycleTerminate, metrics.EventResultHandled, 1},
		{metrics.EventSourceAutoScaling, metrics.EventTypeLifecycleTerminate, metrics.EventResultDuplicate, 1},
	} {
		if got := e.received(c.source, c.typ, c.result); got != c.want {
			t.Errorf("events_received_total{%s,%s,%s} = %d, want %d", c.source, c.typ, c.result, got, c.want)
		}
	}
	for _, reason := range []string{"not a JSON object", `unknown detail-type \"ECS Service Action\"`, `this event's source is \"evil.corp\"`} {
		if n := e.logs.count(reason); n != 1 {
			t.Errorf("%q logged %d times, want once", reason, n)
		}
	}
}

// TestQueueDeletedAndRecreated: while the queue is gone every receive fails with
// QueueDoesNotExist, backing off 1, 2, 4, ... s; the failure is logged once, counted per call and
// shown in Health; once the queue is back, events flow again.
func TestQueueDeletedAndRecreated(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	q, _ := e.createQueue("events")
	e.start(q)
	e.waitFor("the first long poll", e.clock.HasWaiters)
	_, err := e.sqs.DeleteQueue(t.Context(), &sqs.DeleteQueueInput{QueueUrl: aws.String(q)})
	must(t, err)
	deleted := e.clock.Now()
	// The long poll in flight ends empty; the receives after it fail.
	for _, d := range []time.Duration{20, 1, 2, 4, 8, 16} {
		e.stepWhenWaiting(d * time.Second)
	}
	e.waitFor("the sixth failure", func() bool {
		return e.queueErrors(metrics.QueueOpReceiveMessage, metrics.QueueErrorQueueDoesNotExist) == 6 && e.clock.HasWaiters()
	})
	h := e.consumer.Health()
	if h.Receiving() || !awsapi.IsQueueDoesNotExist(h.Err) || !h.FailingSince.Equal(deleted.Add(20*time.Second)) {
		t.Errorf("health %+v, want failing with QueueDoesNotExist since the first failure", h)
	}
	if n := e.logs.count("Cannot receive from the event queue"); n != 1 {
		t.Errorf("the failure was logged %d times, want once", n)
	}
	// SQS refuses to re-create a queue within 60 s of deleting it; the consumer's backoff (32 s)
	// ends at 83 s.
	e.clock.Step(10 * time.Second)
	e.createQueue("events")
	e.send(q, string(golden(t, "spot-interruption.json")))
	e.stepWhenWaiting(22 * time.Second)
	e.waitFor("the hint", func() bool { return len(e.sink.all()) == 1 && e.consumer.Health().Receiving() })
	if n := e.queueErrors(metrics.QueueOpReceiveMessage, metrics.QueueErrorQueueDoesNotExist); n != 6 {
		t.Errorf("%d QueueDoesNotExist errors counted, want 6", n)
	}
	if n := e.logs.count("Receiving from the event queue again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once", n)
	}
}

// TestAccessDenied: SQS refusing the calls (IAM or the queue policy) is counted per call, logged
// once per change of error, and reported in Health; receives resume when it is lifted, and a
// message received before a delete was refused is handled once although it comes back.
func TestAccessDenied(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	q, _ := e.createQueue("events")
	denied := "AccessDenied"
	e.refuse.Store(&denied)
	e.start(q)
	for _, d := range []time.Duration{1, 2, 4} {
		e.stepWhenWaiting(d * time.Second)
	}
	e.waitFor("the fourth refusal", func() bool { return e.queueErrors(metrics.QueueOpReceiveMessage, metrics.QueueErrorAccessDenied) == 4 })
	if n := e.logs.count("Cannot receive from the event queue"); n != 1 {
		t.Errorf("AccessDenied logged %d times, want once", n)
	}
	throttled := "RequestThrottled"
	e.refuse.Store(&throttled)
	e.stepWhenWaiting(8 * time.Second)
	e.waitFor("a throttled receive", func() bool { return e.queueErrors(metrics.QueueOpReceiveMessage, metrics.QueueErrorThrottling) == 1 })
	// The failure is counted before it is logged: wait for the line rather than race it.
	e.waitFor("the change of error logged", func() bool { return e.logs.count("Cannot receive from the event queue") >= 2 })
	if n := e.logs.count("Cannot receive from the event queue"); n != 2 {
		t.Errorf("receive failures logged %d times after the error changed, want twice", n)
	}
	if h := e.consumer.Health(); h.Receiving() || h.Err == nil || !h.FailingSince.Equal(epoch) {
		t.Errorf("health %+v, want failing since the start", h)
	}

	// Receives are allowed again, but not deletes: the message is handled, comes back after the
	// visibility timeout, and is dropped as a duplicate once deletes work.
	e.refuse.Store(nil)
	e.sink.refuse = func(any) error { e.refuse.Store(&denied); return nil }
	e.send(q, string(golden(t, "rebalance.json")))
	e.stepWhenWaiting(16 * time.Second)
	e.waitFor("a refused delete", func() bool {
		return e.queueErrors(metrics.QueueOpDeleteMessageBatch, metrics.QueueErrorAccessDenied) == 1
	})
	e.sink.mu.Lock()
	e.sink.refuse = nil
	e.sink.mu.Unlock()
	e.refuse.Store(nil)
	e.stepWhenWaiting(1 * time.Second) // the receive that failed after the delete backs off
	e.waitFor("receiving again", func() bool { return e.consumer.Health().Receiving() })
	e.advance(visibilityTimeoutSeconds * time.Second)
	e.waitFor("the copy dropped", func() bool {
		return e.received(metrics.EventSourceEC2, metrics.EventTypeRebalance, metrics.EventResultDuplicate) == 1
	})
	if got := len(e.sink.all()); got != 1 {
		t.Errorf("%d hints, want 1", got)
	}
	e.waitFor("the message deleted", func() bool { v, f := e.queueState("events"); return v == 0 && f == 0 })
}

// TestShutdown: a hint the sink refuses leaves its message on the queue; cancelling the consumer
// while it handles a batch still deletes what was handled; cancelling it in a long poll returns.
func TestShutdown(t *testing.T) {
	e := newEnv(t, awssim.Options{})
	q, _ := e.createQueue("events")
	e.sink.refuse = func(any) error { return errShuttingDown }
	e.send(q, string(golden(t, "task.json")))
	stop := e.start(q)
	e.waitFor("the refusal", func() bool { return e.logs.count("Leaving event on the queue") == 1 })
	e.waitFor("the next long poll", func() bool { return e.calls.receives.Load() == 2 && e.clock.HasWaiters() })
	if v, f := e.queueState("events"); v != 0 || f != 1 {
		t.Errorf("queue has %d visible, %d in flight; want the refused message in flight", v, f)
	}
	if got := e.calls.deletes.Load(); got != 0 {
		t.Errorf("%d DeleteMessageBatch calls, want none for a refused message", got)
	}
	stop() // in a long poll
	// The simulator ends the abandoned long poll once it sees the connection go; until then it
	// could still take the message, as SQS may.
	e.waitFor("the abandoned long poll to end", func() bool { return !e.clock.HasWaiters() })
	if v, f := e.queueState("events"); v+f != 1 {
		t.Errorf("queue has %d visible, %d in flight after shutdown; want the message kept", v, f)
	}

	// A consumer stopped while the sink takes the hint still deletes the message.
	ctx, cancel := context.WithCancel(context.Background())
	e.sink.mu.Lock()
	e.sink.refuse = func(any) error { cancel(); return nil }
	e.sink.mu.Unlock()
	e.advance(visibilityTimeoutSeconds * time.Second)
	stop2 := e.startCtx(ctx, q)
	e.waitFor("the hint", func() bool { return len(e.sink.all()) == 1 })
	stop2() // returns once Run has
	if v, f := e.queueState("events"); v+f != 0 {
		t.Errorf("queue has %d visible, %d in flight; want the handled message deleted at shutdown", v, f)
	}
}

func TestNewChecksConfig(t *testing.T) {
	for _, tc := range []struct {
		url, want string
	}{
		{"", "no event queue configured"},
		{"https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo", "FIFO"},
		{"sqs.us-east-1.amazonaws.com/123456789012/events", "must start with https://"},
		{"https://sqs.us-east-1.amazonaws.com/events", "12-digit account ID"},
		{"https://sqs.us-east-1.amazonaws.com/123456789012/bad%20name", "is not a queue name"},
		{"https://sqs.us-east-1.amazonaws.com/123456789012/events?x=1", "query"},
		{"::", "not a URL"},
	} {
		_, err := New(Config{QueueURL: tc.url}, Deps{SQS: &countingSQS{}, Sink: &recordingSink{}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q) error %v, want one containing %q", tc.url, err, tc.want)
		}
	}
	// Every problem at once.
	err := Config{QueueURL: "ftp:///events"}.Validate()
	if err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Errorf("Validate error %v, want three problems", err)
	}
	if err := (Config{QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/ecs-drainer-events"}).Validate(); err != nil {
		t.Errorf("a real queue URL: %v", err)
	}
	if _, err := New(Config{QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/q"}, Deps{}); err == nil {
		t.Error("New without a client and a sink succeeded")
	}
}

func TestBackoff(t *testing.T) {
	c := &Consumer{}
	var got []time.Duration
	for range 9 {
		c.failures++
		got = append(got, c.backoff())
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Errorf("backoffs %v, want %v seconds", got, want)
			break
		}
	}
}

func TestSeenIDs(t *testing.T) {
	s := newSeenIDs(2)
	s.add("a")
	s.add("b")
	s.add("a") // already there: does not push b out
	s.add("c") // a goes
	if s.has("a") || !s.has("b") || !s.has("c") {
		t.Errorf("after a, b, a, c in a window of 2: a %v b %v c %v, want b and c", s.has("a"), s.has("b"), s.has("c"))
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

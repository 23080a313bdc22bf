package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// Event chaos (issue 9): the controller consumes its event queue while EventBridge duplicates,
// reorders, delays and loses deliveries, while the queue holds garbage and forged events, while the
// queue is deleted and created again, and across a SIGKILL with messages in flight. Every scenario
// ends with the drains' invariants (no task killed, no action expired, each completed exactly
// once) and with the consumer's metrics matching, count for count, what awssim says reached the
// queue.

// The controller's log messages these tests count (pkg/events).
const (
	ecLogReceiveFailed = "Cannot receive from the event queue"
	ecLogReceiveAgain  = "Receiving from the event queue again"
	ecLogNoEvent       = "Deleting message without an event"
	ecLogDeleteFailed  = "Cannot delete event messages"
)

// ecDeliveryFlags are awssim's EventBridge faults in the chaos scenario: half the deliveries
// twice, nearly a third lost, each 300 ms late plus up to a second more (which reorders them).
var ecDeliveryFlags = []string{"--event-duplicate", "0.5", "--event-loss", "0.3", "--event-delay", "300ms", "--event-reorder", "1s"}

// ecQuietFor is longer than any delivery takes (event delay plus the most reordering), so once no
// event has been emitted for this long, every delivery has reached its queue or been lost.
const ecQuietFor = 2 * time.Second

// ecRecreateDelay shortens awssim's QueueDeletedRecently wait (AWS: 60 s) so the queue can come
// back within the test.
const ecRecreateDelay = 500 * time.Millisecond

// ecMessage is a message the test puts on the queue, and the events_received_total series
// ("source/type/result") the consumer must count it under.
type ecMessage struct {
	body, series string
}

func ecSeries(source, typ, result string) string { return source + "/" + typ + "/" + result }

// ecGarbage are messages that hold no event the controller uses: not JSON, JSON but no event,
// events of unknown types and sources, a source that does not match its type, events with a
// broken detail or time, and the hook's test notification. Each is deleted and counted once.
func ecGarbage(round int) []ecMessage {
	now := time.Now().UTC().Format(time.RFC3339)
	ev := func(id, detailType, source, detail string) string {
		return fmt.Sprintf(`{"version":"0","id":"evc-%s-%d","detail-type":%q,"source":%q,"account":"123456789012","time":%q,"region":"us-east-1","resources":[],"detail":%s}`,
			id, round, detailType, source, now, detail)
	}
	const other, malformed, ignored = metrics.EventSourceOther, metrics.EventResultMalformed, metrics.EventResultIgnored
	return []ecMessage{
		{"not json", ecSeries(other, metrics.EventTypeOther, malformed)},
		{"[1,2,3]", ecSeries(other, metrics.EventTypeOther, malformed)},
		{`{"hello":"world"}`, ecSeries(other, metrics.EventTypeOther, malformed)},
		{ev("shop", "Order Placed", "com.example.shop", `{}`), ecSeries(other, metrics.EventTypeOther, ignored)},
		{ev("launched", "EC2 Instance Launch Successful", "aws.autoscaling", `{}`), ecSeries(metrics.EventSourceAutoScaling, metrics.EventTypeOther, ignored)},
		{ev("imitation", "EC2 Instance-terminate Lifecycle Action", "aws.ec2", `{"EC2InstanceId":"i-0000000000000beef"}`), ecSeries(metrics.EventSourceEC2, metrics.EventTypeOther, ignored)},
		{ev("no-instance", "EC2 Instance-terminate Lifecycle Action", "aws.autoscaling", `{"AutoScalingGroupName":"evc-asg"}`),
			ecSeries(metrics.EventSourceAutoScaling, metrics.EventTypeLifecycleTerminate, malformed)},
		{strings.Replace(ev("bad-time", "ECS Task State Change", "aws.ecs", `{"clusterArn":"arn:aws:ecs:us-east-1:123456789012:cluster/evc","taskArn":"arn:aws:ecs:us-east-1:123456789012:task/evc/0"}`), now, "yesterday", 1),
			ecSeries(metrics.EventSourceECS, metrics.EventTypeTask, malformed)},
		{fmt.Sprintf(`{"AccountId":"123456789012","RequestId":"evc-test-%d","AutoScalingGroupName":"evc-asg","Service":"AWS Auto Scaling","Event":"autoscaling:TEST_NOTIFICATION","Time":"2026-01-01T00:00:00.000Z"}`, round),
			ecSeries(metrics.EventSourceAutoScalingHook, metrics.EventTypeTestNotification, ignored)},
	}
}

// ecForged are well-formed terminate events that no scale-in caused, for an instance in service
// and for one that does not exist. The consumer hands them on; the controller must find nothing
// to do, since it acts only on what AWS says.
func ecForged(round int, inService string) []string {
	now := time.Now().UTC().Format(time.RFC3339)
	var out []string
	for i, id := range []string{inService, "i-0000000000000dead"} {
		out = append(out, fmt.Sprintf(`{"version":"0","id":"evc-forged-%d-%d","detail-type":"EC2 Instance-terminate Lifecycle Action","source":"aws.autoscaling","account":"123456789012","time":%q,"region":"us-east-1","resources":[],"detail":{"LifecycleActionToken":"00000000-0000-4000-8000-000000000000","AutoScalingGroupName":"evc-keep","LifecycleHookName":%q,"EC2InstanceId":%q,"LifecycleTransition":"autoscaling:EC2_INSTANCE_TERMINATING"}}`,
			round, i, now, demo.DefaultHookName, id))
	}
	return out
}

// ecChaosFleet is the chaos scenario's fleet: a managed group the test scales in three times, and
// a managed group it never scales in, whose instance the forged events name.
func ecChaosFleet() demo.Fleet {
	return demo.Fleet{Clusters: []demo.Cluster{{
		Name: "evc",
		ASGs: []demo.ASG{
			{Name: "evc-asg", Min: 0, Desired: 12, Max: 12, TaskSlots: 4, Managed: true, HookHeartbeatTimeout: 300 * time.Second},
			{Name: "evc-keep", Min: 0, Desired: 2, Max: 2, TaskSlots: 4, Managed: true, HookHeartbeatTimeout: 300 * time.Second},
		},
		Services: []demo.Service{
			{Name: "web", DesiredCount: 8, MinimumHealthyPercent: 50, MaximumPercent: 200},
			{Name: "agent", Daemon: true},
		},
	}}}
}

// ecChaos is the chaos scenario in progress: the environment, the controller, the SQS client, and
// the counts the test keeps of what it did.
type ecChaos struct {
	*ctrlEnv
	ctrl     *harness.Process
	sqs      *sqs.Client
	queueURL string
	keep     string         // the in-service instance the forged events name
	sent     map[string]int // messages the test sent, by the series they must be counted under
	scaled   []string       // every instance scaled in
	consumed int            // messages the queues handed out before the current one was created
	fromEvs  int            // messages EventBridge put on the queues before the current one was created
}

// TestControllerEventsUnderChaos runs the controller on its event queue through three phases, with
// EventBridge duplicating half its deliveries, losing nearly a third and reordering them:
//
//  1. Garbage and forged events on the queue and a scale-in: each garbage message is deleted and
//     counted under its exact series, and logged once; the forged events drain nothing.
//  2. The queue deleted: the controller logs once that it cannot receive and that polling alone
//     finds terminating instances, counts the QueueDoesNotExist errors, shows the error on its
//     drains page, and the instances scaled in meanwhile, whose events cannot be delivered, are
//     drained by polling.
//  3. The queue created again under the same URL: the controller says once that it receives
//     again and consumes the garbage, forged events and lifecycle events of a third scale-in.
//
// Then: no task killed, no action expired, every action completed exactly once, nothing done to
// the instances the forged events named; every message that reached either queue was received
// exactly once and counted exactly once; every copy of a duplicated delivery was counted as a
// duplicate; and every instance whose terminate event was lost or undeliverable, and only those,
// was counted as found by a resync.
func TestControllerEventsUnderChaos(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t, ecDeliveryFlags...)
	c := &ecChaos{ctrlEnv: e, sqs: harness.SQSClient(e.url), sent: map[string]int{}}
	c.patchFaults(map[string]any{"queueRecreateDelayMs": int(ecRecreateDelay / time.Millisecond)})
	e.build(ecChaosFleet())
	c.keep = e.inState("evc-keep", astypes.LifecycleStateInService)[0]
	q, err := demo.CreateEventQueue(t.Context(), e.url, harness.Region)
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.RouteEventsTo(t.Context(), e.url, harness.Region, q, demo.ControllerEvents); err != nil {
		t.Fatal(err)
	}
	c.queueURL = q.URL
	c.ctrl = e.startController("--queue-url", q.URL)
	e.waitReady(c.ctrl)

	c.phaseGarbageAndScaleIn(1, 12-4)
	c.phaseQueueDeleted(12 - 4 - 3)
	c.phaseQueueBack(12 - 4 - 3 - 2)
	c.judge()
}

// phaseGarbageAndScaleIn sends the garbage and forged events of round, scales evc-asg in to
// desired, and waits until the drains are done and the queue is quiet.
func (c *ecChaos) phaseGarbageAndScaleIn(round, desired int) {
	c.t.Helper()
	c.sendGarbage(round)
	ids := c.scaleIn("evc-asg", desired)
	c.scaled = append(c.scaled, ids...)
	c.waitTerminated(ids)
	c.waitQuiet()
}

// phaseQueueDeleted deletes the queue, waits for the controller to notice, scales in meanwhile and
// waits for those drains, done by polling alone.
func (c *ecChaos) phaseQueueDeleted(desired int) {
	t := c.t
	t.Helper()
	q := c.queue()
	if q == nil || q.Visible+q.InFlight+q.Delayed != 0 {
		t.Fatalf("before the outage the queue holds messages: %+v", q)
	}
	c.consumed, c.fromEvs = q.Received, q.DeliveredFromEvents
	// No duplicates while the queue is gone: a duplicated delivery's copies could then fall on
	// both sides of the outage, and the duplicates would no longer add up exactly.
	c.patchFaults(map[string]any{"eventDuplicate": 0})
	if _, err := c.sqs.DeleteQueue(t.Context(), &sqs.DeleteQueueInput{QueueUrl: aws.String(c.queueURL)}); err != nil {
		t.Fatalf("deleting the event queue: %v", err)
	}
	deleted := time.Now()
	// The long poll in progress ends empty (up to 20 s); the next receive fails.
	c.eventually("the controller to notice the queue is gone", func() (bool, string) {
		n := ctrlLogLines(c.ctrl, ecLogReceiveFailed)
		return n == 1, fmt.Sprintf("%d %q log lines", n, ecLogReceiveFailed)
	})
	t.Logf("the controller noticed the deleted queue %s after its deletion", time.Since(deleted).Round(time.Millisecond))
	if got := c.ctrlMetric(c.ctrl, "ecs_drainer_event_queue_errors_total", map[string]string{"operation": metrics.QueueOpReceiveMessage, "code": metrics.QueueErrorQueueDoesNotExist}); got < 1 {
		t.Errorf("event_queue_errors_total{ReceiveMessage,QueueDoesNotExist} = %v after the log line, want at least 1", got)
	}
	h := c.queueHealth()
	if h.Receiving || !strings.Contains(h.Error, "NonExistentQueue") || h.FailingSince == nil {
		t.Errorf("the drains page shows the event queue as %+v, want not receiving, the NonExistentQueue error and since when", h)
	}

	before := c.stats().Deliveries["undeliverable"]
	ids := c.scaleIn("evc-asg", desired)
	c.scaled = append(c.scaled, ids...)
	c.waitTerminated(ids)
	c.waitQuiet()
	if got := c.stats().Deliveries["undeliverable"] - before; got == 0 {
		t.Errorf("no delivery failed while the queue was gone: the outage tested nothing")
	}
	if n := ctrlLogLines(c.ctrl, ecLogReceiveFailed); n != 1 {
		t.Errorf("%d %q log lines during the outage, want 1: logged once per change of error", n, ecLogReceiveFailed)
	}
	if h := c.queueHealth(); h.Receiving {
		t.Errorf("the drains page shows the event queue receiving while it is deleted: %+v", h)
	}
}

// phaseQueueBack creates the queue again, waits for the controller to receive from it again, and
// runs a second round of garbage, forged events and a scale-in through it.
func (c *ecChaos) phaseQueueBack(desired int) {
	t := c.t
	t.Helper()
	q, err := demo.CreateEventQueue(t.Context(), c.url, harness.Region)
	if err != nil {
		t.Fatalf("creating the event queue again: %v", err)
	}
	if q.URL != c.queueURL {
		t.Fatalf("the queue created again has URL %s, the controller consumes %s", q.URL, c.queueURL)
	}
	back := time.Now()
	c.patchFaults(map[string]any{"eventDuplicate": 0.5})
	c.eventually("the controller receiving again", func() (bool, string) {
		n := ctrlLogLines(c.ctrl, ecLogReceiveAgain)
		return n == 1 && c.queueHealth().Receiving, fmt.Sprintf("%d %q log lines", n, ecLogReceiveAgain)
	})
	t.Logf("the controller received from the queue again %s after it was created (backoff)", time.Since(back).Round(time.Millisecond))
	c.phaseGarbageAndScaleIn(2, desired)
}

// judge checks the invariants and the counts once every phase is over and the queue is quiet.
func (c *ecChaos) judge() {
	t := c.t
	t.Helper()
	st := c.stats()
	c.noHarm(st)
	c.completions(st, len(c.scaled), 0)
	c.drainedOnce(c.scaled)
	if tl := c.timelines()[c.keep]; !tl.DrainingAt.IsZero() || tl.Completions != 0 || !tl.TerminatingWaitAt.IsZero() {
		t.Errorf("the in-service instance %s named by forged events was touched: %+v", c.keep, tl)
	}
	if got := c.inState("evc-keep", astypes.LifecycleStateInService); len(got) != 2 || !slices.Contains(got, c.keep) {
		t.Errorf("evc-keep in service: %v, want its 2 instances, %s among them", got, c.keep)
	}

	// The queue's own counts: every message that reached a queue was received exactly once.
	q := c.queue()
	if q == nil || q.Visible+q.InFlight+q.Delayed != 0 {
		t.Fatalf("the event queue holds messages at the end: %+v", q)
	}
	sent := 0
	for _, n := range c.sent {
		sent += n
	}
	arrived := c.fromEvs + q.DeliveredFromEvents + sent
	if received := c.consumed + q.Received; received != arrived {
		t.Errorf("the queues handed out %d messages, %d reached them (%d from EventBridge, %d from the test): want each received once",
			received, arrived, c.fromEvs+q.DeliveredFromEvents, sent)
	}
	c.checkCounted(st, arrived)
	if n := ctrlLogLines(c.ctrl, ecLogReceiveAgain); n != 1 {
		t.Errorf("%d %q log lines, want 1", n, ecLogReceiveAgain)
	}
	t.Logf("deliveries %v; %d messages reached the queues, %d of them the test's", st.Deliveries, arrived, sent)
}

// checkCounted compares the consumer's events_received_total with what reached the queue.
func (c *ecChaos) checkCounted(st awssim.Stats, arrived int) {
	t := c.t
	t.Helper()
	got := c.received()
	if total := ecTotal(got); total != arrived {
		t.Errorf("events_received_total adds up to %d, want the %d messages that reached the queues:\n%v", total, arrived, got)
	}
	c.checkGarbage(got)
	c.checkDuplicates(st, got)
	c.checkFoundByResync(got)
	c.checkQueueErrors()
}

// checkGarbage: the messages that hold no event are counted under exactly the series the test
// sent them to, as often as it sent them, and each is logged once.
func (c *ecChaos) checkGarbage(got map[string]float64) {
	t := c.t
	t.Helper()
	for series, v := range got {
		if ecResult(series) == metrics.EventResultMalformed || ecResult(series) == metrics.EventResultIgnored {
			if int(v) != c.sent[series] {
				t.Errorf("events_received_total{%s} = %v, want %d: only the test's garbage is no event", series, v, c.sent[series])
			}
		}
	}
	for series, n := range c.sent {
		if got[series] < float64(n) {
			t.Errorf("events_received_total{%s} = %v, the test sent %d such messages", series, got[series], n)
		}
	}
	if n := ctrlLogLines(c.ctrl, ecLogNoEvent); n != c.garbageSent() {
		t.Errorf("%d %q log lines, want one per garbage message, %d", n, ecLogNoEvent, c.garbageSent())
	}
}

// checkDuplicates: the consumer counts every second copy of a duplicated delivery as a duplicate,
// and nothing else.
func (c *ecChaos) checkDuplicates(st awssim.Stats, got map[string]float64) {
	t := c.t
	t.Helper()
	dups := 0.0
	for series, v := range got {
		if ecResult(series) == metrics.EventResultDuplicate {
			dups += v
		}
	}
	if st.Deliveries["duplicated"] == 0 || st.Deliveries["lost"] == 0 {
		t.Errorf("awssim duplicated %d and lost %d deliveries: want some of each", st.Deliveries["duplicated"], st.Deliveries["lost"])
	}
	if int(dups) != st.Deliveries["duplicated"] {
		t.Errorf("the consumer counted %v duplicates, awssim delivered %d second copies", dups, st.Deliveries["duplicated"])
	}
}

// checkFoundByResync: exactly the instances whose terminate event never came (lost, or sent while
// the queue was gone) are counted as found by a resync. The forged events are handled but name no
// scaled-in instance.
func (c *ecChaos) checkFoundByResync(got map[string]float64) {
	t := c.t
	t.Helper()
	terminates := int(got[ecSeries(metrics.EventSourceAutoScaling, metrics.EventTypeLifecycleTerminate, metrics.EventResultHandled)]) - c.forgedSent()
	missed := len(c.scaled) - terminates
	t.Logf("%d of %d instances' terminate events reached the controller", terminates, len(c.scaled))
	c.waitCtrlMetric(c.ctrl, "ecs_drainer_instances_found_by_resync_total", nil, float64(missed))
	c.ctrlWaitResyncs(c.ctrl, 2)
	if got := c.ctrlMetric(c.ctrl, "ecs_drainer_instances_found_by_resync_total", nil); int(got) != missed {
		t.Errorf("instances_found_by_resync_total = %v, want %d", got, missed)
	}
}

// checkQueueErrors: the only queue errors were the receives that found the queue gone.
func (c *ecChaos) checkQueueErrors() {
	t := c.t
	t.Helper()
	for _, op := range []string{metrics.QueueOpReceiveMessage, metrics.QueueOpDeleteMessageBatch} {
		for _, code := range metrics.QueueErrorCodes {
			if op == metrics.QueueOpReceiveMessage && code == metrics.QueueErrorQueueDoesNotExist {
				continue
			}
			if got := c.ctrlMetric(c.ctrl, "ecs_drainer_event_queue_errors_total", map[string]string{"operation": op, "code": code}); got != 0 {
				t.Errorf("event_queue_errors_total{%s,%s} = %v, want 0", op, code, got)
			}
		}
	}
}

// ecResult is the result of an events_received_total series "source/type/result".
func ecResult(series string) string { return series[strings.LastIndexByte(series, '/')+1:] }

// sendGarbage puts round's garbage and forged events on the queue.
func (c *ecChaos) sendGarbage(round int) {
	c.t.Helper()
	msgs := ecGarbage(round)
	for _, body := range ecForged(round, c.keep) {
		msgs = append(msgs, ecMessage{body, ecSeries(metrics.EventSourceAutoScaling, metrics.EventTypeLifecycleTerminate, metrics.EventResultHandled)})
	}
	for _, m := range msgs {
		if _, err := c.sqs.SendMessage(c.t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(c.queueURL), MessageBody: aws.String(m.body)}); err != nil {
			c.t.Fatalf("sending %q: %v", m.body, err)
		}
		c.sent[m.series]++
	}
}

func (c *ecChaos) forgedSent() int {
	return c.sent[ecSeries(metrics.EventSourceAutoScaling, metrics.EventTypeLifecycleTerminate, metrics.EventResultHandled)]
}

func (c *ecChaos) garbageSent() int {
	n := 0
	for series, v := range c.sent {
		if !strings.HasSuffix(series, "/"+metrics.EventResultHandled) {
			n += v
		}
	}
	return n
}

// received reads the controller's events_received_total by "source/type/result", zeros left out.
func (c *ecChaos) received() map[string]float64 {
	return ecReceived(c.t, c.ctrl)
}

func ecReceived(t *testing.T, p *harness.Process) map[string]float64 {
	t.Helper()
	mfs, err := harness.Metrics(p.Addr)
	if err != nil {
		t.Fatalf("scraping the controller: %v", err)
	}
	out := map[string]float64{}
	for _, m := range mfs["ecs_drainer_events_received_total"].GetMetric() {
		l := map[string]string{}
		for _, lp := range m.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		if v := m.GetCounter().GetValue(); v != 0 {
			out[ecSeries(l["source"], l["type"], l["result"])] = v
		}
	}
	return out
}

func ecTotal(m map[string]float64) int {
	n := 0.0
	for _, v := range m {
		n += v
	}
	return int(n)
}

// queue is awssim's view of the event queue; nil while it does not exist.
func (c *ecChaos) queue() *awssim.SQSQueue { return ecQueue(c.t, c.url) }

func ecQueue(t *testing.T, simURL string) *awssim.SQSQueue {
	t.Helper()
	qs, err := harness.SQSQueues(simURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Name == demo.EventQueueName {
			return &q
		}
	}
	return nil
}

// queueHealth is the event queue's state on the controller's drains page.
func (c *ecChaos) queueHealth() reconciler.EventQueueHealth {
	c.t.Helper()
	v, err := getDrains(c.t.Context(), "http://"+c.ctrl.Addr)
	if err != nil {
		c.t.Fatal(err)
	}
	if v.Health.EventQueue == nil {
		c.t.Fatal("the drains page shows no event queue")
	}
	return *v.Health.EventQueue
}

// waitQuiet waits until awssim has emitted no event for ecQuietFor and the event queue, if it
// exists, holds no message: every delivery has landed or been lost, and every message has been
// consumed.
func (c *ecChaos) waitQuiet() { ecWaitQuiet(c.ctrlEnv) }

func ecWaitQuiet(e *ctrlEnv) {
	e.t.Helper()
	last, since := -1, time.Now()
	e.eventually("no event for "+ecQuietFor.String()+" and an empty queue", func() (bool, string) {
		if n := e.stats().EventsEmitted; n != last {
			last, since = n, time.Now()
		}
		q := ecQueue(e.t, e.url)
		if q != nil && q.Visible+q.InFlight+q.Delayed != 0 {
			return false, fmt.Sprintf("%d visible, %d in flight, %d delayed", q.Visible, q.InFlight, q.Delayed)
		}
		quiet := time.Since(since)
		return quiet >= ecQuietFor, fmt.Sprintf("quiet for %s", quiet)
	})
}

func (c *ecChaos) patchFaults(p map[string]any) {
	c.t.Helper()
	if err := harness.PatchFaults(c.url, p); err != nil {
		c.t.Fatal(err)
	}
}

// TestControllerEventsInFlightAtSIGKILL kills the controller while event messages are in flight:
// received, handed to the controller, and not deleted (awssim denies DeleteMessageBatch, so every
// message the first process receives stays in flight). A second process, started once the denial
// is lifted, must receive each of them again after the visibility timeout and count it; the
// drains the first process began end with every action completed exactly once, no task killed,
// no action expired.
func TestControllerEventsInFlightAtSIGKILL(t *testing.T) {
	t.Parallel()
	e := newCtrlEnv(t)
	e.build(evCtrlFleet(8))
	queueURL := e.evSetUpQueue(evRules)
	first := e.startController("--queue-url", queueURL)
	e.waitReady(first)

	ids, atKill, inFlight := ecKillWithMessagesInFlight(e, first, queueURL)
	killed := time.Now()
	if err := harness.PatchFaults(e.url, map[string]any{"deny": nil}); err != nil {
		t.Fatal(err)
	}
	second := e.startController("--queue-url", queueURL)
	e.waitReady(second)
	e.waitTerminated(ids)
	e.eventually("the messages in flight at the kill received again and deleted", func() (bool, string) {
		left := 0
		for _, m := range ecQueue(t, e.url).Messages {
			if inFlight[m.MessageID] {
				left++
			}
		}
		return left == 0, fmt.Sprintf("%d of %d still on the queue", left, len(inFlight))
	})
	t.Logf("the messages in flight at the kill were handled %s after it (visibility timeout)", time.Since(killed).Round(time.Millisecond))
	ecWaitQuiet(e)

	st := e.stats()
	e.noHarm(st)
	e.completions(st, len(ids), 0)
	e.drainedOnce(ids)
	end := ecQueue(t, e.url)
	// Each message on the queue at the kill (in flight or not) and each that arrived after it was
	// received exactly once more, by the second process, which counted each once.
	arrivedAfter := end.DeliveredFromEvents - atKill.DeliveredFromEvents
	if want := len(atKill.Messages) + arrivedAfter; end.Received-atKill.Received != want {
		t.Errorf("the queue handed out %d messages after the kill, want %d: the %d on it at the kill and the %d that arrived after, once each",
			end.Received-atKill.Received, want, len(atKill.Messages), arrivedAfter)
	}
	if total := ecTotal(ecReceived(t, second)); total != end.Received-atKill.Received {
		t.Errorf("the second process counted %d messages, the queue handed it %d:\n%v", total, end.Received-atKill.Received, ecReceived(t, second))
	}
	if n := e.ctrlMetric(second, "ecs_drainer_events_received_total", ecTerminateHandled); int(n) != len(ids) {
		t.Errorf("the second process handled %v terminate events, want the %d left in flight by the first", n, len(ids))
	}
	if n := e.ctrlMetric(second, "ecs_drainer_events_received_total", ecMalformed); n != 1 {
		t.Errorf("the second process counted %v malformed messages, want the 1 left in flight by the first", n)
	}
	if n := e.ctrlMetric(second, "ecs_drainer_event_queue_errors_total", nil); n != 0 {
		t.Errorf("the second process counted %v queue errors, want 0", n)
	}
}

// The events_received_total series of terminate events handled, and of malformed messages.
var (
	ecTerminateHandled = map[string]string{"source": metrics.EventSourceAutoScaling, "type": metrics.EventTypeLifecycleTerminate, "result": metrics.EventResultHandled}
	ecMalformed        = map[string]string{"result": metrics.EventResultMalformed}
)

// ecKillWithMessagesInFlight denies DeleteMessageBatch, puts a garbage message on the queue,
// scales three instances in, waits until the controller has received their terminate events and
// the garbage, and SIGKILLs it. It returns the instances, awssim's view of the queue at the kill
// and the IDs of the messages then in flight (every message received since the denial).
func ecKillWithMessagesInFlight(e *ctrlEnv, ctrl *harness.Process, queueURL string) ([]string, *awssim.SQSQueue, map[string]bool) {
	t := e.t
	t.Helper()
	receivedBefore := ecQueue(t, e.url).Received // the fleet is idle: nothing arrives meanwhile
	if err := harness.PatchFaults(e.url, map[string]any{"deny": []string{"DeleteMessageBatch"}}); err != nil {
		t.Fatal(err)
	}
	_, err := harness.SQSClient(e.url).SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String("not json")})
	if err != nil {
		t.Fatal(err)
	}
	ids := e.scaleIn(evGroup, 8-3)
	if len(ids) != 3 {
		t.Fatalf("%d instances in Terminating:Wait, want 3", len(ids))
	}
	e.waitCtrlMetric(ctrl, "ecs_drainer_events_received_total", ecTerminateHandled, 3)
	e.waitCtrlMetric(ctrl, "ecs_drainer_events_received_total", ecMalformed, 1)
	if n := ctrlLogLines(ctrl, ecLogDeleteFailed); n != 1 {
		t.Errorf("%d %q log lines from the first process, want 1", n, ecLogDeleteFailed)
	}

	ctrl.Kill()
	killed := time.Now()
	atKill := ecQueue(t, e.url)
	inFlight := map[string]bool{}
	for _, m := range atKill.Messages {
		if m.ReceiveCount > 0 && m.VisibleAt.After(killed) {
			inFlight[m.MessageID] = true
		}
	}
	// Every message the first process received since the denial is in flight: the 3 terminate
	// events and the garbage at least.
	if len(inFlight) != atKill.Received-receivedBefore || len(inFlight) < 4 {
		t.Fatalf("%d messages in flight at the kill, %d received by the first process since DeleteMessageBatch was denied: want all of them, at least 4",
			len(inFlight), atKill.Received-receivedBefore)
	}
	t.Logf("SIGKILL with %d messages in flight, %d on the queue", len(inFlight), len(atKill.Messages))
	return ids, atKill, inFlight
}

package awssim_test

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// sqsEnv is an asgEnv (a simulator on a fake clock behind a real server) with SQS and
// EventBridge clients: JSON 1.0 and JSON 1.1, as aws-sdk-go-v2 speaks them.
type sqsEnv struct {
	*asgEnv
	sqs *sqs.Client
	eb  *eventbridge.Client
}

func newSQSEnv(t testing.TB, opts awssim.Options) *sqsEnv {
	t.Helper()
	e := newASGEnv(t, opts)
	cfg := aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint:     aws.String(e.url),
		RetryMaxAttempts: 1,
	}
	return &sqsEnv{asgEnv: e, sqs: sqs.NewFromConfig(cfg), eb: eventbridge.NewFromConfig(cfg)}
}

func (e *sqsEnv) createQueue(name string, attrs map[string]string) string {
	e.t.Helper()
	out, err := e.sqs.CreateQueue(e.t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		e.t.Fatalf("CreateQueue %s: %v", name, err)
	}
	return *out.QueueUrl
}

func (e *sqsEnv) send(q, body string) string {
	e.t.Helper()
	out, err := e.sqs.SendMessage(e.t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(body)})
	if err != nil {
		e.t.Fatalf("SendMessage: %v", err)
	}
	return *out.MessageId
}

// receive does a short poll for up to max messages, with every system attribute.
func (e *sqsEnv) receive(q string, maxN int32) []types.Message {
	e.t.Helper()
	out, err := e.sqs.ReceiveMessage(e.t.Context(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(q), MaxNumberOfMessages: maxN,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil {
		e.t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

func (e *sqsEnv) attr(q string, name types.QueueAttributeName) string {
	e.t.Helper()
	out, err := e.sqs.GetQueueAttributes(e.t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q), AttributeNames: []types.QueueAttributeName{name}})
	if err != nil {
		e.t.Fatalf("GetQueueAttributes: %v", err)
	}
	return out.Attributes[string(name)]
}

// sqsGauge reads awssim_sqs_messages by state.
func sqsGauge(t *testing.T, sim *awssim.Sim) map[string]float64 {
	t.Helper()
	families, err := sim.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() == "awssim_sqs_messages" {
			for _, m := range f.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	return got
}

func receiveCount(m types.Message) int {
	n, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	return n
}

// TestSQSVisibilityTimeout follows one message through receives: hidden for the visibility
// timeout, back with a higher receive count, hidden again by ChangeMessageVisibility, gone once
// deleted. Every checksum the SDK validates (MD5OfMessageBody, MD5OfBody) passes along the way.
func TestSQSVisibilityTimeout(t *testing.T) {
	e := newSQSEnv(t, awssim.Options{})
	q := e.createQueue("work", map[string]string{"VisibilityTimeout": "10"})
	id := e.send(q, `{"hello":"wörld"}`)

	first := e.receive(q, 10)
	if len(first) != 1 || *first[0].MessageId != id || receiveCount(first[0]) != 1 {
		t.Fatalf("first receive = %+v, want message %s with receive count 1", first, id)
	}
	if got := first[0].Attributes["SentTimestamp"]; got != strconv.FormatInt(asgEpoch.UnixMilli(), 10) {
		t.Errorf("SentTimestamp = %s, want the fake clock's %d", got, asgEpoch.UnixMilli())
	}
	if got := e.receive(q, 10); len(got) != 0 {
		t.Fatalf("receive while in flight = %d messages, want 0", len(got))
	}
	if got := e.attr(q, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible); got != "1" {
		t.Errorf("ApproximateNumberOfMessagesNotVisible = %s, want 1", got)
	}
	if got := sqsGauge(t, e.sim); !maps.Equal(got, map[string]float64{"visible": 0, "in_flight": 1, "delayed": 0}) {
		t.Errorf("awssim_sqs_messages = %v, want the message in flight", got)
	}
	e.advance(9 * time.Second)
	if got := e.receive(q, 10); len(got) != 0 {
		t.Fatalf("receive 1s before the timeout ends = %d messages, want 0", len(got))
	}
	e.advance(time.Second)
	second := e.receive(q, 10)
	if len(second) != 1 || receiveCount(second[0]) != 2 || *second[0].ReceiptHandle == *first[0].ReceiptHandle {
		t.Fatalf("second receive = %+v, want the message again, receive count 2, a new receipt handle", second)
	}
	checkChangeVisibilityAndDelete(t, e, q, second[0].ReceiptHandle)
}

// checkChangeVisibilityAndDelete checks a new visibility timeout for the message of handle counts
// from the call, and that deleting it twice succeeds, as on AWS.
func checkChangeVisibilityAndDelete(t *testing.T, e *sqsEnv, q string, handle *string) {
	t.Helper()
	// The new visibility timeout counts from the call.
	e.advance(5 * time.Second)
	if _, err := e.sqs.ChangeMessageVisibility(t.Context(), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(q), ReceiptHandle: handle, VisibilityTimeout: 20}); err != nil {
		t.Fatalf("ChangeMessageVisibility: %v", err)
	}
	e.advance(19 * time.Second)
	if got := e.receive(q, 10); len(got) != 0 {
		t.Fatalf("receive before the changed timeout ends = %d messages, want 0", len(got))
	}
	if _, err := e.sqs.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: handle}); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	// Deleting again with the same handle succeeds, as on AWS.
	if _, err := e.sqs.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: handle}); err != nil {
		t.Fatalf("second DeleteMessage: %v", err)
	}
	e.advance(time.Minute)
	if got := e.attr(q, types.QueueAttributeNameApproximateNumberOfMessages); got != "0" {
		t.Errorf("ApproximateNumberOfMessages after delete = %s, want 0", got)
	}
}

// TestSQSRedrive moves a message to the dead-letter queue on the receive that would exceed
// maxReceiveCount, with its ID, body and source ARN.
func TestSQSRedrive(t *testing.T) {
	e := newSQSEnv(t, awssim.Options{})
	dlq := e.createQueue("dead", nil)
	dlqARN := e.attr(dlq, types.QueueAttributeNameQueueArn)
	if dlqARN != "arn:aws:sqs:us-east-1:123456789012:dead" {
		t.Fatalf("QueueArn = %s", dlqARN)
	}
	q := e.createQueue("work", map[string]string{
		"VisibilityTimeout": "5",
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"2"}`, dlqARN),
	})
	id := e.send(q, "poison")
	for want := 1; want <= 2; want++ {
		got := e.receive(q, 1)
		if len(got) != 1 || receiveCount(got[0]) != want {
			t.Fatalf("receive %d = %+v, want the message with receive count %d", want, got, want)
		}
		e.advance(5 * time.Second)
	}
	if got := e.receive(q, 1); len(got) != 0 {
		t.Fatalf("third receive = %+v, want nothing: the message moved to the DLQ", got)
	}
	got := e.receive(dlq, 1)
	if len(got) != 1 || *got[0].MessageId != id || *got[0].Body != "poison" || got[0].Attributes["DeadLetterQueueSourceArn"] != "arn:aws:sqs:us-east-1:123456789012:work" {
		t.Fatalf("DLQ receive = %+v, want message %s from work", got, id)
	}
	// The receive count goes on from the source queue's two; the enqueue time is the original.
	if receiveCount(got[0]) != 3 || got[0].Attributes["SentTimestamp"] != strconv.FormatInt(asgEpoch.UnixMilli(), 10) {
		t.Errorf("DLQ message attributes = %v, want receive count 3 and the original SentTimestamp", got[0].Attributes)
	}
	if n := e.sim.Stats().SQSMovedToDeadLetterQueue; n != 1 {
		t.Errorf("SQSMovedToDeadLetterQueue = %d, want 1", n)
	}
	// A redrive policy naming a queue that does not exist is refused.
	_, err := e.sqs.SetQueueAttributes(t.Context(), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(q), Attributes: map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:nope","maxReceiveCount":3}`,
	}})
	wantCode(t, err, "InvalidParameterValue")
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
}

// TestSQSLongPoll shows a long poll waking on SendMessage, on a visibility timeout ending on the
// simulator's clock, and returning empty at its deadline on that clock.
func TestSQSLongPoll(t *testing.T) {
	e := newSQSEnv(t, awssim.Options{})
	q := e.createQueue("work", map[string]string{"VisibilityTimeout": "10"})
	poll := func() chan []types.Message {
		ch := make(chan []types.Message, 1)
		go func() {
			out, err := e.sqs.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
				QueueUrl: aws.String(q), WaitTimeSeconds: 20, MaxNumberOfMessages: 10,
				MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
			})
			if err != nil {
				t.Errorf("ReceiveMessage: %v", err)
			}
			ch <- out.Messages
		}()
		// Wait until the poll is parked on the fake clock's timer.
		for !e.clock.HasWaiters() {
			time.Sleep(time.Millisecond)
		}
		return ch
	}

	ch := poll()
	e.send(q, "one")
	if got := <-ch; len(got) != 1 || *got[0].Body != "one" {
		t.Fatalf("long poll woken by SendMessage = %+v, want message one", got)
	}

	ch = poll()
	e.advance(10 * time.Second) // "one" is visible again
	if got := <-ch; len(got) != 1 || receiveCount(got[0]) != 2 {
		t.Fatalf("long poll woken by the clock = %+v, want message one received twice", got)
	}

	ch = poll()
	e.advance(20 * time.Second) // "one" is visible again at +10s...
	got := <-ch
	if len(got) != 1 {
		t.Fatalf("long poll = %+v, want message one", got)
	}
	if _, err := e.sqs.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: got[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	ch = poll()
	e.advance(20 * time.Second)
	if got := <-ch; len(got) != 0 {
		t.Fatalf("long poll at its deadline = %+v, want no message", got)
	}
}

// TestSQSErrors checks the error codes a query-compatible client sees for common mistakes.
func TestSQSErrors(t *testing.T) {
	e := newSQSEnv(t, awssim.Options{})
	q := e.createQueue("work", nil)
	ctx := t.Context()

	_, err := e.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(e.url + "/123456789012/nope"), MessageBody: aws.String("x")})
	var qdne *types.QueueDoesNotExist
	if !errors.As(err, &qdne) {
		t.Errorf("SendMessage to a missing queue: %v, want QueueDoesNotExist", err)
	}
	wantCode(t, err, "AWS.SimpleQueueService.NonExistentQueue")

	_, err = e.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 11})
	wantCode(t, err, "InvalidParameterValue")

	_, err = e.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: aws.String("garbage")})
	var rhi *types.ReceiptHandleIsInvalid
	if !errors.As(err, &rhi) {
		t.Errorf("DeleteMessage with a bad handle: %v, want ReceiptHandleIsInvalid", err)
	}

	e.send(q, "m")
	got := e.receive(q, 1)
	if _, err := e.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(q), ReceiptHandle: got[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	_, err = e.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(q), ReceiptHandle: got[0].ReceiptHandle, VisibilityTimeout: 5})
	var mni *types.MessageNotInflight
	if !errors.As(err, &mni) {
		t.Errorf("ChangeMessageVisibility on a visible message: %v, want MessageNotInflight", err)
	}

	big := strings.Repeat("x", 600<<10)
	_, err = e.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String(big)}, {Id: aws.String("b"), MessageBody: aws.String(big)},
	}})
	var tooLong *types.BatchRequestTooLong
	if !errors.As(err, &tooLong) {
		t.Errorf("SendMessageBatch of 1.2 MiB: %v, want BatchRequestTooLong", err)
	}
	_, err = e.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("1")}, {Id: aws.String("a"), MessageBody: aws.String("2")},
	}})
	var dup *types.BatchEntryIdsNotDistinct
	if !errors.As(err, &dup) {
		t.Errorf("SendMessageBatch with repeated Ids: %v, want BatchEntryIdsNotDistinct", err)
	}

	if _, err := e.sqs.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(q)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.sqs.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(q)})
	var pip *types.PurgeQueueInProgress
	if !errors.As(err, &pip) {
		t.Errorf("second PurgeQueue within 60s: %v, want PurgeQueueInProgress", err)
	}

	_, err = e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("work"), Attributes: map[string]string{"VisibilityTimeout": "99"}})
	var qne *types.QueueNameExists
	if !errors.As(err, &qne) {
		t.Errorf("CreateQueue with other attributes: %v, want QueueNameExists", err)
	}
	if again := e.createQueue("work", nil); again != q {
		t.Errorf("CreateQueue of an existing name without attributes = %s, want its URL %s", again, q)
	}
	_, err = e.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q), AttributeNames: []types.QueueAttributeName{"Bogus"}})
	var ian *types.InvalidAttributeName
	if !errors.As(err, &ian) {
		t.Errorf("GetQueueAttributes Bogus: %v, want InvalidAttributeName", err)
	}
}

// TestSQSBatchesAndListing covers SendMessageBatch, DeleteMessageBatch with a bad entry, ListQueues
// pagination and GetQueueUrl.
func TestSQSBatchesAndListing(t *testing.T) {
	e := newSQSEnv(t, awssim.Options{})
	ctx := t.Context()
	q := e.createQueue("b-queue", nil)
	e.createQueue("a-queue", nil)
	e.createQueue("other", nil)

	sent, err := e.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("one"), MessageBody: aws.String("1"), MessageAttributes: map[string]types.MessageAttributeValue{"k": {DataType: aws.String("String"), StringValue: aws.String("v")}}},
		{Id: aws.String("two"), MessageBody: aws.String("2")},
	}})
	if err != nil || len(sent.Successful) != 2 || len(sent.Failed) != 0 {
		t.Fatalf("SendMessageBatch = %+v, %v", sent, err)
	}
	out, err := e.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
	if err != nil || len(out.Messages) != 2 {
		t.Fatalf("ReceiveMessage = %+v, %v", out, err)
	}
	if got := out.Messages[0].MD5OfMessageAttributes; got == nil || *got != *sent.Successful[0].MD5OfMessageAttributes {
		t.Errorf("MD5OfMessageAttributes on receive = %v, want the send's %s", got, *sent.Successful[0].MD5OfMessageAttributes)
	}
	del, err := e.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q), Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("ok"), ReceiptHandle: out.Messages[0].ReceiptHandle},
		{Id: aws.String("bad"), ReceiptHandle: aws.String("nonsense")},
	}})
	if err != nil || len(del.Successful) != 1 || len(del.Failed) != 1 || *del.Failed[0].Code != "ReceiptHandleIsInvalid" {
		t.Fatalf("DeleteMessageBatch = %+v, %v; want one success, one ReceiptHandleIsInvalid", del, err)
	}
	checkListQueues(t, e)
}

// checkListQueues checks ListQueues, by prefix over one-item pages and in all, and GetQueueUrl
// over the queues a-queue, b-queue and other.
func checkListQueues(t *testing.T, e *sqsEnv) {
	t.Helper()
	ctx := t.Context()
	var urls []string
	p := sqs.NewListQueuesPaginator(e.sqs, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("a"), MaxResults: aws.Int32(1)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		urls = append(urls, page.QueueUrls...)
	}
	if len(urls) != 1 || urls[0] != e.url+"/123456789012/a-queue" || pages != 1 {
		t.Errorf("ListQueues prefix a = %v in %d pages", urls, pages)
	}
	all, err := e.sqs.ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil || len(all.QueueUrls) != 3 {
		t.Errorf("ListQueues = %+v, %v", all, err)
	}
	u, err := e.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("other")})
	if err != nil || *u.QueueUrl != e.url+"/123456789012/other" {
		t.Errorf("GetQueueUrl = %+v, %v", u, err)
	}
}

// TestSQSQueryProtocol posts Query-protocol forms to a queue URL, as older SDKs and CLIs do, and
// checks the XML they get back: the envelope, flattened attributes, and the error envelope with
// the Query error code.
func TestSQSQueryProtocol(t *testing.T) {
	e := newSQSEnv(t, awssim.Options{})
	q := e.createQueue("work", nil)
	form := func(v url.Values) string { return v.Encode() }
	const mime = "application/x-www-form-urlencoded; charset=utf-8"
	body := post(t, q, mime, "", form(url.Values{"Action": {"SendMessage"}, "Version": {"2012-11-05"}, "MessageBody": {"hi"},
		"MessageAttribute.1.Name": {"k"}, "MessageAttribute.1.Value.DataType": {"String"}, "MessageAttribute.1.Value.StringValue": {"v"}}))
	for _, want := range []string{`<SendMessageResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><SendMessageResult>`,
		`<MD5OfMessageBody>49f68a5c8493ec2c0bf489821c21fc3b</MD5OfMessageBody>`, `<ResponseMetadata><RequestId>`} {
		if !strings.Contains(body, want) {
			t.Errorf("SendMessage answered %s, want %s", body, want)
		}
	}
	body = post(t, q, mime, "", form(url.Values{"Action": {"ReceiveMessage"}, "AttributeName.1": {"ApproximateReceiveCount"}, "MessageAttributeName.1": {"All"}}))
	for _, want := range []string{`<ReceiveMessageResult><Message><MessageId>`, `<Body>hi</Body>`,
		`<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>`,
		`<MessageAttribute><Name>k</Name><Value><StringValue>v</StringValue><DataType>String</DataType></Value></MessageAttribute>`} {
		if !strings.Contains(body, want) {
			t.Errorf("ReceiveMessage answered %s, want %s", body, want)
		}
	}
	body = post(t, q, mime, "", form(url.Values{"Action": {"DeleteQueue"}}))
	if strings.Contains(body, "DeleteQueueResult") {
		t.Errorf("DeleteQueue answered %s, want no Result element (the operation has no output)", body)
	}
	body = post(t, q, mime, "", form(url.Values{"Action": {"GetQueueAttributes"}, "AttributeName.1": {"All"}}))
	if !strings.Contains(body, `<ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code>`) {
		t.Errorf("GetQueueAttributes of a deleted queue answered %s", body)
	}
}

// TestSQSRecreateDeletedQueue: a deleted queue's name stays taken for AWS's 60 s
// (QueueDeletedRecently), or for Faults.QueueRecreateDelayMS when a test shortens it; the queue
// created again has the same URL and ARN, and none of the old messages, so a consumer and an
// EventBridge target that name it work again.
func TestSQSRecreateDeletedQueue(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration // 0: the default
		want  time.Duration
	}{{"AWS's 60 s", 0, time.Minute}, {"shortened", 2 * time.Second, 2 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSQSEnv(t, awssim.Options{})
			if err := e.sim.SetFaults(awssim.Faults{QueueRecreateDelayMS: int(tc.delay / time.Millisecond)}); err != nil {
				t.Fatal(err)
			}
			if got := e.sim.Faults().QueueRecreateDelayMS; got != int(tc.want/time.Millisecond) {
				t.Errorf("Faults().QueueRecreateDelayMS = %d, want %d", got, tc.want/time.Millisecond)
			}
			ctx := t.Context()
			q := e.createQueue("events", nil)
			arn := e.attr(q, types.QueueAttributeNameQueueArn)
			e.send(q, "before")
			if _, err := e.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(q)}); err != nil {
				t.Fatal(err)
			}
			_, err := e.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q)})
			wantCode(t, err, "AWS.SimpleQueueService.NonExistentQueue")

			e.advance(tc.want - time.Millisecond)
			_, err = e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("events")})
			wantCode(t, err, "AWS.SimpleQueueService.QueueDeletedRecently")
			e.advance(time.Millisecond)
			if again := e.createQueue("events", nil); again != q {
				t.Errorf("the queue created again has URL %s, want %s", again, q)
			}
			if got := e.attr(q, types.QueueAttributeNameQueueArn); got != arn {
				t.Errorf("the queue created again has ARN %s, want %s", got, arn)
			}
			if got := e.receive(q, 10); len(got) != 0 {
				t.Errorf("the queue created again holds %d messages, want none of the old queue's", len(got))
			}
		})
	}
}

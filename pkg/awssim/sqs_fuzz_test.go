package awssim_test

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// sqsFuzzOps are the operations FuzzSQSRequest picks from, then ones SQS must refuse cleanly.
var sqsFuzzOps = []string{
	"CreateQueue", "GetQueueUrl", "GetQueueAttributes", "SetQueueAttributes", "ListQueues", "DeleteQueue", "PurgeQueue",
	"SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility",
	"NoSuchOperation",
}

// sqsFuzzQueue is the queue every iteration starts with, holding one received message.
const sqsFuzzQueue = "http://sqs.example/123456789012/q"

// FuzzSQSRequest sends arbitrary bodies to every SQS operation in both protocols: JSON 1.0 (the body
// as is) and Query (the body as a form after Action=). The simulator must never panic or answer 5xx,
// and every answer must be well-formed in its protocol. Long polls are let run out on the fake clock.
func FuzzSQSRequest(f *testing.F) {
	for _, s := range []struct {
		op, body string
		query    bool
	}{
		{"CreateQueue", `{"QueueName":"q2","Attributes":{"VisibilityTimeout":"5","RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:123456789012:q\",\"maxReceiveCount\":2}"},"tags":{"a":"b"}}`, false},
		{"CreateQueue", "QueueName=q3&Attribute.1.Name=DelaySeconds&Attribute.1.Value=5&Tag.1.Key=k&Tag.1.Value=v", true},
		{"SendMessage", `{"QueueUrl":"` + sqsFuzzQueue + `","MessageBody":"x","DelaySeconds":1,"MessageAttributes":{"k":{"DataType":"Binary","BinaryValue":"AAE="}}}`, false},
		{"SendMessage", "QueueUrl=" + sqsFuzzQueue + "&MessageBody=x&MessageAttribute.1.Name=k&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=v", true},
		{"SendMessageBatch", `{"QueueUrl":"` + sqsFuzzQueue + `","Entries":[{"Id":"a","MessageBody":"1"},{"Id":"b","MessageBody":"2","DelaySeconds":3}]}`, false},
		{"SendMessageBatch", "QueueUrl=" + sqsFuzzQueue + "&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=1", true},
		{"ReceiveMessage", `{"QueueUrl":"` + sqsFuzzQueue + `","MaxNumberOfMessages":10,"WaitTimeSeconds":2,"VisibilityTimeout":0,"MessageSystemAttributeNames":["All"],"MessageAttributeNames":["k.*"]}`, false},
		{"ReceiveMessage", "QueueUrl=" + sqsFuzzQueue + "&AttributeName.1=All&MaxNumberOfMessages=2", true},
		{"GetQueueAttributes", `{"QueueUrl":"` + sqsFuzzQueue + `","AttributeNames":["All","QueueArn"]}`, false},
		{"SetQueueAttributes", "QueueUrl=" + sqsFuzzQueue + "&Attribute.1.Name=RedrivePolicy&Attribute.1.Value=%7B%7D", true},
		{"ListQueues", `{"QueueNamePrefix":"q","MaxResults":1,"NextToken":"x"}`, false},
		{"DeleteMessageBatch", `{"QueueUrl":"` + sqsFuzzQueue + `","Entries":[{"Id":"a","ReceiptHandle":"$HANDLE"}]}`, false},
		{"ChangeMessageVisibility", "QueueUrl=" + sqsFuzzQueue + "&ReceiptHandle=$HANDLE&VisibilityTimeout=9", true},
		{"DeleteMessage", `{"QueueUrl":"` + sqsFuzzQueue + `","ReceiptHandle":"$HANDLE"}`, false},
		{"PurgeQueue", `{"QueueUrl":"` + sqsFuzzQueue + `"}`, false},
		{"DeleteQueue", "QueueUrl=" + sqsFuzzQueue, true},
		{"NoSuchOperation", `{}`, false},
	} {
		f.Add(uint8(indexOrLast(sqsFuzzOps, s.op)), s.body, s.query)
	}
	f.Fuzz(func(t *testing.T, sel uint8, body string, query bool) {
		e := newSQSFuzzEnv(t)
		op := sqsFuzzOps[int(sel)%len(sqsFuzzOps)]
		body = strings.ReplaceAll(body, "$HANDLE", e.handle)
		e.call(op, body, query)
		// The queue must still answer ordinary requests after whatever the input did.
		e.call("ListQueues", `{}`, false)
		e.call("ListQueues", ``, true)
	})
}

type sqsFuzzEnv struct {
	t      *testing.T
	clock  *clocktesting.FakeClock
	sim    *awssim.Sim
	h      http.Handler
	handle string // the receipt handle of the message received at set-up
}

func newSQSFuzzEnv(t *testing.T) *sqsFuzzEnv {
	clk := clocktesting.NewFakeClock(asgEpoch)
	sim := awssim.New(awssim.Options{Clock: clk})
	e := &sqsFuzzEnv{t: t, clock: clk, sim: sim, h: sim.Handler()}
	e.call("CreateQueue", `{"QueueName":"q"}`, false)
	e.call("SendMessage", `{"QueueUrl":"`+sqsFuzzQueue+`","MessageBody":"hello"}`, false)
	var out struct {
		Messages []struct{ ReceiptHandle string }
	}
	if err := json.Unmarshal(e.call("ReceiveMessage", `{"QueueUrl":"`+sqsFuzzQueue+`"}`, false), &out); err != nil || len(out.Messages) != 1 {
		t.Fatalf("setting up: receiving the message: %v %+v", err, out)
	}
	e.handle = out.Messages[0].ReceiptHandle
	return e
}

// call sends one request and checks the answer's form. A long poll is run out by stepping the fake
// clock until it answers.
func (e *sqsFuzzEnv) call(op, body string, query bool) []byte {
	e.t.Helper()
	var req *http.Request
	if query {
		req = httptest.NewRequestWithContext(e.t.Context(), http.MethodPost, "/", strings.NewReader("Action="+op+"&"+body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequestWithContext(e.t.Context(), http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "AmazonSQS."+op)
	}
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { defer close(done); e.h.ServeHTTP(rec, req) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(time.Millisecond):
			e.clock.Step(time.Second)
			e.sim.Step()
		}
	}
	if rec.Code != http.StatusOK && (rec.Code < 400 || rec.Code > 499) {
		e.t.Fatalf("%s %q (query %v): status %d\n%s", op, body, query, rec.Code, rec.Body.Bytes())
	}
	got := rec.Body.Bytes()
	if query {
		var root struct{ XMLName xml.Name }
		if err := xml.Unmarshal(got, &root); err != nil || (root.XMLName.Local != op+"Response" && root.XMLName.Local != "ErrorResponse") {
			e.t.Fatalf("%s %q: answer is not an SQS Query envelope (%v):\n%s", op, body, err, got)
		}
		return got
	}
	var obj map[string]any
	if err := json.Unmarshal(got, &obj); err != nil {
		e.t.Fatalf("%s %q: answer is not a JSON object: %v\n%s", op, body, err, got)
	}
	if typ, _ := obj["__type"].(string); rec.Code != http.StatusOK && typ == "" {
		e.t.Fatalf("%s %q: error answer without __type:\n%s", op, body, got)
	}
	return got
}

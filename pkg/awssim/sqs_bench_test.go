package awssim_test

import (
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// BenchmarkSQSRoundTrip is one message's life through the SDK: SendMessage, ReceiveMessage,
// DeleteMessage, over loopback HTTP.
func BenchmarkSQSRoundTrip(b *testing.B) {
	e := newSQSEnv(b, awssim.Options{})
	q := e.createQueue("bench", nil)
	ctx := b.Context()
	for b.Loop() {
		e.send(q, `{"detail-type":"EC2 Instance-terminate Lifecycle Action"}`)
		msgs := e.receive(q, 1)
		if len(msgs) != 1 {
			b.Fatalf("received %d messages, want 1", len(msgs))
		}
		if _, err := e.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: msgs[0].ReceiptHandle}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventRouting is one custom event's way through EventBridge: PutEvents over the SDK,
// matching against a rule with a numeric pattern, and delivery into the rule's queue at the next
// step.
func BenchmarkEventRouting(b *testing.B) {
	e := newSQSEnv(b, awssim.Options{})
	q := e.rule("r", `{"source":["test.app"],"detail":{"n":[{"numeric":[">=",0]}]}}`, "q")
	for b.Loop() {
		e.putEvents(1)
		e.advance(eventDelay)
	}
	b.StopTimer()
	if got := e.attr(q, "ApproximateNumberOfMessages"); got != strconv.Itoa(b.N) {
		b.Fatalf("queue holds %s messages, want %d", got, b.N)
	}
}

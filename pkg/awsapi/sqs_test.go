package awsapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecs-drainer/ecs-drainer/internal/awstest"
)

// sqsServer answers every SQS JSON request with the next canned reply (the last one repeats),
// with the headers SQS sends, and records each request's X-Amz-Target.
func sqsServer(t *testing.T, replies ...sqsReply) (string, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var targets []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		rep := replies[min(len(targets), len(replies)-1)]
		targets = append(targets, r.Header.Get("X-Amz-Target"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if rep.queryError != "" {
			w.Header().Set("x-amzn-query-error", rep.queryError)
		}
		w.WriteHeader(rep.status)
		_, _ = w.Write([]byte(rep.body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), targets...)
	}
}

type sqsReply struct {
	status     int
	queryError string
	body       string
}

func sqsClientFor(t *testing.T, url string, opts ClientOptions) SQS {
	t.Helper()
	awstest.IsolateConfig(t)
	opts.EndpointURL, opts.Region, opts.MaxBackoff = url, "us-east-1", time.Millisecond
	opts.Credentials = credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")
	c, err := NewSQSClient(t.Context(), opts)
	if err != nil {
		t.Fatalf("NewSQSClient: %v", err)
	}
	return c
}

// TestSQSClientErrors: SQS's JSON errors decode to the Query-era codes the predicates know, and
// the observer counts each attempt under service "sqs".
func TestSQSClientErrors(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		reply                      sqsReply
		wantCode                   string
		missing, denied, throttled bool
		wantAttempts               int
	}{
		{"missing queue", sqsReply{400, "AWS.SimpleQueueService.NonExistentQueue;Sender", `{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}`},
			CodeSQSNonExistentQueue, true, false, false, 1},
		{"missing queue without the query header", sqsReply{400, "", `{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}`},
			CodeSQSQueueDoesNotExist, true, false, false, 1},
		{"access denied", sqsReply{403, "AccessDenied;Sender", `{"__type":"com.amazonaws.sqs#AccessDenied","message":"Access to the resource is denied."}`},
			CodeSQSAccessDenied, false, true, false, 1},
		{"throttled on every attempt", sqsReply{403, "RequestThrottled;Sender", `{"__type":"com.amazonaws.sqs#RequestThrottled","message":"slow down"}`},
			"RequestThrottled", false, false, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, targets := sqsServer(t, tc.reply)
			rec := &recorder{}
			c := sqsClientFor(t, url, ClientOptions{MaxAttempts: 2, Observer: rec})
			_, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url + "/123456789012/q")})
			if got := ErrorCode(err); got != tc.wantCode {
				t.Errorf("ErrorCode = %q (%v), want %q", got, err, tc.wantCode)
			}
			if IsQueueDoesNotExist(err) != tc.missing || IsSQSAccessDenied(err) != tc.denied || IsThrottle(err) != tc.throttled {
				t.Errorf("missing %v denied %v throttled %v, want %v %v %v", IsQueueDoesNotExist(err), IsSQSAccessDenied(err), IsThrottle(err), tc.missing, tc.denied, tc.throttled)
			}
			if n := len(targets()); n != tc.wantAttempts {
				t.Errorf("%d attempts, want %d", n, tc.wantAttempts)
			}
			for _, o := range rec.observed() {
				if o != ServiceSQS+"/ReceiveMessage/"+tc.wantCode {
					t.Errorf("observed %s, want sqs/ReceiveMessage/%s", o, tc.wantCode)
				}
			}
		})
	}
}

// TestSQSClientOperations: both operations reach the endpoint as SQS's JSON protocol and decode
// their answers, a batch's failed entries included.
func TestSQSClientOperations(t *testing.T) {
	url, targets := sqsServer(t,
		sqsReply{200, "", `{}`},
		sqsReply{200, "", `{"Successful":[{"Id":"0"}],"Failed":[{"Id":"1","Code":"ReceiptHandleIsInvalid","SenderFault":true,"Message":"bad"}]}`},
	)
	rec := &recorder{}
	c := sqsClientFor(t, url, ClientOptions{Observer: rec, QPS: 100, Burst: 10})
	out, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url + "/123456789012/q"), WaitTimeSeconds: MaxSQSWaitTimeSeconds, MaxNumberOfMessages: MaxSQSBatch})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("ReceiveMessage: %v %+v", err, out)
	}
	del, err := c.DeleteMessageBatch(t.Context(), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url + "/123456789012/q"), Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("0"), ReceiptHandle: aws.String("h0")}, {Id: aws.String("1"), ReceiptHandle: aws.String("h1")},
	}})
	if err != nil || len(del.Successful) != 1 || len(del.Failed) != 1 || aws.ToString(del.Failed[0].Code) != CodeSQSReceiptHandleIsInvalid {
		t.Fatalf("DeleteMessageBatch: %v %+v", err, del)
	}
	if diff := cmp.Diff([]string{"AmazonSQS.ReceiveMessage", "AmazonSQS.DeleteMessageBatch"}, targets()); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"sqs/ReceiveMessage/OK", "sqs/DeleteMessageBatch/OK"}, rec.observed()); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
}

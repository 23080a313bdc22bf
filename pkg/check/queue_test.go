package check

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/check/checktest"
	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/pkg/options"
)

// TestEventQueue: with --queue-url the check reads the queue's ARN and names the groups whose
// hook notifies it; a queue that does not exist fails with its fix.
func TestEventQueue(t *testing.T) {
	f := newFleet(t, checktest.Good)
	q, err := demo.CreateEventQueue(t.Context(), f.url, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.fixtureAS.PutLifecycleHook(t.Context(), &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String("good"), LifecycleHookName: aws.String(checktest.HookName),
		LifecycleTransition: aws.String("autoscaling:EC2_INSTANCE_TERMINATING"), HeartbeatTimeout: aws.Int32(300),
		NotificationTargetARN: aws.String(q.ARN), RoleARN: aws.String("arn:aws:iam::123456789012:role/notify"),
	})
	if err != nil {
		t.Fatal(err)
	}
	client, err := awsapi.NewSQSClient(t.Context(), awsapi.ClientOptions{EndpointURL: f.url, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := options.ParseCheck([]string{"--queue-url", q.URL}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	run := func(url string) *Report {
		return Run(t.Context(), Config{Reconciler: opts.ReconcilerConfig(), ASGTag: opts.ASGTag, QueueURL: url},
			Deps{AutoScaling: f.as, ECS: f.ecs, SQS: client})
	}

	rep := run(q.URL)
	if rep.Queue.Status != QueueStatusReachable || rep.Queue.ARN != q.ARN || !slices.Equal(rep.Queue.HookTargets, []string{"good"}) || !rep.OK {
		t.Errorf("queue %+v, OK %v; want reachable, ARN %s, notified by good's hook, OK", rep.Queue, rep.OK, q.ARN)
	}
	if rep.APICalls[actGetQueueAttributes] != 1 {
		t.Errorf("GetQueueAttributes calls %d, want 1", rep.APICalls[actGetQueueAttributes])
	}

	// The demo's queue has no policy: EventBridge cannot send to it, which costs the early end of
	// drains (a note) while a hook notifies it, and every event (a warning) when none does.
	wantProblems(t, rep, []Problem{{Severity: SeverityNote, Code: "queue-policy-no-eventbridge", Subject: "queue", Fix: "aws sqs set-queue-attributes"}})
	if rep.Queue.EventBridgeAllowed {
		t.Error("EventBridgeAllowed on a queue without a policy")
	}
	other, err := sqs.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(f.url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")}).
		CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("closed")})
	if err != nil {
		t.Fatal(err)
	}
	rep = run(aws.ToString(other.QueueUrl))
	wantProblems(t, rep, []Problem{{Severity: SeverityWarning, Code: "queue-closed", Subject: "queue", Fix: "aws sqs set-queue-attributes"}})

	rep = run(q.URL + "-missing")
	wantProblems(t, rep, []Problem{{Severity: SeverityFail, Code: "queue-unreachable", Subject: "queue", Fix: "aws sqs get-queue-url"}})
	if rep.Queue.Status != QueueStatusUnreachable || rep.OK {
		t.Errorf("missing queue: status %q, OK %v; want unreachable, not OK", rep.Queue.Status, rep.OK)
	}
}

// TestQueuePolicy: the policies that let EventBridge send to a queue, and those that do not.
func TestQueuePolicy(t *testing.T) {
	for _, tc := range []struct {
		name, policy string
		want         bool
	}{
		{"none", "", false},
		{"not JSON", "{", false},
		{"the stack's", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:123456789012:q","Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:events:us-east-1:123456789012:rule/r"}}}]}`, true},
		{"one statement, lists", `{"Statement":{"Effect":"Allow","Principal":{"Service":["sns.amazonaws.com","events.amazonaws.com"]},"Action":["sqs:GetQueueUrl","sqs:*"]}}`, true},
		{"denied", `{"Statement":[{"Effect":"Deny","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage"}]}`, false},
		{"another service", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage"}]}`, false},
		{"another action", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:ReceiveMessage"}]}`, false},
		{"an account principal", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sqs:SendMessage"}]}`, false},
	} {
		if got := policyAllowsEventBridge(tc.policy); got != tc.want {
			t.Errorf("%s: policyAllowsEventBridge = %v, want %v", tc.name, got, tc.want)
		}
	}
}

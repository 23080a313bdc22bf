package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/events"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// evLifecyclePattern is config/cloudformation/ecs-drainer.yaml's LifecycleEventsRule pattern for
// the hook "ecs-drainer".
const evLifecyclePattern = `{"source":["aws.autoscaling"],"$or":[` +
	`{"detail-type":["EC2 Instance-terminate Lifecycle Action"],"detail":{"LifecycleHookName":["ecs-drainer"]}},` +
	`{"detail-type":["EC2 Instance Terminate Successful"]}]}`

// TestEventConsumerAgainstAWSSim runs two consumers of pkg/events in this process against the
// awssim binary, on the real clock, with EventBridge duplicating half its deliveries and
// reordering them: one reads a queue fed by the template's lifecycle rule, the other a queue a
// lifecycle hook notifies directly. A scale-in of three instances reaches both sinks as one
// terminating hint per instance; the test then completes the actions as the controller would,
// and the terminations arrive. Every message ends deleted and none is malformed.
func TestEventConsumerAgainstAWSSim(t *testing.T) {
	simBin, _, err := harness.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	sim, err := harness.StartSim(simBin, "--seed", "7", "--event-duplicate", "0.5", "--event-reorder", "200ms")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Kill)
	simURL := "http://" + sim.Addr
	ctx := t.Context()
	cfg := aws.Config{Region: harness.Region, Credentials: credentials.NewStaticCredentialsProvider(harness.FakeAccessKey, harness.FakeSecretKey, ""), BaseEndpoint: aws.String(simURL)}
	asc, ecsc := harness.Clients(simURL)
	sqsc, ebc := sqs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg)

	ruleQueue, ruleARN := evQueue(t, sqsc, "drain-events")
	hookQueue, hookARN := evQueue(t, sqsc, "hook-events")
	_, err = ebc.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("lifecycle"), EventPattern: aws.String(evLifecyclePattern)})
	evMust(t, err)
	_, err = ebc.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("lifecycle"), Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(ruleARN)}}})
	evMust(t, err)

	_, err = ecsc.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("events")})
	evMust(t, err)
	_, err = asc.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("events"), MinSize: aws.Int32(0), MaxSize: aws.Int32(3), DesiredCapacity: aws.Int32(3),
		LaunchTemplate: &asgtypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("lt")},
		Tags:           []asgtypes.Tag{{Key: aws.String("awssim:ecs-cluster"), Value: aws.String("events"), ResourceId: aws.String("events"), ResourceType: aws.String("auto-scaling-group")}},
		LifecycleHookSpecificationList: []asgtypes.LifecycleHookSpecification{{
			LifecycleHookName: aws.String("ecs-drainer"), LifecycleTransition: aws.String("autoscaling:EC2_INSTANCE_TERMINATING"),
			HeartbeatTimeout: aws.Int32(300), NotificationTargetARN: aws.String(hookARN), RoleARN: aws.String("arn:aws:iam::123456789012:role/hooks"),
		}},
	})
	evMust(t, err)

	ruleSink, ruleMetrics := evConsume(t, simURL, ruleQueue)
	hookSink, hookMetrics := evConsume(t, simURL, hookQueue)
	instances := evInService(t, asc, 3)
	_, err = asc.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("events"), DesiredCapacity: aws.Int32(0)})
	evMust(t, err)

	for name, sink := range map[string]*evSink{"rule": ruleSink, "hook": hookSink} {
		evEventually(t, name+" queue: a terminating hint per instance", func() (bool, string) {
			got := sink.instances(events.InstanceTerminating)
			return slices.Equal(got, instances), fmt.Sprintf("hinted %v, want %v", got, instances)
		})
	}
	// What the controller would do, from the hints alone (it re-reads state in reality).
	for _, id := range ruleSink.instances(events.InstanceTerminating) {
		_, err := asc.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String("events"),
			LifecycleHookName: aws.String("ecs-drainer"), LifecycleActionResult: aws.String("CONTINUE"), InstanceId: aws.String(id)})
		evMust(t, err)
	}
	evEventually(t, "a terminated hint per instance", func() (bool, string) {
		got := ruleSink.instances(events.InstanceTerminated)
		return slices.Equal(got, instances), fmt.Sprintf("hinted %v, want %v", got, instances)
	})
	evEventually(t, "every message deleted", func() (bool, string) {
		left := evMessagesLeft(t, simURL)
		return left == 0, fmt.Sprintf("%d messages left", left)
	})
	if got := testutil.ToFloat64(hookMetrics.Received.WithLabelValues(metrics.EventSourceAutoScalingHook, metrics.EventTypeTestNotification, metrics.EventResultIgnored)); got != 1 {
		t.Errorf("test notifications counted %v, want 1", got)
	}
	for name, m := range map[string]*metrics.EventMetrics{"rule": ruleMetrics, "hook": hookMetrics} {
		if got := testutil.ToFloat64(m.Received.WithLabelValues(metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultMalformed)); got != 0 {
			t.Errorf("%s queue: %v malformed messages, want 0", name, got)
		}
	}
}

func evMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func evEventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	if err := harness.Eventually(30*time.Second, 20*time.Millisecond, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func evQueue(t *testing.T, c *sqs.Client, name string) (url, arn string) {
	t.Helper()
	out, err := c.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name)})
	evMust(t, err)
	attrs, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	evMust(t, err)
	return *out.QueueUrl, attrs.Attributes["QueueArn"]
}

// evConsume runs a consumer of queueURL with the production client construction until the test ends.
func evConsume(t *testing.T, simURL, queueURL string) (*evSink, *metrics.EventMetrics) {
	t.Helper()
	for _, kv := range harness.ControllerEnv(simURL) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	client, err := awsapi.NewSQSClient(t.Context(), awsapi.ClientOptions{})
	evMust(t, err)
	m := metrics.NewEventMetrics(prometheus.NewRegistry())
	sink := &evSink{}
	c, err := events.New(events.Config{QueueURL: queueURL}, events.Deps{SQS: client, Sink: sink, Metrics: m})
	evMust(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return sink, m
}

// evInService waits until the group has n instances InService and returns their IDs, sorted.
func evInService(t *testing.T, c *autoscaling.Client, n int) []string {
	t.Helper()
	var ids []string
	evEventually(t, "instances in service", func() (bool, string) {
		out, err := c.DescribeAutoScalingGroups(t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"events"}})
		if err != nil || len(out.AutoScalingGroups) != 1 {
			return false, fmt.Sprint(err)
		}
		ids = nil
		for _, i := range out.AutoScalingGroups[0].Instances {
			if i.LifecycleState == asgtypes.LifecycleStateInService {
				ids = append(ids, *i.InstanceId)
			}
		}
		return len(ids) == n, fmt.Sprintf("%d in service", len(ids))
	})
	slices.Sort(ids)
	return ids
}

// evMessagesLeft counts the messages on every queue of the simulator, visible or in flight.
func evMessagesLeft(t *testing.T, simURL string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, simURL+"/debug/sqs", nil)
	evMust(t, err)
	resp, err := http.DefaultClient.Do(req)
	evMust(t, err)
	defer resp.Body.Close()
	var queues []struct{ Visible, InFlight, Delayed int }
	evMust(t, json.NewDecoder(resp.Body).Decode(&queues))
	n := 0
	for _, q := range queues {
		n += q.Visible + q.InFlight + q.Delayed
	}
	return n
}

// evSink records the hints; it implements events.Sink.
type evSink struct {
	mu    sync.Mutex
	hints []events.InstanceHint
}

func (s *evSink) Instance(_ context.Context, h events.InstanceHint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hints = append(s.hints, h)
	return nil
}
func (s *evSink) ContainerInstance(context.Context, events.ContainerInstanceHint) error { return nil }
func (s *evSink) Task(context.Context, events.TaskHint) error                           { return nil }
func (s *evSink) Spot(context.Context, events.SpotHint) error                           { return nil }
func (s *evSink) Rebalance(context.Context, events.RebalanceHint) error                 { return nil }

// instances returns the instance IDs of the hints of one kind, sorted, each as often as hinted.
func (s *evSink) instances(kind events.InstanceKind) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, h := range s.hints {
		if h.Kind == kind {
			ids = append(ids, h.InstanceID)
		}
	}
	slices.Sort(ids)
	return ids
}

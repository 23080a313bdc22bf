package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
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
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.yaml.in/yaml/v3"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/events"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// TestEventConsumerAgainstAWSSim runs two consumers of pkg/events in this process against the
// awssim binary, on the real clock, with EventBridge duplicating half its deliveries and
// reordering them. One reads a queue fed by the EventBridge rules of
// config/cloudformation/ecs-drainer.yaml (their patterns as the stack creates them with its
// defaults), the other a queue a lifecycle hook notifies directly. A Spot warning, a rebalance
// recommendation and a scale-in of three instances running a task each reach the sinks: one
// terminating hint per instance on both queues; then, as the test drains and completes them as
// the controller would, DRAINING container instances, stopped tasks and terminations. Every
// message ends deleted, and none is malformed or of a type the rules should not have let through.
func TestEventConsumerAgainstAWSSim(t *testing.T) {
	simBin, _, err := harness.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	sim, err := harness.StartSim(simBin, "--seed", "7", "--event-duplicate", "0.5", "--event-reorder", "200ms",
		"--stop-timeout-scale", "0.01", "--spot-notice", "1h", "--default-task-slots", "1")
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
	for name, pattern := range evTemplateRules(t) {
		t.Logf("rule %s: %s", name, pattern)
		_, err = ebc.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(pattern)})
		evMust(t, err)
		_, err = ebc.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(ruleARN)}}})
		evMust(t, err)
	}
	ruleSink, ruleMetrics := evConsume(t, simURL, ruleQueue)
	hookSink, hookMetrics := evConsume(t, simURL, hookQueue)

	instances := evFleet(t, asc, ecsc, hookARN)
	must := func(err error) { t.Helper(); evMust(t, err) }
	must(evDebugPost(t, simURL+"/debug/spot/rebalance", instances[0]))
	must(evDebugPost(t, simURL+"/debug/spot/interrupt", instances[0]))
	_, err = asc.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("events"), DesiredCapacity: aws.Int32(0)})
	must(err)
	for name, sink := range map[string]*evSink{"rule": ruleSink, "hook": hookSink} {
		evEventually(t, name+" queue: a terminating hint per instance", func() (bool, string) {
			got := sink.instanceIDs(events.InstanceTerminating)
			return slices.Equal(got, instances), fmt.Sprintf("hinted %v, want %v", got, instances)
		})
	}

	// What the controller would do (from AWS's state, not from the hints): drain, stop the
	// standalone tasks, complete.
	cis, err := ecsc.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("events")})
	must(err)
	_, err = ecsc.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("events"), ContainerInstances: cis.ContainerInstanceArns, Status: ecstypes.ContainerInstanceStatusDraining})
	must(err)
	tasks, err := ecsc.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("events")})
	must(err)
	for _, task := range tasks.TaskArns {
		_, err := ecsc.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("events"), Task: aws.String(task)})
		must(err)
	}
	evEventually(t, "a stopped hint per task", func() (bool, string) {
		got := ruleSink.stoppedTasks()
		return len(tasks.TaskArns) == 3 && slices.Equal(got, slices.Sorted(slices.Values(tasks.TaskArns))), fmt.Sprintf("hinted %v, want %v", got, tasks.TaskArns)
	})
	for _, id := range instances {
		_, err := asc.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String("events"),
			LifecycleHookName: aws.String("ecs-drainer"), LifecycleActionResult: aws.String("CONTINUE"), InstanceId: aws.String(id)})
		must(err)
	}
	evEventually(t, "a terminated hint per instance", func() (bool, string) {
		got := ruleSink.instanceIDs(events.InstanceTerminated)
		return slices.Equal(got, instances), fmt.Sprintf("hinted %v, want %v", got, instances)
	})
	evEventually(t, "every message deleted", func() (bool, string) {
		left := evMessagesLeft(t, simURL)
		return left == 0, fmt.Sprintf("%d messages left", left)
	})

	if got := ruleSink.draining(); !slices.Equal(got, instances) {
		t.Errorf("DRAINING container instance hints for %v, want one for each of %v", got, instances)
	}
	if got := ruleSink.spot(); !slices.Equal(got, []string{"rebalance " + instances[0], "terminate " + instances[0]}) {
		t.Errorf("Spot hints %v, want a rebalance recommendation and a terminate warning for %s", got, instances[0])
	}
	if got := testutil.ToFloat64(hookMetrics.Received.WithLabelValues(metrics.EventSourceAutoScalingHook, metrics.EventTypeTestNotification, metrics.EventResultIgnored)); got != 1 {
		t.Errorf("test notifications counted %v, want 1", got)
	}
	for name, m := range map[string]*metrics.EventMetrics{"rule": ruleMetrics, "hook": hookMetrics} {
		for _, source := range []string{metrics.EventSourceAutoScaling, metrics.EventSourceAutoScalingHook, metrics.EventSourceECS, metrics.EventSourceEC2, metrics.EventSourceOther} {
			if got := testutil.ToFloat64(m.Received.WithLabelValues(source, metrics.EventTypeOther, metrics.EventResultIgnored)); got != 0 {
				t.Errorf("%s queue: %v %s events of other types, want none (the rules select)", name, got, source)
			}
		}
		if got := testutil.ToFloat64(m.Received.WithLabelValues(metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultMalformed)); got != 0 {
			t.Errorf("%s queue: %v malformed messages, want 0", name, got)
		}
	}
}

// evFleet creates cluster and group "events": three instances, each running one standalone task,
// and the terminating hook "ecs-drainer" notifying hookARN. It returns the instance IDs, sorted.
func evFleet(t *testing.T, asc *autoscaling.Client, ecsc *ecs.Client, hookARN string) []string {
	t.Helper()
	ctx := t.Context()
	_, err := ecsc.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("events")})
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
	instances := evInService(t, asc, 3)
	evEventually(t, "three container instances", func() (bool, string) {
		out, err := ecsc.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("events")})
		return err == nil && len(out.ContainerInstanceArns) == 3, fmt.Sprint(err, out)
	})
	_, err = ecsc.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("job"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("job"), Image: aws.String("busybox"), Memory: aws.Int32(64)}}})
	evMust(t, err)
	_, err = ecsc.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("events"), TaskDefinition: aws.String("job"), Count: aws.Int32(3)})
	evMust(t, err)
	return instances
}

// evDebugPost posts {"instanceId": id} to one of awssim's Spot endpoints.
func evDebugPost(t *testing.T, url, id string) error {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(`{"instanceId":"`+id+`"}`))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return nil
}

// evTemplateRules returns the event pattern of every AWS::Events::Rule of
// config/cloudformation/ecs-drainer.yaml, as JSON by logical ID, resolved with the template's
// parameter defaults and awssim's partition, region and account.
func evTemplateRules(t *testing.T) map[string]string {
	t.Helper()
	root, err := harness.RepoRoot()
	evMust(t, err)
	path := filepath.Join(root, "config", "cloudformation", "ecs-drainer.yaml")
	tmpl, err := iamLoadTemplate(path)
	evMust(t, err)
	var doc struct {
		Parameters map[string]struct {
			Default string `yaml:"Default"`
		} `yaml:"Parameters"`
	}
	b, err := os.ReadFile(path)
	evMust(t, err)
	evMust(t, yaml.Unmarshal(b, &doc))
	r := evResolver{refs: map[string]string{"AWS::Partition": "aws", "AWS::Region": harness.Region, "AWS::AccountId": "123456789012"}}
	for name, p := range doc.Parameters {
		r.refs[name] = p.Default
	}
	r.conds = map[string]bool{"AllClusters": r.refs["ManagedClusterPattern"] == "*"}
	out := map[string]string{}
	for _, id := range tmpl.ofType("AWS::Events::Rule") {
		v, err := r.resolve(iamMapValue(iamMapValue(tmpl.resources[id], "Properties"), "EventPattern"))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		b, err := json.Marshal(v)
		evMust(t, err)
		out[id] = string(b)
	}
	if len(out) != 4 {
		t.Fatalf("found rules %v in the template, want four", slices.Sorted(maps.Keys(out)))
	}
	return out
}

// evResolver evaluates the intrinsic functions the template's event patterns use.
type evResolver struct {
	refs  map[string]string
	conds map[string]bool
}

var evSubVar = regexp.MustCompile(`\$\{([^}]+)\}`)

// sub evaluates a !Sub of the refs.
func (r evResolver) sub(n *yaml.Node) (any, error) {
	var missing []string
	s := evSubVar.ReplaceAllStringFunc(n.Value, func(m string) string {
		v, ok := r.refs[m[2:len(m)-1]]
		if !ok {
			missing = append(missing, m)
		}
		return v
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("line %d: !Sub of unknown %v", n.Line, missing)
	}
	return s, nil
}

func (r evResolver) resolve(n *yaml.Node) (any, error) {
	switch n.Tag {
	case "!Ref":
		v, ok := r.refs[n.Value]
		if !ok {
			return nil, fmt.Errorf("line %d: !Ref %s is unknown", n.Line, n.Value)
		}
		return v, nil
	case "!Sub":
		return r.sub(n)
	case "!If":
		cond, ok := r.conds[n.Content[0].Value]
		if len(n.Content) != 3 || !ok {
			return nil, fmt.Errorf("line %d: !If on unknown condition %s", n.Line, n.Content[0].Value)
		}
		if cond {
			return r.resolve(n.Content[1])
		}
		return r.resolve(n.Content[2])
	}
	switch n.Kind {
	case yaml.SequenceNode:
		list := []any{}
		for _, c := range n.Content {
			v, err := r.resolve(c)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := r.resolve(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	}
	var v any
	err := n.Decode(&v)
	return v, err
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
	hints []any
}

func (s *evSink) add(h any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hints = append(s.hints, h)
	return nil
}

func (s *evSink) Instance(_ context.Context, h events.InstanceHint) error { return s.add(h) }
func (s *evSink) ContainerInstance(_ context.Context, h events.ContainerInstanceHint) error {
	return s.add(h)
}
func (s *evSink) Task(_ context.Context, h events.TaskHint) error           { return s.add(h) }
func (s *evSink) Spot(_ context.Context, h events.SpotHint) error           { return s.add(h) }
func (s *evSink) Rebalance(_ context.Context, h events.RebalanceHint) error { return s.add(h) }

// collect returns, sorted and without repeats, what pick says of each hint it accepts.
func (s *evSink) collect(pick func(any) (string, bool)) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, h := range s.hints {
		if v, ok := pick(h); ok {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// instanceIDs returns the instances hinted with kind.
func (s *evSink) instanceIDs(kind events.InstanceKind) []string {
	return s.collect(func(h any) (string, bool) {
		i, ok := h.(events.InstanceHint)
		return i.InstanceID, ok && i.Kind == kind
	})
}

// draining returns the EC2 instances of the container instances hinted DRAINING.
func (s *evSink) draining() []string {
	return s.collect(func(h any) (string, bool) {
		c, ok := h.(events.ContainerInstanceHint)
		return c.EC2InstanceID, ok && c.Status == "DRAINING"
	})
}

// stoppedTasks returns the tasks hinted STOPPED.
func (s *evSink) stoppedTasks() []string {
	return s.collect(func(h any) (string, bool) {
		k, ok := h.(events.TaskHint)
		return k.TaskARN, ok && k.LastStatus == "STOPPED"
	})
}

// spot returns "<action> <instance>" for Spot warnings and "rebalance <instance>" for
// recommendations.
func (s *evSink) spot() []string {
	return s.collect(func(h any) (string, bool) {
		switch h := h.(type) {
		case events.SpotHint:
			return h.Action + " " + h.InstanceID, true
		case events.RebalanceHint:
			return "rebalance " + h.InstanceID, true
		}
		return "", false
	})
}

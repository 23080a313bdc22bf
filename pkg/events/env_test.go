package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
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
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ecs-drainer/ecs-drainer/internal/awstest"
	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// epoch is when every test's fake clock starts.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Simulator delays these tests step over (awssim.Options defaults).
const (
	launchDelay    = 200 * time.Millisecond
	registerDelay  = 300 * time.Millisecond
	terminateDelay = 200 * time.Millisecond
	eventDelay     = 100 * time.Millisecond
)

// env is awssim on a fake clock behind a real HTTP server on loopback, reached through a proxy
// that can refuse SQS calls as AWS would (awssim cannot yet inject AccessDenied), with plain SDK
// clients for setting up scenarios and the consumer's own client from awsapi.NewSQSClient.
type env struct {
	t        *testing.T
	clock    *clocktesting.FakeClock
	sim      *awssim.Sim
	url      string
	asg      *autoscaling.Client
	ecs      *ecs.Client
	eb       *eventbridge.Client
	sqs      *sqs.Client
	calls    *countingSQS
	sink     *recordingSink
	reg      *prometheus.Registry
	m        *metrics.EventMetrics
	logs     *logLines
	consumer *Consumer
	refuse   atomic.Pointer[string] // when set, SQS JSON calls get this query error code
}

func newEnv(t *testing.T, opts awssim.Options) *env {
	t.Helper()
	e := &env{t: t, clock: clocktesting.NewFakeClock(epoch), sink: &recordingSink{}, logs: &logLines{}, reg: prometheus.NewRegistry()}
	opts.Clock = e.clock
	e.sim = awssim.New(opts)
	simSrv := httptest.NewServer(e.sim.Handler())
	t.Cleanup(simSrv.Close)
	target, _ := url.Parse(simSrv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	// A long poll the consumer abandons at shutdown is no error worth a line.
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := e.refuse.Load(); code != nil && strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.") {
			// The SQS JSON protocol's error as AWS sends it (aws-event-facts.md §7).
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Header().Set("x-amzn-query-error", *code+";Sender")
			w.WriteHeader(http.StatusForbidden)
			_, _ = fmt.Fprintf(w, `{"__type":"com.amazonaws.sqs#%s","message":"refused by the test"}`, *code)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL

	cfg := aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(simSrv.URL), RetryMaxAttempts: 1,
	}
	e.asg, e.ecs, e.eb, e.sqs = autoscaling.NewFromConfig(cfg), ecs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg), sqs.NewFromConfig(cfg)

	awstest.IsolateConfig(t)
	client, err := awsapi.NewSQSClient(t.Context(), awsapi.ClientOptions{
		EndpointURL: e.url, Region: "us-east-1", MaxBackoff: time.Millisecond,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.calls = &countingSQS{SQS: client}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("consumer log:\n%s\nhints: %+v", strings.Join(e.logs.all(), "\n"), e.sink.all())
		}
	})
	e.m = metrics.NewEventMetrics(e.reg)
	return e
}

// advance moves the fake clock and lets the model catch up.
func (e *env) advance(d time.Duration) {
	e.clock.Step(d)
	e.sim.Step()
}

// start runs a consumer of queueURL until the test ends or the returned stop is called.
func (e *env) start(queueURL string) (stop func()) {
	e.t.Helper()
	return e.startCtx(context.Background(), queueURL)
}

// startCtx is start with a context whose end also stops the consumer.
func (e *env) startCtx(parent context.Context, queueURL string) (stop func()) {
	e.t.Helper()
	c, err := New(Config{QueueURL: queueURL}, Deps{SQS: e.calls, Sink: e.sink, Metrics: e.m, Clock: e.clock})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(logr.NewContext(parent, e.logs.logger()))
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	e.consumer = c
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	e.t.Cleanup(stop)
	return stop
}

func (e *env) createQueue(name string) (url, arn string) {
	e.t.Helper()
	out, err := e.sqs.CreateQueue(e.t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		e.t.Fatalf("CreateQueue %s: %v", name, err)
	}
	attrs, err := e.sqs.GetQueueAttributes(e.t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	// The simulator finds a queue by the URL's path alone: the consumer's URL names the proxy.
	return e.url + "/123456789012/" + name, attrs.Attributes["QueueArn"]
}

func (e *env) rule(name, pattern, queueARN string) {
	e.t.Helper()
	ctx := e.t.Context()
	if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(pattern)}); err != nil {
		e.t.Fatalf("PutRule %s: %v", name, err)
	}
	out, err := e.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(queueARN)}}})
	if err != nil || out.FailedEntryCount != 0 {
		e.t.Fatalf("PutTargets %s: %v %+v", name, err, out)
	}
}

func (e *env) send(queueURL, body string) {
	e.t.Helper()
	if _, err := e.sqs.SendMessage(e.t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)}); err != nil {
		e.t.Fatalf("SendMessage: %v", err)
	}
}

// fleet builds cluster "prod" and group "web" of one registered instance held by the terminating
// hook "ecs-drainer", and returns the instance's ID.
func (e *env) fleet() string {
	e.t.Helper()
	ctx := e.t.Context()
	if _, err := e.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}); err != nil {
		e.t.Fatal(err)
	}
	_, err := e.asg.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("web"), MinSize: aws.Int32(0), MaxSize: aws.Int32(3), DesiredCapacity: aws.Int32(1),
		LaunchTemplate: &asgtypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("lt"), Version: aws.String("$Latest")},
		Tags:           []asgtypes.Tag{{Key: aws.String("awssim:ecs-cluster"), Value: aws.String("prod"), ResourceId: aws.String("web"), ResourceType: aws.String("auto-scaling-group")}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.asg.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String("web"), LifecycleHookName: aws.String("ecs-drainer"),
		LifecycleTransition: aws.String("autoscaling:EC2_INSTANCE_TERMINATING"), HeartbeatTimeout: aws.Int32(300),
	}); err != nil {
		e.t.Fatal(err)
	}
	e.advance(launchDelay + registerDelay)
	out, err := e.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"web"}})
	if err != nil || len(out.AutoScalingGroups) != 1 || len(out.AutoScalingGroups[0].Instances) != 1 {
		e.t.Fatalf("DescribeAutoScalingGroups: %v %+v", err, out)
	}
	return *out.AutoScalingGroups[0].Instances[0].InstanceId
}

// waitFor waits (in real time, on the goroutines this test started) until cond holds. It bounds
// the wait so that a broken consumer fails the test instead of hanging it; nothing is timed.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// stepWhenWaiting waits until something waits on the fake clock (the simulator's long poll, or
// the consumer's backoff), then steps it by d.
func (e *env) stepWhenWaiting(d time.Duration) {
	e.t.Helper()
	e.waitFor("a timer on the fake clock", e.clock.HasWaiters)
	e.clock.Step(d)
}

// received reads ecs_drainer_events_received_total for one combination.
func (e *env) received(source, typ, result string) int {
	return int(testutil.ToFloat64(e.m.Received.WithLabelValues(source, typ, result)))
}

// queueErrors reads ecs_drainer_event_queue_errors_total for one combination.
func (e *env) queueErrors(op, code string) int {
	return int(testutil.ToFloat64(e.m.QueueErrors.WithLabelValues(op, code)))
}

// queueState returns the simulator's ground truth for a queue: messages visible and in flight.
func (e *env) queueState(name string) (visible, inFlight int) {
	for _, q := range e.sim.SQSQueues() {
		if q.Name == name {
			return q.Visible, q.InFlight
		}
	}
	e.t.Fatalf("no queue %s", name)
	return 0, 0
}

// countingSQS counts the consumer's calls, as the client sends them.
type countingSQS struct {
	awsapi.SQS
	receives, receivesDone, deletes atomic.Int64
	// inFlight is how many receives are in flight now, maxInFlight the most there were at once.
	inFlight, maxInFlight atomic.Int64
}

func (c *countingSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, o ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	c.receives.Add(1)
	defer c.receivesDone.Add(1)
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for m := c.maxInFlight.Load(); n > m && !c.maxInFlight.CompareAndSwap(m, n); m = c.maxInFlight.Load() {
	}
	return c.SQS.ReceiveMessage(ctx, in, o...)
}

func (c *countingSQS) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, o ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	c.deletes.Add(1)
	return c.SQS.DeleteMessageBatch(ctx, in, o...)
}

// recordingSink keeps every hint; refuse, when set, decides whether to refuse one.
type recordingSink struct {
	mu     sync.Mutex
	hints  []any
	refuse func(any) error
}

func (s *recordingSink) take(h any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse != nil {
		if err := s.refuse(h); err != nil {
			return err
		}
	}
	s.hints = append(s.hints, h)
	return nil
}

func (s *recordingSink) Instance(_ context.Context, h InstanceHint) error { return s.take(h) }
func (s *recordingSink) ContainerInstance(_ context.Context, h ContainerInstanceHint) error {
	return s.take(h)
}
func (s *recordingSink) Task(_ context.Context, h TaskHint) error           { return s.take(h) }
func (s *recordingSink) Spot(_ context.Context, h SpotHint) error           { return s.take(h) }
func (s *recordingSink) Rebalance(_ context.Context, h RebalanceHint) error { return s.take(h) }

func (s *recordingSink) all() []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]any(nil), s.hints...)
}

// find returns the hints that match.
func find[T any](s *recordingSink, match func(T) bool) []T {
	var out []T
	for _, h := range s.all() {
		if v, ok := h.(T); ok && match(v) {
			out = append(out, v)
		}
	}
	return out
}

var errShuttingDown = errors.New("shutting down")

// logLines captures the consumer's log lines.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, args)
	}, funcr.Options{Verbosity: 1})
}

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// count returns how many lines contain s.
func (l *logLines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

package awssim_test

import (
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// asgEpoch is when every Auto Scaling test's fake clock starts.
var asgEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// asgEnv is one simulator on a fake clock behind a real HTTP server, with an Auto Scaling SDK client.
type asgEnv struct {
	t      testing.TB
	clock  *clocktesting.FakeClock
	sim    *awssim.Sim
	url    string
	client *autoscaling.Client
	opts   awssim.Options
}

func newASGEnv(t testing.TB, opts awssim.Options) *asgEnv {
	t.Helper()
	clk := clocktesting.NewFakeClock(asgEpoch)
	opts.Clock = clk
	sim := awssim.New(opts)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	e := &asgEnv{t: t, clock: clk, sim: sim, url: srv.URL, opts: opts}
	e.client = e.newClient(3)
	return e
}

// newClient returns an SDK client using the standard retryer with maxAttempts attempts and no
// retry quota. Its backoff advances the fake clock by a second instead of sleeping, so a throttled
// attempt finds its token bucket refilled on the next one and no test waits.
func (e *asgEnv) newClient(maxAttempts int) *autoscaling.Client {
	return autoscaling.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(e.url),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.RateLimiter = ratelimit.None
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
					e.clock.Step(time.Second)
					return 0, nil
				})
			})
		},
	})
}

// advance moves the fake clock and lets the model catch up.
func (e *asgEnv) advance(d time.Duration) {
	e.clock.Step(d)
	e.sim.Step()
}

// createGroup creates a group of desired instances (MaxSize 100) with the given tags.
func (e *asgEnv) createGroup(name string, desired int32, tags map[string]string) {
	e.t.Helper()
	in := &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		MinSize:              aws.Int32(0),
		MaxSize:              aws.Int32(100),
		DesiredCapacity:      aws.Int32(desired),
		LaunchTemplate:       &types.LaunchTemplateSpecification{LaunchTemplateName: aws.String("lt"), Version: aws.String("$Latest")},
	}
	for k, v := range tags {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v), ResourceId: aws.String(name), ResourceType: aws.String("auto-scaling-group")})
	}
	if _, err := e.client.CreateAutoScalingGroup(e.t.Context(), in); err != nil {
		e.t.Fatalf("CreateAutoScalingGroup %s: %v", name, err)
	}
}

// putHook adds a hook to a group.
func (e *asgEnv) putHook(group, hook, transition string, heartbeat int32, defaultResult string) {
	e.t.Helper()
	in := &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String(group),
		LifecycleHookName:    aws.String(hook),
		LifecycleTransition:  aws.String(transition),
		HeartbeatTimeout:     aws.Int32(heartbeat),
		DefaultResult:        aws.String(defaultResult),
	}
	if _, err := e.client.PutLifecycleHook(e.t.Context(), in); err != nil {
		e.t.Fatalf("PutLifecycleHook %s/%s: %v", group, hook, err)
	}
}

func (e *asgEnv) setDesired(group string, n int32) {
	e.t.Helper()
	if _, err := e.client.SetDesiredCapacity(e.t.Context(), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(n)}); err != nil {
		e.t.Fatalf("SetDesiredCapacity %s=%d: %v", group, n, err)
	}
}

// group describes one group, failing the test when it does not exist.
func (e *asgEnv) group(name string) types.AutoScalingGroup {
	e.t.Helper()
	out, err := e.client.DescribeAutoScalingGroups(e.t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		e.t.Fatalf("DescribeAutoScalingGroups %s: %v", name, err)
	}
	if len(out.AutoScalingGroups) != 1 {
		e.t.Fatalf("DescribeAutoScalingGroups %s returned %d groups", name, len(out.AutoScalingGroups))
	}
	return out.AutoScalingGroups[0]
}

// states returns the lifecycle state of each instance of a group, by instance ID.
func (e *asgEnv) states(group string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, inst := range e.group(group).Instances {
		out[aws.ToString(inst.InstanceId)] = string(inst.LifecycleState)
	}
	return out
}

// instanceIDs returns a group's instance IDs in the order Describe returns them.
func (e *asgEnv) instanceIDs(group string) []string {
	e.t.Helper()
	var ids []string
	for _, inst := range e.group(group).Instances {
		ids = append(ids, aws.ToString(inst.InstanceId))
	}
	return ids
}

// onlyInstance returns the ID of a group's single instance.
func (e *asgEnv) onlyInstance(group string) string {
	e.t.Helper()
	ids := e.instanceIDs(group)
	if len(ids) != 1 {
		e.t.Fatalf("group %s has instances %v, want exactly one", group, ids)
	}
	return ids[0]
}

// apiCode returns the AWS error code of err as the SDK decoded it, "" for nil.
func apiCode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an API error", err)
	}
	return ae.ErrorCode()
}

// httpStatus returns the HTTP status of the response behind err.
func httpStatus(t *testing.T, err error) int {
	t.Helper()
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v carries no HTTP response", err)
	}
	return re.HTTPStatusCode()
}

// metricValue returns the value of the counter or gauge name with exactly labels, 0 when absent.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if len(got) != len(labels) {
				continue
			}
			match := true
			for k, v := range labels {
				if got[k] != v {
					match = false
				}
			}
			if !match {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// sortedCopy returns s sorted, leaving s alone.
func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

package awssim_test

// Regression tests for the simulator review (bugs found by probing the model and the front end).

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// ecsClient returns an ECS SDK client for e's simulator that tries each call maxAttempts times.
func (e *asgEnv) ecsClientAttempts(maxAttempts int) *ecs.Client {
	return ecs.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(e.url),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.RateLimiter = ratelimit.None
			})
		},
	})
}

// ecsFleet is one cluster "c" fed by group "g" of n instances with 4 task slots each, and a task
// definition "app" whose container stops in stopTimeout seconds.
func ecsFleet(t *testing.T, opts awssim.Options, n int32, stopTimeout int32) (*asgEnv, *ecs.Client) {
	t.Helper()
	e := newASGEnv(t, opts)
	ec := e.newECSClient()
	ctx := t.Context()
	if _, err := ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c")}); err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	if _, err := ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("app"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("nginx"), Memory: aws.Int32(128), StopTimeout: aws.Int32(stopTimeout),
		}},
	}); err != nil {
		t.Fatalf("RegisterTaskDefinition: %v", err)
	}
	e.createGroup("g", n, map[string]string{"awssim:ecs-cluster": "c", "awssim:task-slots": "4"})
	e.advance(launchDelay + registerDelay)
	return e, ec
}

// runTask starts one standalone task of "app" and returns its ARN.
func runTask(t *testing.T, ec *ecs.Client) string {
	t.Helper()
	run, err := ec.RunTask(t.Context(), &ecs.RunTaskInput{Cluster: aws.String("c"), TaskDefinition: aws.String("app")})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("RunTask: %v (%d tasks)", err, len(run.Tasks))
	}
	return aws.ToString(run.Tasks[0].TaskArn)
}

func describeTask(t *testing.T, ec *ecs.Client, arn string) ecstypes.Task {
	t.Helper()
	out, err := ec.DescribeTasks(t.Context(), &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: []string{arn}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("DescribeTasks %s: %v (%d tasks)", arn, err, len(out.Tasks))
	}
	return out.Tasks[0]
}

func timelineOf(t *testing.T, sim *awssim.Sim, id string) awssim.Timeline {
	t.Helper()
	for _, tl := range sim.Timelines() {
		if tl.InstanceID == id {
			return tl
		}
	}
	t.Fatalf("no timeline for %s in %+v", id, sim.Timelines())
	return awssim.Timeline{}
}

// TestCoarseStepKeepsCleanStopClean: a task told to stop at t0 exits at t0+30s; its host, scaled in
// at t0 without a hook, terminates at t0+45s. However coarsely the clock is stepped, the task
// stopped cleanly before its host went, and the timeline carries the times things were due.
func TestCoarseStepKeepsCleanStopClean(t *testing.T) {
	for _, tc := range []struct {
		name  string
		step  time.Duration
		steps int
	}{
		{"every-second", time.Second, 60},
		{"one-minute-step", time.Minute, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, ec := ecsFleet(t, awssim.Options{TerminateDelay: 45 * time.Second}, 1, 30)
			id := e.onlyInstance("g")
			arn := runTask(t, ec)
			e.advance(time.Second)
			t0 := e.clock.Now()
			if _, err := ec.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("c"), Task: aws.String(arn)}); err != nil {
				t.Fatalf("StopTask: %v", err)
			}
			e.setDesired("g", 0)
			for range tc.steps {
				e.advance(tc.step)
			}
			st := e.sim.Stats()
			if got := st.TasksStoppedByReason; got[awssim.StopReasonUser] != 1 || got[awssim.StopReasonHostTerminated] != 0 {
				t.Errorf("tasks stopped by reason %v, want user:1 host_terminated:0", got)
			}
			if st.Terminated != 1 || st.TerminatedWithTasks != 0 {
				t.Errorf("terminated %d, with tasks %d; want 1, 0", st.Terminated, st.TerminatedWithTasks)
			}
			tl := timelineOf(t, e.sim, id)
			if !tl.LastTaskStoppedAt.Equal(t0.Add(30*time.Second)) || !tl.TerminatedAt.Equal(t0.Add(45*time.Second)) || tl.Group != "g" || tl.TasksKilled != 0 {
				t.Errorf("timeline %+v, want group g, last task stopped at t0+30s, terminated at t0+45s, none killed (t0 %v)", tl, t0)
			}
			if got := describeTask(t, ec, arn); !aws.ToTime(got.StoppedAt).Equal(t0.Add(30 * time.Second)) {
				t.Errorf("stoppedAt %v, want t0+30s = %v", aws.ToTime(got.StoppedAt), t0.Add(30*time.Second))
			}
		})
	}
}

// TestCoarseStepStampsDueTimes advances the clock in one large step past every timer and checks
// that each transition is stamped with the time it was due, not the time of the step.
func TestCoarseStepStampsDueTimes(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	ec := e.newECSClient()
	ctx := t.Context()
	if _, err := ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c")}); err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	if _, err := ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("app"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("nginx"), Memory: aws.Int32(128), StopTimeout: aws.Int32(30)}},
	}); err != nil {
		t.Fatalf("RegisterTaskDefinition: %v", err)
	}
	created := e.clock.Now()
	e.createGroup("g", 1, map[string]string{"awssim:ecs-cluster": "c"})
	e.putHook("g", "drain", terminating, 30, "CONTINUE")
	e.advance(time.Hour)
	list, err := ec.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("c")})
	if err != nil || len(list.ContainerInstanceArns) != 1 {
		t.Fatalf("ListContainerInstances: %v %v", err, list)
	}
	ci, err := ec.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("c"), ContainerInstances: list.ContainerInstanceArns})
	if err != nil {
		t.Fatalf("DescribeContainerInstances: %v", err)
	}
	if got, want := aws.ToTime(ci.ContainerInstances[0].RegisteredAt), created.Add(launchDelay+registerDelay); !got.Equal(want) {
		t.Errorf("registeredAt %v, want %v", got, want)
	}

	ran := e.clock.Now()
	arn := runTask(t, ec)
	e.advance(time.Hour)
	if got, want := aws.ToTime(describeTask(t, ec, arn).StartedAt), ran.Add(200*time.Millisecond); !got.Equal(want) {
		t.Errorf("startedAt %v, want %v", got, want)
	}

	stopped := e.clock.Now()
	if _, err := ec.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("c"), Task: aws.String(arn)}); err != nil {
		t.Fatalf("StopTask: %v", err)
	}
	e.advance(time.Hour)
	if got, want := aws.ToTime(describeTask(t, ec, arn).StoppedAt), stopped.Add(30*time.Second); !got.Equal(want) {
		t.Errorf("stoppedAt %v, want %v", got, want)
	}

	id := e.onlyInstance("g")
	scaled := e.clock.Now()
	e.setDesired("g", 0)
	e.advance(time.Hour) // the 30s heartbeat timeout expires, then the instance terminates
	tl := timelineOf(t, e.sim, id)
	if want := scaled.Add(30*time.Second + terminateDelay); !tl.TerminatingWaitAt.Equal(scaled) || !tl.TerminatedAt.Equal(want) || tl.TimedOut != 1 {
		t.Errorf("timeline %+v, want wait at %v, one timeout, terminated at %v", tl, scaled, want)
	}
}

// TestNoHookTerminationTimeline: an instance with no hook that dies with a task running gets a
// timeline naming its group, with its killed task's stop at the termination.
func TestNoHookTerminationTimeline(t *testing.T) {
	e, ec := ecsFleet(t, awssim.Options{}, 1, 30)
	id := e.onlyInstance("g")
	runTask(t, ec)
	e.advance(time.Second)
	scaled := e.clock.Now()
	e.setDesired("g", 0)
	e.advance(time.Minute)
	tl := timelineOf(t, e.sim, id)
	want := scaled.Add(terminateDelay)
	if tl.Group != "g" || tl.TasksKilled != 1 || !tl.TerminatedAt.Equal(want) || !tl.LastTaskStoppedAt.Equal(want) {
		t.Errorf("timeline %+v, want group g, one task killed, terminated and last task stopped at %v", tl, want)
	}
}

// TestStopTaskSkipsDeactivating: a plain EC2 task (no load balancer to deregister from) goes
// RUNNING -> STOPPING -> STOPPED.
func TestStopTaskSkipsDeactivating(t *testing.T) {
	e, ec := ecsFleet(t, awssim.Options{}, 1, 10)
	arn := runTask(t, ec)
	e.advance(time.Second)
	stop, err := ec.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("c"), Task: aws.String(arn)})
	if err != nil {
		t.Fatalf("StopTask: %v", err)
	}
	if got := aws.ToString(stop.Task.LastStatus); got != "STOPPING" {
		t.Errorf("StopTask returned lastStatus %s, want STOPPING", got)
	}
	e.advance(time.Second)
	if got := aws.ToString(describeTask(t, ec, arn).LastStatus); got != "STOPPING" {
		t.Errorf("a second later lastStatus %s, want STOPPING", got)
	}
	e.advance(10 * time.Second)
	if got := aws.ToString(describeTask(t, ec, arn).LastStatus); got != "STOPPED" {
		t.Errorf("after the stop timeout lastStatus %s, want STOPPED", got)
	}
}

// TestSetFaultsWhileServing changes the latency while SDK requests are served; run with -race.
func TestSetFaultsWhileServing(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 20 {
			if err := e.sim.SetFaults(awssim.Faults{LatencyMS: i % 2}); err != nil {
				t.Errorf("SetFaults: %v", err)
			}
		}
	})
	wg.Go(func() {
		for range 20 {
			if _, err := e.client.DescribeAutoScalingGroups(t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{}); err != nil {
				t.Errorf("DescribeAutoScalingGroups: %v", err)
			}
		}
	})
	wg.Wait()
}

// TestFaultsLatencyBounded: a latency beyond a minute is refused, in Go and over HTTP.
func TestFaultsLatencyBounded(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	if err := e.sim.SetFaults(awssim.Faults{LatencyMS: 60_001}); err == nil {
		t.Error("SetFaults accepted a latency of 60001ms")
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, e.url+"/debug/faults", strings.NewReader(`{"latencyMs":3600000}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("PUT latencyMs 3600000: status %d, want 400", resp.StatusCode)
	}
	if got := e.sim.Faults().LatencyMS; got != 0 {
		t.Errorf("latency now %dms, want unchanged 0", got)
	}
	if err := e.sim.SetFaults(awssim.Faults{LatencyMS: 60_000}); err != nil {
		t.Errorf("SetFaults(60000ms): %v", err)
	}
}

// TestFailNextIsExact: FailNext fails exactly the next N requests of the named operation with the
// service's 5xx, leaves other operations alone, counts down in Faults, and over HTTP a body without
// failNext keeps the pending failures while one with it replaces them. SpoilNext spoils exactly
// the next N answers. Unknown names are refused.
func TestFailNextIsExact(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	ctx := t.Context()
	once := e.newClient(1)
	c := e.newClient(3)
	if err := e.sim.SetFaults(awssim.Faults{FailNext: map[string]int{"DescribeAutoScalingGroups": 2}}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	if _, err := once.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String("none")}); apiCode(t, err) == "InternalFailure" {
		t.Errorf("DescribeLifecycleHooks failed with the fault meant for DescribeAutoScalingGroups: %v", err)
	}
	for i := range 2 {
		_, err := once.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
		if apiCode(t, err) != "InternalFailure" || httpStatus(t, err) != 500 {
			t.Fatalf("call %d: %v, want InternalFailure (500)", i+1, err)
		}
		if got, want := e.sim.Faults().FailNext["DescribeAutoScalingGroups"], 1-i; got != want {
			t.Errorf("after call %d Faults says %d failures to come, want %d", i+1, got, want)
		}
	}
	if _, err := once.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); err != nil {
		t.Errorf("third call: %v, want success", err)
	}
	if got := e.sim.Stats().Requests["autoscaling/DescribeAutoScalingGroups/InternalFailure"]; got != 2 {
		t.Errorf("awssim counted %d InternalFailure answers, want 2", got)
	}

	checkFailNextOverHTTP(t, e)
	checkSpoilNext(t, e, once, c)
	if code := e.putFaults(`{"failNext":null}`); code != http.StatusOK {
		t.Fatalf("PUT failNext null: status %d", code)
	}
	if got := e.sim.Faults().FailNext; len(got) != 0 {
		t.Errorf("after failNext null the pending failures are %v, want none", got)
	}
}

// checkFailNextOverHTTP checks PUT /debug/faults: a body without failNext keeps the pending
// failures, one with it replaces them, and a refused one changes nothing.
func checkFailNextOverHTTP(t *testing.T, e *asgEnv) {
	t.Helper()
	put := e.putFaults
	if code := put(`{"failNext":{"CompleteLifecycleAction":3},"spoilNext":{"ListTasks":2}}`); code != http.StatusOK {
		t.Fatalf("PUT failNext and spoilNext: status %d", code)
	}
	if code := put(`{"latencyMs":0}`); code != http.StatusOK {
		t.Fatalf("PUT latencyMs: status %d", code)
	}
	if got := e.sim.Faults(); !maps.Equal(got.FailNext, map[string]int{"CompleteLifecycleAction": 3}) || !maps.Equal(got.SpoilNext, map[string]int{"ListTasks": 2}) {
		t.Errorf("after a PUT without them the pending faults are %v and %v, want CompleteLifecycleAction:3 and ListTasks:2 kept", got.FailNext, got.SpoilNext)
	}
	if code := put(`{"failNext":{"ListTasks":1}}`); code != http.StatusOK {
		t.Fatalf("PUT failNext ListTasks: status %d", code)
	}
	if got := e.sim.Faults().FailNext; !maps.Equal(got, map[string]int{"ListTasks": 1}) {
		t.Errorf("after a PUT of failNext ListTasks:1 the pending failures are %v, want exactly that (replaced, not merged)", got)
	}
	for _, bad := range []string{`{"failNext":{"Nope":1}}`, `{"failNext":{"ListTasks":-1}}`, `{"spoilNext":{"Nope":1}}`, `{"failNxt":{"ListTasks":1}}`, `{"failNext":[1]}`} {
		if code := put(bad); code != http.StatusBadRequest {
			t.Errorf("PUT %s: status %d, want 400", bad, code)
		}
	}
	if got := e.sim.Faults().FailNext; !maps.Equal(got, map[string]int{"ListTasks": 1}) {
		t.Errorf("after refused PUTs the pending failures are %v, want ListTasks:1 unchanged", got)
	}
}

// checkSpoilNext checks a spoiled answer is garbage, and the request was applied all the same.
// (aws-sdk-go-v2 does not read the body of an operation whose result is empty, such as
// SetDesiredCapacity, so for those the client cannot tell; awssim only promises the garbage.)
func checkSpoilNext(t *testing.T, e *asgEnv, once, c *autoscaling.Client) {
	t.Helper()
	ctx := t.Context()
	if _, err := c.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("spoiled"), MinSize: aws.Int32(0), MaxSize: aws.Int32(2)}); err != nil {
		t.Fatalf("CreateAutoScalingGroup: %v", err)
	}
	if err := e.sim.SetFaults(awssim.Faults{SpoilNext: map[string]int{"DescribeAutoScalingGroups": 1, "SetDesiredCapacity": 1}}); err != nil {
		t.Fatalf("SetFaults(SpoilNext): %v", err)
	}
	if _, err := once.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); err == nil || httpStatus(t, err) != http.StatusOK {
		t.Errorf("spoiled DescribeAutoScalingGroups: %v, want an unreadable 200 answer", err)
	}
	_, _ = once.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("spoiled"), DesiredCapacity: aws.Int32(1)})
	if got := e.sim.Faults().SpoilNext; len(got) != 0 {
		t.Errorf("spoils still pending after both calls: %v, want none", got)
	}
	out, err := once.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"spoiled"}})
	if err != nil {
		t.Fatalf("the call after the spoiled ones: %v, want success", err)
	}
	if len(out.AutoScalingGroups) != 1 || aws.ToInt32(out.AutoScalingGroups[0].DesiredCapacity) != 1 {
		t.Errorf("after the spoiled SetDesiredCapacity the group is %+v, want desired capacity 1 (applied)", out.AutoScalingGroups)
	}
}

// TestECSThrottleBucketsShared: ECS throttles groups of actions by one bucket; container-instance
// reads share one (default burst 50), so 50 list calls leave no token for a describe.
func TestECSThrottleBucketsShared(t *testing.T) {
	e, _ := ecsFleet(t, awssim.Options{Throttle: true}, 1, 30)
	ec := e.ecsClientAttempts(1)
	ctx := t.Context()
	for i := range 50 {
		if _, err := ec.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("c")}); err != nil {
			t.Fatalf("ListContainerInstances %d within the burst: %v", i+1, err)
		}
	}
	_, err := ec.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("c"), ContainerInstances: []string{"x"}})
	if got := apiCode(t, err); got != "ThrottlingException" {
		t.Errorf("DescribeContainerInstances after 50 container-instance reads: %v, want ThrottlingException", err)
	}
	// Task reads have their own bucket.
	if _, err := ec.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("c")}); err != nil {
		t.Errorf("ListTasks: %v", err)
	}
}

// TestThrottleRatesByGroupAndOperation: an override keyed by group name sets the shared bucket; one
// keyed by operation name gives that operation a bucket of its own.
func TestThrottleRatesByGroupAndOperation(t *testing.T) {
	e, _ := ecsFleet(t, awssim.Options{Throttle: true, ThrottleRates: map[string]awssim.Bucket{
		"ecs:TaskRead":  {Rate: 1, Burst: 2},
		"DescribeTasks": {Rate: 1, Burst: 5},
	}}, 1, 30)
	ec := e.ecsClientAttempts(1)
	ctx := t.Context()
	var codes []string
	for range 3 {
		_, err := ec.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("c")})
		codes = append(codes, apiCode(t, err))
	}
	for range 5 {
		_, err := ec.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: []string{"x"}})
		codes = append(codes, apiCode(t, err))
	}
	if got, want := strings.Join(codes, ","), ",,ThrottlingException,,,,,"; got != want {
		t.Errorf("codes %q, want %q", got, want)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts awssim.Options
		want string // substring of the error; "" for valid
	}{
		{"zero", awssim.Options{}, ""},
		{"op", awssim.Options{ThrottleRates: map[string]awssim.Bucket{"ListTasks": {Rate: 1, Burst: 1}}}, ""},
		{"group", awssim.Options{ThrottleRates: map[string]awssim.Bucket{"ecs:TaskRead": {Rate: 1, Burst: 1}}}, ""},
		{"burst below one", awssim.Options{ThrottleRates: map[string]awssim.Bucket{"ListTasks": {Rate: 1, Burst: 0.5}}}, "burst"},
		{"no rate", awssim.Options{ThrottleRates: map[string]awssim.Bucket{"ListTasks": {Rate: 0, Burst: 2}}}, "rate"},
		{"unknown", awssim.Options{ThrottleRates: map[string]awssim.Bucket{"ListTaskz": {Rate: 1, Burst: 1}}}, "ListTaskz"},
		{"error rate", awssim.Options{ErrorRate: 2}, "ErrorRate"},
		{"latency", awssim.Options{Latency: time.Hour}, "Latency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if tc.want == "" && err != nil {
				t.Errorf("Validate: %v, want nil", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestDescribeGroupsNamesUpToMaxRecords: more than 50 names are accepted when MaxRecords allows.
func TestDescribeGroupsNamesUpToMaxRecords(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	var names []string
	for i := range 60 {
		names = append(names, fmt.Sprintf("g%02d", i))
	}
	for _, n := range names {
		e.createGroup(n, 0, nil)
	}
	for _, tc := range []struct {
		name       string
		maxRecords *int32
		names      int
		wantErr    bool
	}{
		{"50 by default", nil, 50, false},
		{"51 by default", nil, 51, true},
		{"60 with MaxRecords 100", aws.Int32(100), 60, false},
		{"60 with MaxRecords 59", aws.Int32(59), 60, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.client.DescribeAutoScalingGroups(t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: names[:tc.names], MaxRecords: tc.maxRecords})
			if tc.wantErr {
				if apiCode(t, err) != "ValidationError" {
					t.Errorf("got %v, want ValidationError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want %d groups", err, tc.names)
			}
			if len(out.AutoScalingGroups) != tc.names {
				t.Errorf("got %d groups, want %d", len(out.AutoScalingGroups), tc.names)
			}
		})
	}
}

// TestListTasksStartedByAlone: startedBy must be the only filter.
func TestListTasksStartedByAlone(t *testing.T) {
	e, ec := ecsFleet(t, awssim.Options{}, 1, 30)
	_ = e
	ctx := t.Context()
	for _, tc := range []struct {
		name    string
		in      ecs.ListTasksInput
		wantErr bool
	}{
		{"alone", ecs.ListTasksInput{StartedBy: aws.String("me")}, false},
		{"with desired status", ecs.ListTasksInput{StartedBy: aws.String("me"), DesiredStatus: ecstypes.DesiredStatusStopped}, false},
		{"with family", ecs.ListTasksInput{StartedBy: aws.String("me"), Family: aws.String("app")}, true},
		{"with service", ecs.ListTasksInput{StartedBy: aws.String("me"), ServiceName: aws.String("web")}, true},
		{"with container instance", ecs.ListTasksInput{StartedBy: aws.String("me"), ContainerInstance: aws.String("x")}, true},
		{"with launch type", ecs.ListTasksInput{StartedBy: aws.String("me"), LaunchType: ecstypes.LaunchTypeEc2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Cluster = aws.String("c")
			_, err := ec.ListTasks(ctx, &in)
			if got := apiCode(t, err); tc.wantErr != (got == "InvalidParameterException") || (!tc.wantErr && err != nil) {
				t.Errorf("got %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

// TestIncludeTagsOnUntagged: include ["TAGS"] on an untagged resource returns "tags": [].
func TestIncludeTagsOnUntagged(t *testing.T) {
	e, ec := ecsFleet(t, awssim.Options{}, 1, 30)
	arn := runTask(t, ec)
	e.advance(time.Second)
	ctx := t.Context()
	tasks, err := ec.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: []string{arn}, Include: []ecstypes.TaskField{ecstypes.TaskFieldTags}})
	if err != nil || tasks.Tasks[0].Tags == nil {
		t.Errorf("DescribeTasks include TAGS: %v, tags %#v; want an empty list", err, tasks.Tasks[0].Tags)
	}
	list, err := ec.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("c")})
	if err != nil {
		t.Fatal(err)
	}
	cis, err := ec.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("c"), ContainerInstances: list.ContainerInstanceArns, Include: []ecstypes.ContainerInstanceField{ecstypes.ContainerInstanceFieldTags}})
	if err != nil || cis.ContainerInstances[0].Tags == nil {
		t.Errorf("DescribeContainerInstances include TAGS: %v, tags %#v; want an empty list", err, cis.ContainerInstances[0].Tags)
	}
	cl, err := ec.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"c"}, Include: []ecstypes.ClusterField{ecstypes.ClusterFieldTags}})
	if err != nil || cl.Clusters[0].Tags == nil {
		t.Errorf("DescribeClusters include TAGS: %v, tags %#v; want an empty list", err, cl.Clusters[0].Tags)
	}
	// Without include, no tags field.
	plain, err := ec.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: []string{arn}})
	if err != nil || plain.Tasks[0].Tags != nil {
		t.Errorf("DescribeTasks without include: %v, tags %#v; want none", err, plain.Tasks[0].Tags)
	}
}

// TestBadRequestsCounted: requests refused before an operation is known are counted under
// operation "unknown", and a response rewritten to an error is counted under the code sent.
func TestBadRequestsCounted(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	post := func(body string, header map[string]string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	post("Action=%zz", nil)
	post("Version=2011-01-01", nil)
	post("{}", map[string]string{"X-Amz-Target": "Nope.ListClusters", "Content-Type": "application/x-amz-json-1.1"})
	got := e.sim.Stats().Requests
	for _, k := range []string{"autoscaling/unknown/MalformedQueryString", "autoscaling/unknown/MissingAction", "ecs/unknown/UnknownOperationException"} {
		if got[k] != 1 {
			t.Errorf("Requests[%s] = %d, want 1 (all: %v)", k, got[k], got)
		}
	}
	if v := metricValue(t, e.sim.Registry(), "awssim_requests_total", map[string]string{"service": "autoscaling", "operation": "unknown", "code": "MissingAction"}); v != 1 {
		t.Errorf("awssim_requests_total MissingAction = %v, want 1", v)
	}

	// Every response spoiled: the ones rewritten to a 503 are counted under the code they carry.
	if err := e.sim.SetFaults(awssim.Faults{Hostile: 1}); err != nil {
		t.Fatal(err)
	}
	sent503 := 0
	form := url.Values{"Action": {"DescribeAutoScalingGroups"}, "Version": {"2011-01-01"}}.Encode()
	for range 30 {
		if post(form, nil) == http.StatusServiceUnavailable {
			sent503++
		}
	}
	st := e.sim.Stats().Requests
	if sent503 == 0 || st["autoscaling/DescribeAutoScalingGroups/SimulatedWeirdFault"] != sent503 || st["autoscaling/DescribeAutoScalingGroups/OK"] != 30-sent503 {
		t.Errorf("sent %d 503s; counted %v", sent503, st)
	}
}

// TestStateGaugesAlwaysPresent: the state gauges exist from the start and read 0 when a state
// empties, instead of disappearing.
func TestStateGaugesAlwaysPresent(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	has := func(name, label, value string) (float64, bool) {
		return gaugeValue(t, e.sim.Registry(), name, label, value)
	}
	for _, c := range []struct{ name, label, value string }{
		{"awssim_instances", "lifecycle_state", "InService"},
		{"awssim_instances", "lifecycle_state", "Terminating:Wait"},
		{"awssim_container_instances", "status", "ACTIVE"},
		{"awssim_container_instances", "status", "DRAINING"},
		{"awssim_tasks", "last_status", "RUNNING"},
		{"awssim_tasks", "last_status", "STOPPING"},
	} {
		if v, ok := has(c.name, c.label, c.value); !ok || v != 0 {
			t.Errorf("at start %s{%s=%q} = %v (present %v), want present and 0", c.name, c.label, c.value, v, ok)
		}
	}
	e.createGroup("g", 2, nil)
	e.advance(launchDelay)
	if v, _ := has("awssim_instances", "lifecycle_state", "InService"); v != 2 {
		t.Errorf("InService = %v, want 2", v)
	}
	e.setDesired("g", 0)
	e.advance(time.Minute)
	if v, ok := has("awssim_instances", "lifecycle_state", "InService"); !ok || v != 0 {
		t.Errorf("after scale-in InService = %v (present %v), want present and 0", v, ok)
	}
	if problems, err := testutil.CollectAndLint(e.sim.Registry()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

// gaugeValue is the value of gauge name with label=value in reg, and whether it is there.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name, label, value string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// TestDebugStatsFieldNames pins the JSON field names other tests parse from /debug/stats.
func TestDebugStatsFieldNames(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	resp, err := http.Get(e.url + "/debug/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var got map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Requests", "WriteCalls", "TasksStoppedByReason", "LifecycleActionsCompleted", "LifecycleActionsTimedOut", "CompletionsByInstance", "TerminatedWithTasks", "Terminated"} {
		if _, ok := got[k]; !ok {
			t.Errorf("/debug/stats lacks %s: %v", k, got)
		}
	}
}

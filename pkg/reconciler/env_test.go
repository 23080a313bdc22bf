package reconciler

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler/internal/simtest"
)

// epoch is where every behaviour test's fake clock starts.
var epoch = simtest.Epoch

const (
	managedTag = "ecs-drainer/enabled"
	hookName   = "drain"
)

// env is one simulator and the controllers under test, all on one fake clock. Time only moves when
// the test advances it; after each step the test waits (in real time, bounded) until every
// controller is idle, so runs are deterministic up to goroutine scheduling.
type env struct {
	t     *testing.T
	clock *clocktesting.FakeClock
	sim   *awssim.Sim
	url   string
	as    *autoscaling.Client // fixture clients: set the scene, never counted as the controller's
	ecs   *ecs.Client
	ctrls []*testController
}

type testController struct {
	*Controller
	reg    *prometheus.Registry
	m      *metrics.Metrics
	f      *faults // nil: none
	cancel context.CancelFunc
	done   chan struct{}
}

func newEnv(t *testing.T, opts awssim.Options) *env {
	t.Helper()
	sim := simtest.Start(t, opts)
	return &env{t: t, clock: sim.Clock, sim: sim.Sim, url: sim.URL,
		as: autoscaling.NewFromConfig(sim.Config), ecs: ecs.NewFromConfig(sim.Config)}
}

// testConfig is a configuration with short periods suited to stepping a fake clock.
func testConfig() Config {
	return Config{
		ASGTagKey:            managedTag,
		ASGTagValue:          "true",
		HookHeartbeatTimeout: 300 * time.Second,
		ResyncPeriod:         2 * time.Second,
		PollInterval:         time.Second,
		StandaloneTaskPolicy: StandalonePolicyStop,
		StandaloneTaskGrace:  5 * time.Minute,
		DrainTimeout:         time.Hour,
		DrainTimeoutAction:   DrainTimeoutStopTasks,
		RebalanceAction:      RebalanceIgnore,
		Workers:              4,
	}
}

// start builds a controller against the simulator, through NewClients as main does, and runs it
// until the test ends (or stop is called).
func (e *env) start(cfg Config) *testController {
	e.t.Helper()
	return e.startWith(cfg, nil, nil)
}

// startWith is start with the controller's clients wrapped by f (nil: none) and, when httpClient is
// set, their HTTP traffic sent through it.
func (e *env) startWith(cfg Config, f *faults, httpClient aws.HTTPClient) *testController {
	e.t.Helper()
	c, reg, m := e.newController(cfg, f, httpClient)
	return e.run(c, reg, m, f)
}

// run runs a controller built by newController until the test ends (or stop is called).
func (e *env) run(c *Controller, reg *prometheus.Registry, m *metrics.Metrics, f *faults) *testController {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tc := &testController{Controller: c, reg: reg, m: m, f: f, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(tc.done)
		if err := c.Run(ctx); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}()
	e.ctrls = append(e.ctrls, tc)
	e.t.Cleanup(tc.stop)
	e.settle()
	return tc
}

// newController builds a controller (not running) as start does.
func (e *env) newController(cfg Config, f *faults, httpClient aws.HTTPClient) (*Controller, *prometheus.Registry, *metrics.Metrics) {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test", "test")
	as, ecsClient, err := awsapi.NewClients(e.t.Context(), awsapi.ClientOptions{
		EndpointURL: e.url,
		Region:      simtest.Region,
		Credentials: simtest.Credentials(),
		Observer:    m,
		HTTPClient:  httpClient,
	})
	if err != nil {
		e.t.Fatalf("NewClients: %v", err)
	}
	if f != nil {
		f.clock = e.clock
		f.as.AutoScaling, f.ecs.ECS = as, ecsClient
		as, ecsClient = &f.as, &f.ecs
	}
	c, err := New(cfg, Deps{AutoScaling: as, ECS: ecsClient, Metrics: m, Clock: e.clock,
		Log: testr.NewWithOptions(e.t, testr.Options{Verbosity: 1}).WithName(fmt.Sprintf("ctrl%d", len(e.ctrls)))})
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	return c, reg, m
}

// faults wraps a controller's clients to inject what the simulator cannot express: IAM denials,
// answers that leave items out without a failure, persistent errors, calls that hang. Set changes
// them while the controller runs.
type faults struct {
	mu  sync.Mutex
	set faultSet
	as  faultAS
	ecs faultECS
	// clock is the env's fake clock, on which held calls wait.
	clock *clocktesting.FakeClock
	// holding counts calls held now (holdECSReads); changed is closed by Set, which releases them.
	holding int
	changed chan struct{}
	hooks   hookCalls
}

// faultSet says which faults are on.
type faultSet struct {
	denyUpdate     bool            // UpdateContainerInstancesState: AccessDeniedException
	denyListCI     map[string]bool // ListContainerInstances in these clusters: AccessDeniedException
	failDescribeCI bool            // DescribeContainerInstances: ServerException
	omitCIs        bool            // DescribeContainerInstances: every container instance left out, no failure
	omitTasks      bool            // DescribeTasks: every task left out, no failure
	failListGroups bool            // DescribeAutoScalingGroups: ServiceUnavailable
	hangListGroups bool            // DescribeAutoScalingGroups: blocks until its context ends
	listGroupsHung int             // DescribeAutoScalingGroups calls hung (counted, not a fault)
	// holdECSReads > 0: ListContainerInstances, DescribeContainerInstances, ListTasks and
	// DescribeTasks each block for this long on the fake clock (or until their context ends), then
	// fail with ThrottlingException: an account whose ECS read buckets another client drains, seen
	// through the SDK's retries and backoff.
	holdECSReads time.Duration
	// slowListTasks > 0: ListTasks takes this long on the fake clock (or until its context ends),
	// then answers.
	slowListTasks time.Duration
	// hangListTasksOn: ListTasks of this container instance blocks, whatever its context, until the
	// faults change, then fails with ThrottlingException: a listing that holds whatever runs it.
	hangListTasksOn string
	// hangTagResource: TagResource blocks, whatever its context, until the faults change, then
	// fails with ThrottlingException: a tag that holds whatever sends it.
	hangTagResource bool
	// denyTag: TagResource fails with AccessDeniedException (the policy lacks it); counted.
	denyTag   bool
	tagDenied int
	// hooksBarrier > 0: each DescribeLifecycleHooks call waits until this many are in flight at
	// once, then all go on and the barrier is lifted; a call that waits a few seconds of real time
	// in vain lifts it too (the calls did not run concurrently, which the test then reports).
	hooksBarrier int
}

// hookCalls is what the DescribeLifecycleHooks wrapper saw.
type hookCalls struct {
	inFlight, maxInFlight int
	released              chan struct{} // closed when the barrier is lifted
}

func newFaults() *faults {
	f := &faults{changed: make(chan struct{}), hooks: hookCalls{released: make(chan struct{})}}
	f.as.f, f.ecs.f = f, f
	return f
}

// Set changes the faults.
func (f *faults) Set(change func(*faultSet)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.set)
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *faults) get() faultSet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.set
}

// startHold counts a call as held until the returned function is called, and returns the channel
// the next change of the faults closes.
func (f *faults) startHold() (changed <-chan struct{}, done func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holding++
	return f.changed, func() {
		f.mu.Lock()
		f.holding--
		f.mu.Unlock()
	}
}

// hold carries out holdECSReads; nil means no hold is set.
func (f *faults) hold(ctx context.Context) error {
	d := f.get().holdECSReads
	if d <= 0 {
		return nil
	}
	changed, done := f.startHold()
	defer done()
	select {
	case <-f.clock.After(d):
		return apiError("ThrottlingException")
	case <-changed:
		return apiError("ThrottlingException")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// slow waits d on the fake clock (counted as held), or until ctx ends.
func (f *faults) slow(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	_, done := f.startHold()
	defer done()
	select {
	case <-f.clock.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hang carries out hangListTasksOn for a listing of the container instance ci.
func (f *faults) hang(ci string) error {
	if ci == "" || f.get().hangListTasksOn != ci {
		return nil
	}
	return f.hangUntilChange()
}

// hangUntilChange blocks (counted as held) until the faults change, then fails with
// ThrottlingException.
func (f *faults) hangUntilChange() error {
	changed, done := f.startHold()
	defer done()
	<-changed
	return apiError("ThrottlingException")
}

// held reports whether some call is held now.
func (f *faults) held() bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.holding > 0
}

func apiError(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "injected by the test"}
}

type faultAS struct {
	awsapi.AutoScaling
	f *faults
}

func (w *faultAS) DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, o ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	fs := w.f.get()
	if fs.failListGroups {
		return nil, apiError("ServiceUnavailable")
	}
	if fs.hangListGroups {
		w.f.Set(func(fs *faultSet) { fs.listGroupsHung++ })
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return w.AutoScaling.DescribeAutoScalingGroups(ctx, in, o...)
}

func (w *faultAS) DescribeLifecycleHooks(ctx context.Context, in *autoscaling.DescribeLifecycleHooksInput, o ...func(*autoscaling.Options)) (*autoscaling.DescribeLifecycleHooksOutput, error) {
	f := w.f
	barrier := f.get().hooksBarrier
	f.mu.Lock()
	h := &f.hooks
	h.inFlight++
	h.maxInFlight = max(h.maxInFlight, h.inFlight)
	released := h.released
	if barrier > 0 && h.inFlight >= barrier {
		select {
		case <-released:
		default:
			close(released)
		}
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		h.inFlight--
		f.mu.Unlock()
	}()
	if barrier > 0 {
		select {
		case <-released:
		case <-time.After(3 * time.Second): // real time: only ends a wait that cannot succeed
			f.mu.Lock()
			select {
			case <-released:
			default:
				close(released)
			}
			f.mu.Unlock()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return w.AutoScaling.DescribeLifecycleHooks(ctx, in, o...)
}

// maxHookCalls is the most DescribeLifecycleHooks calls that were in flight at once.
func (f *faults) maxHookCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hooks.maxInFlight
}

type faultECS struct {
	awsapi.ECS
	f *faults
}

func (w *faultECS) UpdateContainerInstancesState(ctx context.Context, in *ecs.UpdateContainerInstancesStateInput, o ...func(*ecs.Options)) (*ecs.UpdateContainerInstancesStateOutput, error) {
	if w.f.get().denyUpdate {
		return nil, apiError(awsapi.CodeAccessDenied)
	}
	return w.ECS.UpdateContainerInstancesState(ctx, in, o...)
}

func (w *faultECS) ListContainerInstances(ctx context.Context, in *ecs.ListContainerInstancesInput, o ...func(*ecs.Options)) (*ecs.ListContainerInstancesOutput, error) {
	if cl := aws.ToString(in.Cluster); w.f.get().denyListCI[cl[strings.LastIndex(cl, "/")+1:]] {
		return nil, apiError(awsapi.CodeAccessDenied)
	}
	if err := w.f.hold(ctx); err != nil {
		return nil, err
	}
	return w.ECS.ListContainerInstances(ctx, in, o...)
}

func (w *faultECS) DescribeContainerInstances(ctx context.Context, in *ecs.DescribeContainerInstancesInput, o ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error) {
	fs := w.f.get()
	if fs.failDescribeCI {
		return nil, apiError("ServerException")
	}
	if err := w.f.hold(ctx); err != nil {
		return nil, err
	}
	out, err := w.ECS.DescribeContainerInstances(ctx, in, o...)
	if err == nil && fs.omitCIs {
		out.ContainerInstances = nil
	}
	return out, err
}

func (w *faultECS) ListTasks(ctx context.Context, in *ecs.ListTasksInput, o ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	if err := w.f.hold(ctx); err != nil {
		return nil, err
	}
	if err := w.f.hang(aws.ToString(in.ContainerInstance)); err != nil {
		return nil, err
	}
	if err := w.f.slow(ctx, w.f.get().slowListTasks); err != nil {
		return nil, err
	}
	return w.ECS.ListTasks(ctx, in, o...)
}

func (w *faultECS) TagResource(ctx context.Context, in *ecs.TagResourceInput, o ...func(*ecs.Options)) (*ecs.TagResourceOutput, error) {
	if w.f.get().hangTagResource {
		return nil, w.f.hangUntilChange()
	}
	if w.f.get().denyTag {
		w.f.Set(func(fs *faultSet) { fs.tagDenied++ })
		return nil, apiError(awsapi.CodeAccessDenied)
	}
	return w.ECS.TagResource(ctx, in, o...)
}

func (w *faultECS) DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, o ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	if err := w.f.hold(ctx); err != nil {
		return nil, err
	}
	out, err := w.ECS.DescribeTasks(ctx, in, o...)
	if err == nil && w.f.get().omitTasks {
		out.Tasks = nil
	}
	return out, err
}

// stop stops the controller and waits for Run to return.
func (tc *testController) stop() {
	tc.cancel()
	<-tc.done
}

// settle waits until every running controller has been idle for a few consecutive looks, so that
// work made due by the last clock step (delayed queue items move on their own goroutine) is done.
// While a fault holds calls until the clock moves, a controller never goes idle; it counts as
// settled once its main queue cannot move on (nothing queued, or every worker busy) and the
// heartbeat queue is idle.
func (e *env) settle() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	stable := 0
	for stable < 4 {
		if time.Now().After(deadline) {
			e.t.Fatalf("controllers did not settle within 10s")
		}
		time.Sleep(500 * time.Microsecond)
		idle := true
		for _, c := range e.ctrls {
			select {
			case <-c.done:
				continue
			default:
			}
			if !c.idle() && !c.stalled() {
				idle = false
			}
		}
		if idle {
			stable++
		} else {
			stable = 0
		}
	}
}

// stalled reports whether a controller waits for held calls with nothing else it could do before
// the clock moves.
func (tc *testController) stalled() bool {
	if !tc.f.held() {
		return false
	}
	c := tc.Controller
	for _, q := range c.itemQueues() {
		if q.Len() > 0 && int(q.active.Load()) < q.workers {
			return false
		}
	}
	return c.heartbeatIdle()
}

// advance moves the clock by d in steps of step, letting the simulator and the controllers act
// after each.
func (e *env) advance(d, step time.Duration) {
	e.t.Helper()
	for d > 0 {
		s := min(step, d)
		e.clock.Step(s)
		e.sim.Step()
		e.settle()
		d -= s
	}
}

// until advances the clock in steps of step until cond holds, failing after max.
func (e *env) until(what string, max, step time.Duration, cond func() bool) {
	e.t.Helper()
	for waited := time.Duration(0); !cond(); waited += step {
		if waited >= max {
			e.t.Fatalf("%s: not within %s of simulated time", what, max)
		}
		e.advance(step, step)
	}
}

// webFleet is the scene most tests start from: cluster c1 and the managed group "web" of instances,
// slots task slots each, with the terminating hook hookName, and a replica service of tasks placed
// and running.
type webFleet struct {
	instances int32
	slots     int
	// heartbeat is the hook's heartbeat timeout in seconds; defaultResult its DefaultResult.
	heartbeat     int32
	defaultResult string
	// service is the service's name ("app" if empty), family its task definition's (the service's
	// name if empty), stopTimeout its containers' (0: ECS's default).
	service     string
	family      string
	stopTimeout int32
	// tasks is the desired count; minPct and maxPct the deployment configuration.
	tasks          int32
	minPct, maxPct int32
}

// build sets the scene f describes and waits until every task of the service runs.
func (e *env) build(f webFleet) {
	e.t.Helper()
	if f.service == "" {
		f.service = "app"
	}
	if f.family == "" {
		f.family = f.service
	}
	e.createCluster("c1")
	e.group("web", f.instances, "c1", f.slots, true)
	e.hook("web", hookName, f.heartbeat, f.defaultResult)
	e.advance(2*time.Second, 500*time.Millisecond)
	e.service("c1", f.service, e.taskDef(f.family, f.stopTimeout), f.tasks, f.minPct, f.maxPct, "")
	e.until("service running", time.Minute, 500*time.Millisecond, func() bool { return e.runningTasks("c1") == int(f.tasks) })
}

// allTagged reports whether the container instance of every instance of ids carries the drain
// start tag.
func (e *env) allTagged(cluster string, ids []string) bool {
	return !slices.ContainsFunc(ids, func(id string) bool { return e.drainTag(cluster, id) == "" })
}

// allGone reports whether every instance of ids left the group.
func (e *env) allGone(group string, ids []string) bool {
	return !slices.ContainsFunc(ids, func(id string) bool { return !e.gone(group, id) })
}

// checkNoHarm checks the invariants of every scale-in: no lifecycle action expired, no task killed
// by a termination, no instance terminated with a task, and each of ids completed exactly once.
func (e *env) checkNoHarm(ids []string) {
	e.t.Helper()
	st := e.sim.Stats()
	if st.LifecycleActionsTimedOut != 0 || st.TasksStoppedByReason[awssim.StopReasonHostTerminated] != 0 || st.TerminatedWithTasks != 0 {
		e.t.Errorf("timed out %d, tasks killed %d, terminated with tasks %d; want 0, 0, 0",
			st.LifecycleActionsTimedOut, st.TasksStoppedByReason[awssim.StopReasonHostTerminated], st.TerminatedWithTasks)
	}
	for _, id := range ids {
		if st.CompletionsByInstance[id] != 1 {
			e.t.Errorf("completions of %s = %d, want 1", id, st.CompletionsByInstance[id])
		}
	}
}

func (e *env) createCluster(name string) {
	e.t.Helper()
	if _, err := e.ecs.CreateCluster(e.t.Context(), &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
		e.t.Fatalf("CreateCluster %s: %v", name, err)
	}
}

// taskDef registers a one-container task definition; stopTimeout 0 leaves ECS's default (30 s).
func (e *env) taskDef(family string, stopTimeout int32) string {
	e.t.Helper()
	cd := ecstypes.ContainerDefinition{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(128)}
	if stopTimeout > 0 {
		cd.StopTimeout = aws.Int32(stopTimeout)
	}
	out, err := e.ecs.RegisterTaskDefinition(e.t.Context(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family), ContainerDefinitions: []ecstypes.ContainerDefinition{cd},
	})
	if err != nil {
		e.t.Fatalf("RegisterTaskDefinition %s: %v", family, err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

// service creates a service; strategy "" is REPLICA.
func (e *env) service(cluster, name, td string, desired, minPct, maxPct int32, strategy ecstypes.SchedulingStrategy) {
	e.t.Helper()
	in := &ecs.CreateServiceInput{
		Cluster: aws.String(cluster), ServiceName: aws.String(name), TaskDefinition: aws.String(td),
		DeploymentConfiguration: &ecstypes.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(minPct), MaximumPercent: aws.Int32(maxPct)},
		SchedulingStrategy:      strategy,
	}
	if strategy != ecstypes.SchedulingStrategyDaemon {
		in.DesiredCount = aws.Int32(desired)
	}
	if _, err := e.ecs.CreateService(e.t.Context(), in); err != nil {
		e.t.Fatalf("CreateService %s: %v", name, err)
	}
}

// runTask starts a standalone task and returns its ARN and the container instance it was placed on.
func (e *env) runTask(cluster, td string) (taskArn, ciArn string) {
	e.t.Helper()
	out, err := e.ecs.RunTask(e.t.Context(), &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: aws.String(td)})
	if err != nil {
		e.t.Fatalf("RunTask: %v", err)
	}
	if len(out.Tasks) != 1 {
		e.t.Fatalf("RunTask started %d tasks, failures %v", len(out.Tasks), out.Failures)
	}
	return aws.ToString(out.Tasks[0].TaskArn), aws.ToString(out.Tasks[0].ContainerInstanceArn)
}

// group creates an Auto Scaling group of desired instances. cluster "" makes it a non-ECS group;
// managed tags it for the controller.
func (e *env) group(name string, desired int32, cluster string, slots int, managed bool) {
	e.t.Helper()
	tags := map[string]string{}
	if cluster != "" {
		tags["awssim:ecs-cluster"] = cluster
	}
	if slots > 0 {
		tags["awssim:task-slots"] = fmt.Sprint(slots)
	}
	if managed {
		tags[managedTag] = "true"
	}
	in := &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		MinSize:              aws.Int32(0),
		MaxSize:              aws.Int32(100),
		DesiredCapacity:      aws.Int32(desired),
		LaunchTemplate:       &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("lt"), Version: aws.String("$Latest")},
	}
	for k, v := range tags {
		in.Tags = append(in.Tags, astypes.Tag{Key: aws.String(k), Value: aws.String(v), ResourceId: aws.String(name), ResourceType: aws.String("auto-scaling-group")})
	}
	if _, err := e.as.CreateAutoScalingGroup(e.t.Context(), in); err != nil {
		e.t.Fatalf("CreateAutoScalingGroup %s: %v", name, err)
	}
}

// hook puts a terminating hook on a group.
func (e *env) hook(group, name string, heartbeat int32, defaultResult string) {
	e.t.Helper()
	if _, err := e.as.PutLifecycleHook(e.t.Context(), &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String(group),
		LifecycleHookName:    aws.String(name),
		LifecycleTransition:  aws.String(awsapi.TransitionTerminating),
		HeartbeatTimeout:     aws.Int32(heartbeat),
		DefaultResult:        aws.String(defaultResult),
	}); err != nil {
		e.t.Fatalf("PutLifecycleHook %s/%s: %v", group, name, err)
	}
}

func (e *env) setDesired(group string, n int32) {
	e.t.Helper()
	if _, err := e.as.SetDesiredCapacity(e.t.Context(), &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(n),
	}); err != nil {
		e.t.Fatalf("SetDesiredCapacity %s=%d: %v", group, n, err)
	}
}

// instances returns a group's instances by lifecycle state.
func (e *env) instances(group string) map[string]string {
	e.t.Helper()
	out, err := e.as.DescribeAutoScalingGroups(e.t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil {
		e.t.Fatalf("DescribeAutoScalingGroups %s: %v", group, err)
	}
	states := map[string]string{}
	for _, g := range out.AutoScalingGroups {
		for _, in := range g.Instances {
			states[aws.ToString(in.InstanceId)] = string(in.LifecycleState)
		}
	}
	return states
}

// inState returns the IDs of a group's instances in a lifecycle state.
func (e *env) inState(group, state string) []string {
	var ids []string
	for id, s := range e.instances(group) {
		if s == state {
			ids = append(ids, id)
		}
	}
	return ids
}

// containerInstance describes the container instance of an EC2 instance in a cluster.
func (e *env) containerInstance(cluster, ec2ID string) (ecstypes.ContainerInstance, bool) {
	e.t.Helper()
	list, err := e.ecs.ListContainerInstances(e.t.Context(), &ecs.ListContainerInstancesInput{
		Cluster: aws.String(cluster), Filter: aws.String("ec2InstanceId == " + ec2ID),
	})
	if err != nil {
		e.t.Fatalf("ListContainerInstances: %v", err)
	}
	if len(list.ContainerInstanceArns) == 0 {
		return ecstypes.ContainerInstance{}, false
	}
	out, err := e.ecs.DescribeContainerInstances(e.t.Context(), &ecs.DescribeContainerInstancesInput{
		Cluster: aws.String(cluster), ContainerInstances: list.ContainerInstanceArns,
		Include: []ecstypes.ContainerInstanceField{ecstypes.ContainerInstanceFieldTags},
	})
	if err != nil || len(out.ContainerInstances) != 1 {
		e.t.Fatalf("DescribeContainerInstances: %v (%d)", err, len(out.ContainerInstances))
	}
	return out.ContainerInstances[0], true
}

// runningTasks counts the tasks of a cluster whose lastStatus is RUNNING.
func (e *env) runningTasks(cluster string) int {
	e.t.Helper()
	var arns []string
	p := ecs.NewListTasksPaginator(e.ecs, &ecs.ListTasksInput{Cluster: aws.String(cluster)})
	for p.HasMorePages() {
		page, err := p.NextPage(e.t.Context())
		if err != nil {
			e.t.Fatalf("ListTasks: %v", err)
		}
		arns = append(arns, page.TaskArns...)
	}
	n := 0
	for len(arns) > 0 {
		chunk := arns[:min(100, len(arns))]
		arns = arns[len(chunk):]
		out, err := e.ecs.DescribeTasks(e.t.Context(), &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: chunk})
		if err != nil {
			e.t.Fatalf("DescribeTasks: %v", err)
		}
		for _, t := range out.Tasks {
			if aws.ToString(t.LastStatus) == "RUNNING" {
				n++
			}
		}
	}
	return n
}

// value reads one counter or gauge of a controller's metrics.
func value(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

// calls sums the controller's AWS request counter over the series matching service and, unless
// "", operation.
func (tc *testController) calls(t *testing.T, service, operation string) int {
	t.Helper()
	mfs, err := tc.reg.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != "ecs_drainer_aws_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["service"] == service && (operation == "" || labels["operation"] == operation) {
				n += int(m.GetCounter().GetValue())
			}
		}
	}
	return n
}

// writeOps are the operations that change AWS state among those the controller calls.
var writeOps = []string{"CompleteLifecycleAction", "RecordLifecycleActionHeartbeat", "PutLifecycleHook", "UpdateContainerInstancesState", "TagResource", "StopTask"}

// writes sums the controller's write calls.
func (tc *testController) writes(t *testing.T) int {
	t.Helper()
	n := 0
	for _, op := range writeOps {
		n += tc.calls(t, "autoscaling", op) + tc.calls(t, "ecs", op)
	}
	return n
}
